"""Install cohorts pooled into one curve per day since install, as the game studio's LTV post pools them.

``combine_cohorts`` pools the rows of one curve; ``pooled_sums`` does the same for many segments
and estimate days at once with prefix sums (a test checks they agree). Docs: docs/ltv_cohort.md
("Pooled curve").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.access_rate import _num
from adperf_assets.ltv.activity_cube import ActivityCube


def combine_cohorts(
    activity: pd.DataFrame,
    *,
    cohort_col: str = "install_date",
    day_col: str = "days_since_install",
    max_days: int | None = None,
) -> pd.DataFrame:
    """Pool install cohorts into one curve, the way of the game studio's LTV post.

    ``activity``: one row per cohort x day since install (days 0, 1, ... without gaps) with
    ``active_users`` and optionally ``revenue_usd`` and ``cohort_size`` (default: the cohort's
    day-0 active users). Returns one row per day ``t`` with ``days_since_install``, ``cohorts``
    (how many reached t), ``cohort_size`` = n(t) (their summed size), ``active_users``,
    ``revenue_usd``, ``access_rate`` = active / n(t) (the size-weighted mean of the cohorts'
    rates) and ``daily_arpu`` = revenue / active users (NaN where nobody was active).
    Feed ``access_rate`` and ``cohort_size`` to ``BlendedRetention.fit`` or ``cohort_ltv``.
    """
    required = [cohort_col, day_col, "active_users"]
    missing = [c for c in required if c not in activity.columns]
    if missing:
        raise ValueError(f"activity is missing column(s) {missing}; it has {list(activity.columns)}")
    labels = activity.index  # rows are reported by the caller's labels, found by position
    df = activity.reset_index(drop=True)

    def fail(mask, what) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ValueError(f"activity row {_num(labels[i])}: {what(i)}")

    fail(df[cohort_col].isna(), lambda i: f"{cohort_col} is missing")
    for col in [day_col, "active_users"] + [c for c in ("revenue_usd", "cohort_size") if c in df]:
        raw = df[col]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        fail(~np.isfinite(values), lambda i: f"{col} = {_num(raw.iloc[i])} is not a finite number")
        df[col] = values
    for col in [day_col, "active_users"] + (["cohort_size"] if "cohort_size" in df else []):
        fail(df[col] < 0, lambda i: f"{col} = {_num(df[col].iloc[i])} is negative")
    fail(df.duplicated([cohort_col, day_col]),
         lambda i: f"duplicate {cohort_col} x {day_col} = ({_num(df[cohort_col].iloc[i])}, {_num(df[day_col].iloc[i])})")
    if max_days is not None:
        df = df[df[day_col] < max_days]
    df = df.sort_values([cohort_col, day_col], kind="stable")
    g = df.groupby(cohort_col, sort=False)
    expected = g.cumcount().to_numpy()
    gap = df[day_col].to_numpy() != expected
    if gap.any():
        i = int(np.flatnonzero(gap)[0])
        raise ValueError(
            f"activity: cohort {_num(df[cohort_col].iloc[i])} has no row for day {expected[i]} (next row "
            f"{_num(labels[df.index[i]])} is day {_num(df[day_col].iloc[i])}); days must run 0, 1, 2, ... without gaps"
        )
    if "cohort_size" in df:
        sizes_per_cohort = g["cohort_size"].nunique()
        if (sizes_per_cohort > 1).any():
            raise ValueError(f"activity: cohort {_num(sizes_per_cohort[sizes_per_cohort > 1].index[0])} "
                             "has more than one cohort_size")
        size = g["cohort_size"].transform("first")
    else:
        size = g["active_users"].transform("first")
    zero = (size <= 0).to_numpy()
    if zero.any():
        raise ValueError(f"activity: cohort {_num(df[cohort_col].iloc[int(np.flatnonzero(zero)[0])])} has size 0")
    over = (df["active_users"] > size + 1e-9).to_numpy()
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(f"activity row {_num(labels[df.index[i]])}: active_users {_num(df['active_users'].iloc[i])} "
                         f"exceeds the cohort size {_num(size.iloc[i])} of cohort {_num(df[cohort_col].iloc[i])}")
    df = df.assign(_size=size, revenue_usd=df["revenue_usd"] if "revenue_usd" in df else 0.0)
    out = df.groupby(day_col).agg(
        cohorts=(cohort_col, "size"), cohort_size=("_size", "sum"),
        active_users=("active_users", "sum"), revenue_usd=("revenue_usd", "sum"),
    )
    out.index = out.index.astype(int)
    out = out.rename_axis("days_since_install").reset_index()
    out["access_rate"] = out["active_users"] / out["cohort_size"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["daily_arpu"] = np.where(out["active_users"] > 0, out["revenue_usd"] / out["active_users"], np.nan)
    return out


def pooled_sums(cube: ActivityCube, seg: np.ndarray, end: np.ndarray, window_days: int):
    """Cohorts [e - window + 1, e] of segment s combined per day t (those that reached t by e).

    Returns (cohorts, n, active, value), each (K, max_age), and the observed days L (K,): the
    first day no cohort of the window has reached (or whose cohorts are all empty).
    """
    S, C, T = cube.active.shape
    t = np.arange(T)[None, :]
    lo = np.maximum(end - window_days + 1, 0)[:, None]
    hi = end[:, None] - t  # newest cohort that reached day t
    ok = hi >= lo
    hi_c = np.clip(hi, -1, C - 1) + 1  # prefix position (exclusive end)
    lo_c = np.broadcast_to(lo, hi.shape)
    s = seg[:, None]
    pn = np.concatenate([np.zeros((S, 1)), np.cumsum(cube.size, axis=1)], axis=1)
    pc = np.concatenate([np.zeros((S, 1)), np.cumsum(cube.size > 0, axis=1)], axis=1)
    n = np.where(ok, pn[s, hi_c] - pn[s, lo_c], 0.0)
    cohorts = np.where(ok, pc[s, hi_c] - pc[s, lo_c], 0.0)
    a = np.zeros(hi.shape)
    v = np.zeros(hi.shape)
    # prefix sums over cohorts, one segment at a time (bounded memory)
    for si in np.unique(seg):
        rows = np.flatnonzero(seg == si)
        pa = np.concatenate([np.zeros((1, T)), np.cumsum(cube.active[si], axis=0)], axis=0)
        pv = np.concatenate([np.zeros((1, T)), np.cumsum(cube.value[si], axis=0)], axis=0)
        tt = np.broadcast_to(t, (len(rows), T))
        a[rows] = np.where(ok[rows], pa[hi_c[rows], tt] - pa[lo_c[rows], tt], 0.0)
        v[rows] = np.where(ok[rows], pv[hi_c[rows], tt] - pv[lo_c[rows], tt], 0.0)
    empty = n <= 0
    L = np.where(empty.any(axis=1), empty.argmax(axis=1), T)
    beyond = t >= L[:, None]
    for arr in (n, a, v, cohorts):
        arr[beyond] = 0.0
    return cohorts, n, a, v, L
