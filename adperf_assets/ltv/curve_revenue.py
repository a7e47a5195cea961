"""The revenue side of a segment curve: tail ARPU, its age profile, and the spread of revenue between users.

Revenue per active user falls with age, so the tail's ARPU is scaled by a fitted age profile;
the between-user spread sets how far one cohort strays from the expectation.
Derivation: docs/ltv_cohort.md ("Segment curves").
"""

from __future__ import annotations

import numpy as np


def _arpu(active: np.ndarray, value: np.ndarray, L: np.ndarray, window: int):
    """Active-weighted moving average of daily ARPU over each curve's last ``window`` days, and its se."""
    K, T = active.shape
    t = np.arange(T)[None, :]
    start = np.maximum(L - window, 0)[:, None]
    inw = (t >= start) & (t < L[:, None])
    w = np.where(inw, active, 0.0)
    m = inw.sum(axis=1).astype(float)
    wsum = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(wsum > 0, np.where(inw, value, 0.0).sum(axis=1) / wsum, 0.0)
        x = np.where(w > 0, value / np.where(w > 0, active, 1.0), 0.0)
        var = (w**2 * (x - mean[:, None]) ** 2).sum(axis=1)
        se = np.where((wsum > 0) & (m > 1), np.sqrt(m / np.maximum(m - 1, 1) * var) / np.where(wsum > 0, wsum, 1), 0.0)
    floored = mean < 0
    return np.maximum(mean, 0.0), se, floored


DECAY_TAUS = np.geomspace(1.0, 1000.0, 19)
DECAY_KS = np.linspace(0.0, 2.0, 41)


def arpu_age_profile(active: np.ndarray, value: np.ndarray, L) -> tuple[np.ndarray, np.ndarray]:
    """Fit revenue per active user by day since install to ``A (1 + t / tau)^-k``, per row (why: docs/ltv_cohort.md).

    ``active`` / ``value``: (P, T) active users and revenue by day t; only days 1..L-1 are used
    (day 0, the install day, buys differently). Weighted least squares on the daily revenue per
    active user, weights = active users (days nobody was active count for nothing), A in closed
    form, (tau, k) on a grid (``DECAY_TAUS`` x ``DECAY_KS``). Returns (tau, k); k = 0 (no decay)
    where fewer than 3 days or no revenue.
    """
    a = np.atleast_2d(np.asarray(active, dtype=float))
    v = np.atleast_2d(np.asarray(value, dtype=float))
    if a.shape != v.shape:
        raise ValueError(f"active has shape {a.shape} but value has {v.shape}")
    P, T = a.shape
    L = np.broadcast_to(np.asarray(L, dtype=int), (P,))
    t = np.arange(T)
    use = (t[None, :] >= 1) & (t[None, :] < L[:, None]) & (a > 0)
    a = np.where(use, a, 0.0)
    v = np.where(use, v, 0.0)
    tau, k = np.meshgrid(DECAY_TAUS, DECAY_KS, indexing="ij")
    tau, k = tau.ravel(), k.ravel()
    g = (1.0 + t[None, :] / tau[:, None]) ** (-k[:, None])  # (grid, T)
    svg = v @ g.T  # (P, grid)
    sag = a @ (g**2).T
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where((sag > 0) & (svg > 0), svg**2 / sag, -np.inf)  # SSE = const - score
    best = score.argmax(axis=1)
    ok = (use.sum(axis=1) >= 3) & np.isfinite(score.max(axis=1))
    return np.where(ok, tau[best], 1.0), np.where(ok, k[best], 0.0)


def _user_cv(cum_value: np.ndarray, size: np.ndarray, lo: int, hi: int, h: int) -> float:
    """sd / mean of revenue per user over days < h, from cohorts lo..hi (docs/ltv_cohort.md)."""
    if hi < lo:
        return float("nan")
    n = size[lo:hi + 1]
    keep = n > 0
    if keep.sum() < 2:
        return float("nan")
    n = n[keep]
    x = cum_value[lo:hi + 1, h][keep] / n
    mean = float((n * x).sum() / n.sum())
    if mean <= 0:
        return float("nan")
    var = float((n * (x - mean) ** 2).sum() / (len(n) - 1))
    return float(np.sqrt(var) / mean)
