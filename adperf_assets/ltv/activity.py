"""Per activity day: each install cohort x segment's size, active users and revenue (no Dagster).

One row per install cohort of the trailing window x segment, zeros included, so a cohort's days
run 0, 1, 2, ... without gaps (the pooling and the activity cube rely on it); what no row holds
is counted in the summary, never dropped silently. Docs: docs/ltv_cohort.md ("Cohort activity").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.ltv.keys import SEGMENT_KEYS

SEGMENT_COLUMNS = ["user_id", "install_date", *SEGMENT_KEYS]
USER_DAY_COLUMNS = ["report_date", "user_id", "logins", "revenue_usd", "credited_usd"]
ACTIVITY_COLUMNS = [
    "report_date", "install_date", *SEGMENT_KEYS, "days_since_install", "cohort_size", "active_users",
    "logins", "payers", "revenue_usd", "credited_usd",
]


@dataclass
class ActivitySummary:
    """What the window's users did that no cohort row holds (reported, never dropped silently)."""

    days: int
    cohorts: int
    active_outside_window: int  # user-days active on D but installed before the window or unknown
    revenue_outside_window_usd: float
    unknown_users: int  # active or paying users not in user_segments at all (within the loaded window)
    activity_before_install: int  # user-days of activity before the user's install date

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _check(df: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(df.columns)}")


def user_days(logins: pd.DataFrame, payments: pd.DataFrame, credit: pd.DataFrame | None) -> pd.DataFrame:
    """One row per report day x user from the three per-user inputs (outer join, zeros filled).

    ``logins``: report_date, user_id, logins; ``payments``: report_date, user_id, net_usd (several
    rows per user and day allowed: stores, currencies); ``credit``: report_date, user_id,
    credited_usd, or None when behaviour credit is not used.
    """
    _check(logins, "logins", ["report_date", "user_id", "logins"])
    _check(payments, "payments", ["report_date", "user_id", "net_usd"])
    bad = payments["net_usd"].isna()
    if bad.any():
        i = payments.index[bad.to_numpy()][0]
        raise ValueError(f"payments row {i!r} (user {payments.at[i, 'user_id']}, {payments.at[i, 'report_date']}) "
                         "has no net_usd (no FX rate for its currency); the payments checks should have stopped it")
    key = ["report_date", "user_id"]
    lg = logins.groupby(key, as_index=False)["logins"].sum()
    pay = payments.groupby(key, as_index=False)["net_usd"].sum().rename(columns={"net_usd": "revenue_usd"})
    out = lg.merge(pay, on=key, how="outer")
    if credit is not None:
        _check(credit, "credit", ["report_date", "user_id", "credited_usd"])
        cr = credit.groupby(key, as_index=False)["credited_usd"].sum()
        out = out.merge(cr, on=key, how="outer")
    else:
        out["credited_usd"] = np.nan
    out["logins"] = out["logins"].fillna(0).astype("int64")
    out["revenue_usd"] = out["revenue_usd"].fillna(0.0)
    if credit is not None:
        out["credited_usd"] = out["credited_usd"].fillna(0.0)
    out["report_date"] = pd.to_datetime(out["report_date"]).astype("datetime64[ns]")
    return out[USER_DAY_COLUMNS]


def cohort_activity(
    segments: pd.DataFrame,
    days_frame: pd.DataFrame,
    report_days,
    cohort_window_days: int,
    *,
    with_credit: bool = True,
) -> tuple[pd.DataFrame, ActivitySummary]:
    """Rows of ``ACTIVITY_COLUMNS`` for every report day in ``report_days`` (docs/ltv_cohort.md).

    ``segments``: one row per user (``SEGMENT_COLUMNS``) covering at least the install days
    ``[min(report_days) - cohort_window_days + 1, max(report_days)]``; ``days_frame``: from
    ``user_days``. ``with_credit=False`` (no behaviour credit given) leaves ``credited_usd`` NaN.
    """
    _check(segments, "segments", SEGMENT_COLUMNS)
    _check(days_frame, "user days", USER_DAY_COLUMNS)
    if cohort_window_days < 1:
        raise ValueError(f"cohort_window_days must be at least 1, got {cohort_window_days}")
    dup = segments["user_id"].duplicated()
    if dup.any():
        raise ValueError(f"segments: user {segments.loc[dup.to_numpy(), 'user_id'].iloc[0]} appears more than once; "
                         "a user belongs to exactly one install cohort")
    for col in SEGMENT_KEYS:
        if segments[col].isna().any():
            i = segments.index[segments[col].isna().to_numpy()][0]
            raise ValueError(f"segments row {i!r} (user {segments.at[i, 'user_id']}): {col} is missing")
    days = pd.DatetimeIndex(pd.to_datetime(list(report_days))).astype("datetime64[ns]")
    seg = segments[SEGMENT_COLUMNS].copy()
    seg["install_date"] = pd.to_datetime(seg["install_date"]).astype("datetime64[ns]")
    window = pd.Timedelta(days=cohort_window_days - 1)

    sizes = seg.groupby(["install_date", *SEGMENT_KEYS], observed=True).size().rename("cohort_size").reset_index()
    # every (report day, cohort x segment) pair inside the window: the dense frame of the output
    grid = []
    for d in days:
        s = sizes[(sizes["install_date"] <= d) & (sizes["install_date"] >= d - window)]
        grid.append(s.assign(report_date=d))
    grid = pd.concat(grid, ignore_index=True) if grid else sizes.assign(report_date=pd.NaT).iloc[:0]

    act = days_frame[days_frame["report_date"].isin(days)].merge(seg, on="user_id", how="left")
    unknown = act["install_date"].isna()
    age = (act["report_date"] - act["install_date"]).dt.days
    before = ~unknown & (age < 0)
    outside = ~unknown & (age > cohort_window_days - 1)
    inside = ~unknown & ~before & ~outside
    summary = ActivitySummary(
        days=len(days), cohorts=int(len(grid)),
        active_outside_window=int(((unknown | outside) & (act["logins"] > 0)).sum()),
        revenue_outside_window_usd=float(act.loc[unknown | outside, "revenue_usd"].sum()),
        unknown_users=int(act.loc[unknown, "user_id"].nunique()),
        activity_before_install=int(before.sum()),
    )
    a = act[inside]
    agg = a.assign(active=(a["logins"] > 0).astype("int64"), paid=(a["revenue_usd"] != 0).astype("int64")).groupby(
        ["report_date", "install_date", *SEGMENT_KEYS], observed=True).agg(
        active_users=("active", "sum"), logins=("logins", "sum"), payers=("paid", "sum"),
        revenue_usd=("revenue_usd", "sum"), credited_usd=("credited_usd", "sum"))
    out = grid.merge(agg.reset_index(), on=["report_date", "install_date", *SEGMENT_KEYS], how="left")
    for col in ("active_users", "logins", "payers"):
        out[col] = out[col].fillna(0).astype("int64")
    out["revenue_usd"] = out["revenue_usd"].fillna(0.0).astype("float64")
    out["credited_usd"] = out["credited_usd"].fillna(0.0).astype("float64") if with_credit else np.nan
    out["days_since_install"] = (out["report_date"] - out["install_date"]).dt.days.astype("int64")
    out["cohort_size"] = out["cohort_size"].astype("int64")
    out["is_emulator"] = out["is_emulator"].astype(bool)
    out = out.sort_values(["report_date", "install_date", *SEGMENT_KEYS], kind="stable").reset_index(drop=True)
    return out[ACTIVITY_COLUMNS], summary
