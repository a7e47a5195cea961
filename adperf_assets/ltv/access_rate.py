"""Access-rate curves: the checks every fit applies to its inputs, and the cleaning of the rate.

The access rate is the share of an install cohort active on day t since install (t = 0: the
install day). Cleaned to its running minimum it reads as a survival curve, which the retention
models fit. Derivation: docs/ltv_cohort.md ("Retention curve").
"""

from __future__ import annotations

import numpy as np

MIN_DAYS = 7  # the first estimate comes after a week of data (the game studio's LTV post)


def _num(x) -> str:
    """A value for an error message: ``nan``, ``1.5``, ``'2026-01-01'`` (no numpy reprs)."""
    return repr(x.item() if hasattr(x, "item") else x)


def _as_1d(values, name: str, *, lo: float | None = 0.0, hi: float | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {_num(arr[i])}; every value must be a finite number")
    if lo is not None and (arr < lo).any():
        i = int(np.flatnonzero(arr < lo)[0])
        raise ValueError(f"{name}[{i}] = {_num(arr[i])} is below {lo}")
    if hi is not None and (arr > hi).any():
        i = int(np.flatnonzero(arr > hi)[0])
        raise ValueError(f"{name}[{i}] = {_num(arr[i])} is above {hi}")
    return arr


def _check_rate_curve(rate, name: str = "access_rate", min_days: int = 2) -> np.ndarray:
    r = _as_1d(rate, name, lo=0.0, hi=1.0)
    if len(r) < min_days:
        raise ValueError(f"{name} has {len(r)} days; at least {min_days} are needed")
    return r


def _cohort_sizes(cohort_size, length: int, name: str = "cohort_size") -> np.ndarray:
    n = np.asarray(cohort_size, dtype=float)
    if n.ndim == 0:
        n = np.full(length, float(n))
    n = _as_1d(n, name, lo=None)
    if len(n) != length:
        raise ValueError(f"{name} has {len(n)} values but the rate curve has {length} days")
    if (n <= 0).any():
        i = int(np.flatnonzero(n <= 0)[0])
        raise ValueError(f"{name}[{i}] = {_num(n[i])}; cohort sizes must be positive")
    return n


def clean_access_rate(rates) -> np.ndarray:
    """Running minimum of the daily access rate (the pre-processing of the game studio's LTV post).

    A day whose rate rises above an earlier day's is replaced by the minimum so far, so the
    result is non-increasing and has the same length. Rates must be finite and in [0, 1].
    """
    r = _check_rate_curve(rates, min_days=1)
    return np.minimum.accumulate(r)


def _check_non_increasing(r: np.ndarray, name: str = "access_rate") -> None:
    rises = np.flatnonzero(np.diff(r) > 1e-12)
    if len(rises):
        i = int(rises[0]) + 1
        raise ValueError(
            f"{name}[{i}] = {_num(r[i])} rises above {name}[{i - 1}] = {_num(r[i - 1])}; "
            "pass it through clean_access_rate() first"
        )


def _check_times(t, name: str = "t") -> np.ndarray:
    return _as_1d(np.atleast_1d(t), name, lo=0.0)


def _horizons(horizons) -> np.ndarray:
    h = np.atleast_1d(np.asarray(horizons))
    if h.ndim != 1 or len(h) == 0:
        raise ValueError("horizons must be a non-empty list of whole numbers of days")
    if not np.all(np.isfinite(h.astype(float))) or np.any(h.astype(float) != np.round(h.astype(float))):
        raise ValueError(f"horizons must be whole numbers of days, got {list(h)}")
    h = h.astype(int)
    if (h < 1).any():
        raise ValueError(f"horizons must be at least 1 day, got {list(h)}")
    return h
