"""Payback day: the ad's day (1 = its first day of spend) on which its users have returned its cost.

The return curve ``R(n)`` is the realised credit up to the report day, then each cell's LTV curve
(straight lines through the horizon points, flat after the last); see docs/roas_report.md ("Payback").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def value_at(ages: np.ndarray, knot_days: np.ndarray, knot_values: np.ndarray) -> np.ndarray:
    """Per-user cumulative value after ``ages`` days of life; piecewise linear through (0, 0) and the knots.

    ``ages``: shape (C,) or (C, T); ``knot_days``: (K,) increasing; ``knot_values``: (C, K), one row
    per cell (made non-decreasing and non-negative here). Flat after the last knot.
    """
    return _value(ages, _curve(knot_days, knot_values))


def _curve(knot_days: np.ndarray, knot_values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces of ``value_at``'s lines (start, width, slope per cell), computed once for many ages."""
    kd = np.asarray(knot_days, dtype=float)
    kv = np.maximum.accumulate(np.maximum(np.asarray(knot_values, dtype=float), 0.0), axis=1)
    if kd.ndim != 1 or kv.ndim != 2 or kv.shape[1] != kd.size:
        raise ValueError(f"value_at: knot_days {kd.shape} and knot_values {kv.shape} do not match")
    if np.any(np.diff(kd) <= 0) or kd[0] <= 0:
        raise ValueError(f"value_at: knot_days must be positive and increasing, got {kd.tolist()}")
    x0 = np.concatenate([[0.0], kd[:-1]])
    width = kd - x0
    v0 = np.concatenate([np.zeros((kv.shape[0], 1)), kv[:, :-1]], axis=1)
    return x0, width, (kv - v0) / width  # slopes (C, K)


def _value(ages: np.ndarray, curve: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    x0, width, slopes = curve
    a = np.asarray(ages, dtype=float)
    squeeze = a.ndim == 1
    if squeeze:
        a = a[:, None]
    out = np.zeros_like(a)
    for k in range(x0.size):
        out += slopes[:, k:k + 1] * np.clip(a - x0[k], 0.0, width[k])
    return out[:, 0] if squeeze else out


@dataclass(frozen=True)
class Payback:
    day: int | None  # the ad's day number (1 = first day of spend)
    basis: str  # "realised", "estimated", "none"
    note: str


def payback_day(cost: float, realised_daily: np.ndarray, cell_offsets: np.ndarray, cell_users: np.ndarray,
                knot_days: np.ndarray, knot_values: np.ndarray, search_days: int = 365) -> Payback:
    """First ad day ``n`` with ``R(n) >= cost`` (``R``: docs/roas_report.md, "Payback").

    ``realised_daily[i]``: return realised on the ad's day ``i + 1`` (the last entry is the report
    day, ``N = len(realised_daily)``); ``cell_offsets``: install day of each cell as ad day minus 1
    (may be negative for users installed before the first spend); ``cell_users``: users per cell;
    ``knot_values``: (C, K) per-user LTV at ``knot_days``; cells without an estimate are left out.
    """
    realised = np.asarray(realised_daily, dtype=float)
    if not np.isfinite(cost) or cost <= 0:
        return Payback(None, "none", "no cost")
    n_days = realised.size
    cum = np.cumsum(realised)
    if n_days and cum[-1] >= cost:
        day = int(np.argmax(cum >= cost)) + 1
        return Payback(day, "realised", f"paid back on day {day}")
    base = float(cum[-1]) if n_days else 0.0
    offsets = np.asarray(cell_offsets, dtype=float)
    users = np.asarray(cell_users, dtype=float)
    if offsets.size == 0:
        return Payback(None, "none", "no LTV estimate for the ad's users")
    now = value_at(n_days - offsets, knot_days, knot_values) * users

    def ret(n: int) -> float:
        return base + float((value_at(n - offsets, knot_days, knot_values) * users - now).sum())

    hi = n_days + int(search_days)
    at_end = ret(hi)
    if at_end < cost:
        return Payback(None, "none", f"not within {search_days} days: the estimated return reaches "
                                     f"{at_end:,.2f} of the {cost:,.2f} cost")
    lo = n_days  # ret(lo) = base < cost; ret(hi) >= cost; R is non-decreasing
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ret(mid) >= cost:
            hi = mid
        else:
            lo = mid
    return Payback(hi, "estimated", f"estimated to pay back on day {hi}")


def payback_days(cost: np.ndarray, cum_realised: np.ndarray, n_days: np.ndarray, cell_group: np.ndarray,
                 cell_offsets: np.ndarray, cell_users: np.ndarray, knot_days: np.ndarray, knot_values: np.ndarray,
                 search_days: int = 365) -> list[Payback]:
    """``payback_day`` for many groups at once (one report level), the binary searches run in lockstep
    so the cost is a few array passes over all cells instead of a Python loop per group.

    ``cum_realised``: (G, W) cumulative realised return by day; group ``g``'s ad day ``k`` is column
    ``W - n_days[g] + k - 1`` (everything before its first day counts on day 1, as in ``payback_day``).
    Cells (estimated ones only) belong to ``cell_group``; offsets, users and knot values as in
    ``payback_day``.
    """
    cost = np.asarray(cost, dtype=float)
    n_days = np.asarray(n_days, dtype=np.int64)
    cum = np.asarray(cum_realised, dtype=float)
    groups, width = cum.shape
    out: list[Payback | None] = [None] * groups
    no_cost = ~np.isfinite(cost) | (cost <= 0)
    first_col = width - n_days
    base = np.where(n_days > 0, cum[:, -1], 0.0) if width else np.zeros(groups)
    cols = np.arange(width)
    reached = (cum >= cost[:, None]) & (cols[None, :] >= first_col[:, None])
    paid = ~no_cost & (n_days > 0) & (base >= cost)
    at = np.argmax(reached, axis=1) - first_col + 1
    cell_group = np.asarray(cell_group, dtype=np.int64)
    has_cells = np.bincount(cell_group, minlength=groups) > 0
    for g in range(groups):
        if no_cost[g]:
            out[g] = Payback(None, "none", "no cost")
        elif paid[g]:
            out[g] = Payback(int(at[g]), "realised", f"paid back on day {int(at[g])}")
        elif not has_cells[g]:
            out[g] = Payback(None, "none", "no LTV estimate for the ad's users")
    todo = np.asarray([o is None for o in out])
    if not todo.any():
        return out  # type: ignore[return-value]
    offsets = np.asarray(cell_offsets, dtype=float)
    users = np.asarray(cell_users, dtype=float)
    curve = _curve(knot_days, knot_values)
    now = _value(n_days[cell_group] - offsets, curve) * users

    def ret(n: np.ndarray) -> np.ndarray:
        return base + np.bincount(cell_group, _value(n[cell_group] - offsets, curve) * users - now, minlength=groups)

    hi = n_days + int(search_days)
    at_end = ret(hi)
    for g in np.flatnonzero(todo & (at_end < cost)):
        out[g] = Payback(None, "none", f"not within {search_days} days: the estimated return reaches "
                                       f"{at_end[g]:,.2f} of the {cost[g]:,.2f} cost")
    search = todo & ~(at_end < cost)
    lo = n_days.copy()  # ret(lo) = base < cost; ret(hi) >= cost; R is non-decreasing
    while (search & (hi - lo > 1)).any():
        mid = (lo + hi) // 2
        up = ret(mid) >= cost
        step = search & (hi - lo > 1)
        hi = np.where(step & up, mid, hi)
        lo = np.where(step & ~up, mid, lo)
    for g in np.flatnonzero(search):
        out[g] = Payback(int(hi[g]), "estimated", f"estimated to pay back on day {int(hi[g])}")
    return out  # type: ignore[return-value]
