"""lifetimes' per-user summary as the BTYD fit and model read it: checked, as arrays, identical rows collapsed.

Convention (lifetimes'): one row per user, times in days, ``frequency`` = repeat purchases,
``recency`` = age at the last one, ``T`` = age at the end of observation, ``monetary_value`` =
mean value of the repeat purchases. Details: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
_THREADPOOLS: list[ThreadpoolController] = []


def _one_blas_thread():
    """BLAS held to one thread (the fit's and the intervals' small dense algebra). The controller is
    made once: ``threadpool_limits`` re-scans the loaded libraries on every call (docs/ltv_btyd.md)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _examples(index: pd.Index, mask: np.ndarray, limit: int = 5) -> str:
    labels = list(index[mask][:limit])
    more = int(mask.sum()) - len(labels)
    return f"{labels}" + (f" and {more} more" if more > 0 else "")


def validate_summary(summary: pd.DataFrame, *, monetary: bool = True) -> None:
    """Raise ValueError naming the rows and field if `summary` breaks lifetimes' convention."""
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    needed = SUMMARY_COLUMNS if monetary else SUMMARY_COLUMNS[:3]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(
            f"summary is missing column(s) {missing}; expected {list(needed)} "
            "(lifetimes' convention, one row per user, times in days)"
        )
    if len(summary) == 0:
        raise ValueError("summary has no rows")
    values = {}
    for col in needed:
        if not (pd.api.types.is_numeric_dtype(summary[col]) and not pd.api.types.is_bool_dtype(summary[col])):
            raise ValueError(f"summary column {col!r} must be numeric, got dtype {summary[col].dtype}")
        v = summary[col].to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v)
        if bad.any():
            raise ValueError(f"summary column {col!r} has NaN/infinite values at index {_examples(summary.index, bad)}")
        neg = v < 0
        if neg.any():
            raise ValueError(f"summary column {col!r} has negative values at index {_examples(summary.index, neg)}")
        values[col] = v
    x, tx, T = values["frequency"], values["recency"], values["T"]
    frac = x != np.floor(x)
    if frac.any():
        raise ValueError(
            f"summary column 'frequency' must count repeat purchases (whole numbers); "
            f"non-integer at index {_examples(summary.index, frac)}"
        )
    late = tx > T
    if late.any():
        raise ValueError(
            f"summary has recency > T (last purchase after the end of observation) at index "
            f"{_examples(summary.index, late)}"
        )
    orphan = (x == 0) & (tx != 0)
    if orphan.any():
        raise ValueError(
            f"summary has recency != 0 with frequency == 0 (lifetimes' convention: no repeat purchase "
            f"means recency 0) at index {_examples(summary.index, orphan)}"
        )
    if not (T > 0).any():
        raise ValueError("summary column 'T' is 0 for every user; nobody has been observed for any time")
    if monetary:
        free = (x > 0) & (values["monetary_value"] <= 0)
        if free.any():
            raise ValueError(
                f"summary column 'monetary_value' must be > 0 for users with repeat purchases "
                f"(Gamma-Gamma); <= 0 at index {_examples(summary.index, free)}"
            )

def _summary_arrays(summary: pd.DataFrame):
    x = summary["frequency"].to_numpy(dtype=float).astype(np.int64)
    tx = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    m = summary["monetary_value"].to_numpy(dtype=float) if "monetary_value" in summary.columns else None
    return x, tx, T, m


def _collapse(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of `columns`, the count of each, and each input row's distinct-row number."""
    n = len(columns[0])
    key = _whole_number_key(columns)
    if key is None:  # general values: number each column, then the combinations
        key = np.zeros(n, dtype=np.int64)
        span = 1
        for col in columns:
            codes, uniques = pd.factorize(col, sort=False)
            if span * len(uniques) >= 2**62:  # re-number before the combined code could overflow
                key, distinct_keys = pd.factorize(key, sort=False)
                span = len(distinct_keys)
            key = key * len(uniques) + codes
            span *= len(uniques)
    inverse, _ = pd.factorize(key, sort=False)
    inverse = np.asarray(inverse, dtype=np.int64)
    n_distinct = int(inverse.max()) + 1 if n else 0
    counts = np.bincount(inverse, minlength=n_distinct).astype(float)
    distinct = []
    for col in columns:
        rep = np.empty(n_distinct, dtype=np.asarray(col).dtype)
        rep[inverse] = col  # every row of a group carries the same value
        distinct.append(rep)
    return distinct, counts, inverse


def _whole_number_key(columns) -> np.ndarray | None:
    """One int64 code per row when every column holds small whole numbers (day counts), else None."""
    key = None
    span = 1
    for col in columns:
        col = np.asarray(col)
        if col.dtype.kind == "f":
            if not np.array_equal(col, np.floor(col)):
                return None
        elif col.dtype.kind not in "iu":
            return None
        lo, hi = col.min(), col.max()
        if lo < 0 or (hi + 1) * span >= 2**62:
            return None
        key = col.astype(np.int64) if key is None else key * int(hi + 1) + col.astype(np.int64)
        span *= int(hi + 1)
    return key
