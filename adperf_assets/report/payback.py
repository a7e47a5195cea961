"""Payback day: the ad's day (1 = its first day of spend) on which its users have returned its cost.

The curve used
--------------
``R(n)`` is the cumulative return of the ad's users by the end of the ad's day ``n``:

- up to the report day it is the realised behaviour credit, day by day;
- after it, the realised total plus each cell's *expected increment*: a cell is the users of one
  install day and segment, with the per-user LTV of ``ltv_estimates`` at every horizon (30, 90,
  180, 365 days since install). The per-user cumulative value ``V(a)`` after ``a`` days of life
  is the straight line through ``(0, 0)`` and the horizon points, flat after the last one (no
  value assumed beyond it), made non-decreasing. A cell of ``u`` users installed on the ad's day
  ``o + 1`` adds ``u * (V(n - o) - V(N - o))`` by day ``n`` (``N`` = the report day).

The cost line is the cost to date (spend after the report day is not forecast). Payback day is the
first ``n`` with ``R(n) >= cost``: ``basis = "realised"`` when it already happened,
``"estimated"`` when it comes from the curve, and none when the curve stays below the cost within
``search_days`` after the report day. LTV curves are concave, so the straight lines between horizon
points lie below them: the estimate errs late, not early.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def value_at(ages: np.ndarray, knot_days: np.ndarray, knot_values: np.ndarray) -> np.ndarray:
    """Per-user cumulative value after ``ages`` days of life; piecewise linear through (0, 0) and the knots.

    ``ages``: shape (C,) or (C, T); ``knot_days``: (K,) increasing; ``knot_values``: (C, K), one row
    per cell (made non-decreasing and non-negative here). Flat after the last knot.
    """
    kd = np.asarray(knot_days, dtype=float)
    kv = np.maximum.accumulate(np.maximum(np.asarray(knot_values, dtype=float), 0.0), axis=1)
    if kd.ndim != 1 or kv.ndim != 2 or kv.shape[1] != kd.size:
        raise ValueError(f"value_at: knot_days {kd.shape} and knot_values {kv.shape} do not match")
    if np.any(np.diff(kd) <= 0) or kd[0] <= 0:
        raise ValueError(f"value_at: knot_days must be positive and increasing, got {kd.tolist()}")
    a = np.asarray(ages, dtype=float)
    squeeze = a.ndim == 1
    if squeeze:
        a = a[:, None]
    x0 = np.concatenate([[0.0], kd[:-1]])
    width = kd - x0
    v0 = np.concatenate([np.zeros((kv.shape[0], 1)), kv[:, :-1]], axis=1)
    slopes = (kv - v0) / width  # (C, K)
    out = np.zeros_like(a)
    for k in range(kd.size):
        out += slopes[:, k:k + 1] * np.clip(a - x0[k], 0.0, width[k])
    return out[:, 0] if squeeze else out


@dataclass(frozen=True)
class Payback:
    day: int | None  # the ad's day number (1 = first day of spend)
    basis: str  # "realised", "estimated", "none"
    note: str


def payback_day(cost: float, realised_daily: np.ndarray, cell_offsets: np.ndarray, cell_users: np.ndarray,
                knot_days: np.ndarray, knot_values: np.ndarray, search_days: int = 365) -> Payback:
    """First ad day ``n`` with ``R(n) >= cost`` (see the module docstring for ``R``).

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
