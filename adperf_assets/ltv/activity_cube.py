"""``cohort_activity`` rows as dense arrays (segment x install cohort x day since install), with prefix sums.

The segment curves, the cohort estimates and the back-test all read cohorts from it; a missing
row (a partition not materialized) is an error naming it, never a silent zero.
Docs: docs/ltv_cohort.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.ltv.keys import SEGMENT_KEYS

MAX_AGE = 365  # days since install the curves cover (t = 0..364): the longest LTV horizon
REVENUE_SOURCES = ("revenue_usd", "credited_usd")


def _day_index(dates, origin: pd.Timestamp) -> np.ndarray:
    s = as_datetimes(pd.Series(dates))
    # naive datetimes cast to days in numpy; to_numpy("datetime64[D]") goes through one Timestamp per row
    d = s.to_numpy("datetime64[ns]").astype("datetime64[D]") if isinstance(s.dtype, np.dtype) else s.to_numpy("datetime64[D]")
    return (d - np.datetime64(origin.date(), "D")).astype(int)


def number_segments(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct segments of ``df`` sorted by SEGMENT_KEYS and each row's number among them, by one
    sorted factorize per key and a mixed-radix code (a MultiIndex get_indexer was most of the cube's
    build); keys with missing values take pandas' own path."""
    keys = list(SEGMENT_KEYS)
    code = np.zeros(len(df), dtype=np.int64)
    levels = []
    for k in keys:
        c, u = pd.factorize(df[k], sort=True)
        if (c < 0).any():
            segs = df[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
            return segs, pd.MultiIndex.from_frame(segs).get_indexer(pd.MultiIndex.from_frame(df[keys]))
        code = code * len(u) + c
        levels.append(u)
    uniq, inverse = np.unique(code, return_inverse=True)
    cols, rest = {}, uniq
    for k, u in reversed(list(zip(keys, levels))):
        cols[k] = np.asarray(u)[rest % len(u)]
        rest = rest // len(u)
    segs = pd.DataFrame({k: cols[k] for k in keys})
    for k in keys:  # dtypes as the rows have them
        segs[k] = segs[k].astype(df[k].dtype)
    return segs, inverse.astype(np.int64).reshape(-1)


@dataclass
class ActivityCube:
    """``cohort_activity`` rows as dense arrays: ``size[s, c]``, ``active[s, c, t]``, ``value[s, c, t]``.

    Cohort index ``c`` counts days from ``first_day``; a cell is known when ``c + t`` is on or
    before ``last_day``. ``cum_value[s, c, t]`` / ``cum_active`` are prefix sums over t < t.
    """

    segments: pd.DataFrame  # SEGMENT_KEYS, row s
    first_day: pd.Timestamp
    last_day: pd.Timestamp
    size: np.ndarray
    active: np.ndarray
    value: np.ndarray
    value_column: str
    max_age: int = MAX_AGE
    cum_value: np.ndarray = field(init=False, repr=False)
    cum_active: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        zeros = np.zeros(self.value.shape[:2] + (1,))
        self.cum_value = np.concatenate([zeros, np.cumsum(self.value, axis=2)], axis=2)
        self.cum_active = np.concatenate([zeros, np.cumsum(self.active, axis=2)], axis=2)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @classmethod
    def from_frame(cls, activity: pd.DataFrame, value: str = "revenue_usd", *, first_day=None, last_day=None,
                   max_age: int = MAX_AGE) -> "ActivityCube":
        """Cube of the cohorts installed on or after ``first_day`` (default: the first report_date).

        Cohorts installed before the first loaded activity day are partly seen and left out.
        Every cohort x segment must have a row for each day from its install to ``last_day``
        (default: the last report_date) or ``max_age``; a missing one (a partition that was not
        materialized) is an error naming it, never a silent zero.
        """
        need = ["report_date", "install_date", *SEGMENT_KEYS, "days_since_install", "cohort_size",
                "active_users", value]
        missing = [c for c in need if c not in activity.columns]
        if missing:
            raise ValueError(f"cohort activity is missing column(s) {missing}; it has {list(activity.columns)}")
        if value not in REVENUE_SOURCES:
            raise ValueError(f"value must be one of {REVENUE_SOURCES}, got {value!r}")
        df = activity
        if df.empty:
            raise ValueError("cohort activity has no rows; materialize cohort_activity for the window first")
        report = as_datetimes(df["report_date"])
        first = pd.Timestamp(first_day) if first_day is not None else report.min()
        last = pd.Timestamp(last_day) if last_day is not None else report.max()
        install = as_datetimes(df["install_date"])
        keep = ((install >= first) & (report <= last) & (df["days_since_install"] < max_age)).to_numpy()
        df = df.loc[keep]
        if df[value].isna().any():
            raise ValueError(f"cohort activity column {value} has missing values; "
                             "(credited_usd is empty when behavior_value was not used)")
        segs, s_idx = number_segments(df)
        c_idx = _day_index(df["install_date"], first)
        t_idx = df["days_since_install"].to_numpy().astype(int)
        C = (last - first).days + 1
        S = len(segs)
        # one int64 code per (segment, cohort, age) cell: duplicates and per-cohort row counts by sort
        # and bincount, not by pandas' duplicated / value_counts over a frame (3x slower on 1.3M rows)
        cell = (s_idx.astype(np.int64) * C + c_idx) * max_age + t_idx
        order = np.argsort(cell, kind="stable")
        dup = np.zeros(len(cell), dtype=bool)
        dup[order[1:]] = cell[order[1:]] == cell[order[:-1]]
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            r = df.iloc[i]
            raise ValueError(f"cohort activity has two rows for cohort {r['install_date']} x "
                             f"{tuple(r[k] for k in SEGMENT_KEYS)} on {r['report_date']}")
        size = np.zeros((S, C))
        active = np.zeros((S, C, max_age))
        val = np.zeros((S, C, max_age))
        size[s_idx, c_idx] = df["cohort_size"].to_numpy(float)
        active[s_idx, c_idx, t_idx] = df["active_users"].to_numpy(float)
        val[s_idx, c_idx, t_idx] = df[value].to_numpy(float)
        # every cohort x segment needs its rows for days 0 .. min(last - install, max_age - 1)
        per_cohort = np.bincount(s_idx.astype(np.int64) * C + c_idx, minlength=S * C)
        present = np.flatnonzero(per_cohort)  # cohort x segments with rows, in (s, c) order
        expected = np.minimum(C - present % C, max_age)
        short = per_cohort[present] != expected
        if short.any():
            s, c = divmod(int(present[np.flatnonzero(short)[0]]), C)
            have = set(t_idx[(s_idx == s) & (c_idx == c)])
            gap = next(t for t in range(int(expected[np.flatnonzero(short)[0]])) if t not in have)
            cohort = first + pd.Timedelta(days=int(c))
            raise ValueError(
                f"cohort activity has no row for cohort {cohort.date()} x {tuple(segs.iloc[s])} on "
                f"{(cohort + pd.Timedelta(days=gap)).date()} (day {gap} since install); materialize cohort_activity "
                "for every day of the window")
        sizes_bad = (np.abs(active) > size[:, :, None] + 1e-9)
        if sizes_bad.any():
            s, c, t = np.argwhere(sizes_bad)[0]
            raise ValueError(f"cohort {(first + pd.Timedelta(days=int(c))).date()} x {tuple(segs.iloc[s])}: "
                             f"{active[s, c, t]:.0f} active users on day {t} but only {size[s, c]:.0f} installed")
        return cls(segs, first, last, size, active, val, value, max_age)

    def segment_index(self, keys: pd.DataFrame) -> np.ndarray:
        """Row of each segment of ``keys`` in this cube (-1 if the cube has no such segment)."""
        return pd.MultiIndex.from_frame(self.segments).get_indexer(pd.MultiIndex.from_frame(keys[list(SEGMENT_KEYS)]))
