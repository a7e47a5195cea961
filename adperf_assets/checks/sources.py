"""Checks on the source tables their own domains leave unchecked (the report reads them all).

All blocking: each guards an invariant the report's numbers rest on, so a day that breaks it
stops before it is published. Failing rows are listed in the metadata.

- ``behavior_value_credit_equals_revenue``: per day the credit handed out equals the day's net
  payments (no money made or lost), every value is finite, one row per user and day;
- ``match_sessions_well_formed``: unique session ids, a session ends no earlier than it starts
  and its duration is end - start;
- ``user_segments_cover_installs``: exactly one segment row per installed user of the day;
- ``facebook_spend_rows_unique`` / ``google_ads_spend_rows_unique``: one row per day, account and
  ad in each network's table, with a non-negative cost (``ad_spend``'s checks then see the union).
"""

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.assets.attribution import user_segments
from adperf_assets.assets.revenue import behavior_value, match_sessions
from adperf_assets.assets.spend import facebook_spend, google_ads_spend
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import load_settings

MAX_LISTED = 20


def _md(rows: pd.DataFrame, n: int = MAX_LISTED) -> dg.MetadataValue:
    if rows.empty:
        return dg.MetadataValue.md("_none_")
    shown = rows.head(n).copy()
    for c in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[c]):
            shown[c] = shown[c].astype(str)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def _result(bad: pd.DataFrame, what: str, **extra) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
                               description=None if bad.empty else f"{len(bad)} {what}",
                               metadata={"failing_rows": len(bad), "rows": _md(bad), **extra})


@dg.asset_check(asset=behavior_value, partitions_def=daily_partitions, blocking=True,
                description="Per day, credit handed out = net revenue; finite values; one row per user and day.")
def behavior_value_credit_equals_revenue(behavior_value: pd.DataFrame) -> dg.AssetCheckResult:
    b = behavior_value
    per_day = b.groupby("report_date").agg(revenue_usd=("paid_usd", "sum"), credit_usd=("credited_usd", "sum"),
                                           users=("user_id", "size")).reset_index()
    per_day["difference_usd"] = per_day["credit_usd"] - per_day["revenue_usd"]
    tol = 1e-6 * np.maximum(1.0, per_day["revenue_usd"].abs())
    bad_days = per_day[per_day["difference_usd"].abs() > tol].assign(problem="credit != revenue")
    not_finite = b[~np.isfinite(b[["paid_usd", "credited_usd"]].to_numpy(float)).all(axis=1)]
    dup = b[b.duplicated(["report_date", "user_id"], keep=False)]
    bad = pd.concat([bad_days,
                     not_finite.assign(problem="not finite")[["report_date", "user_id", "problem"]],
                     dup.assign(problem="duplicate user-day")[["report_date", "user_id", "problem"]]],
                    ignore_index=True)
    return _result(bad, "day(s)/row(s) break the credit invariant",
                   max_abs_difference_usd=float(per_day["difference_usd"].abs().max()) if len(per_day) else 0.0)


@dg.asset_check(asset=match_sessions, partitions_def=daily_partitions, blocking=True,
                description="Unique session ids; ended_at >= started_at; duration_s = ended_at - started_at.")
def match_sessions_well_formed(match_sessions: pd.DataFrame) -> dg.AssetCheckResult:
    m = match_sessions
    span = (pd.to_datetime(m["ended_at"]) - pd.to_datetime(m["started_at"])).dt.total_seconds()
    problem = pd.Series("", index=m.index)
    problem = problem.where(~m["session_id"].duplicated(keep=False), "duplicate session_id")
    problem = problem.where(span >= 0, "ends before it starts")
    problem = problem.where((span - m["duration_s"]).abs() <= 1.0, "duration_s != ended_at - started_at")
    bad = m.assign(problem=problem)[problem != ""]
    return _result(bad[["report_date", "session_id", "user_id", "partner_id", "started_at", "ended_at", "duration_s",
                        "problem"]], "malformed session(s)")


@dg.asset_check(asset=user_segments, partitions_def=daily_partitions, blocking=True,
                additional_ins={"installs": dg.AssetIn(key="installs")},
                description="Exactly one segment row per installed user of the day.")
def user_segments_cover_installs(user_segments: pd.DataFrame, installs: pd.DataFrame) -> dg.AssetCheckResult:
    seg = user_segments[["install_date", "user_id"]].assign(in_segments=1)
    ins = installs[["install_date", "user_id"]].assign(in_installs=1)
    both = ins.merge(seg, on=["install_date", "user_id"], how="outer")
    counts = seg.groupby("user_id").size()
    problem = np.where(both["in_segments"].isna(), "installed user without segment",
                       np.where(both["in_installs"].isna(), "segment without install", ""))
    both = both.assign(problem=problem)
    dup = both["user_id"].map(counts).fillna(0) > 1
    both.loc[dup, "problem"] = "several segment rows"
    bad = both[both["problem"] != ""][["install_date", "user_id", "problem"]]
    return _result(bad, "user(s) not covered once", installs=len(installs), segments=len(user_segments))


def _unique_spend_rows(frame: pd.DataFrame) -> dg.AssetCheckResult:
    cost_col = load_settings().cost_column
    key = ["report_date", "account_id", "ad_id"]
    dup = frame[frame.duplicated(key, keep=False)].assign(problem="duplicate day/account/ad")
    neg = frame[(frame[["cost_local", cost_col]] < 0).any(axis=1)].assign(problem="negative cost")
    bad = pd.concat([dup, neg], ignore_index=True)
    cols = [c for c in [*key, "network", "cost_local", cost_col, "problem"] if c in bad.columns]
    return _result(bad[cols], "row(s) duplicated or with negative cost")


@dg.asset_check(asset=facebook_spend, partitions_def=daily_partitions, blocking=True,
                description="One row per report day, account and ad; no negative cost.")
def facebook_spend_rows_unique(facebook_spend: pd.DataFrame) -> dg.AssetCheckResult:
    return _unique_spend_rows(facebook_spend)


@dg.asset_check(asset=google_ads_spend, partitions_def=daily_partitions, blocking=True,
                description="One row per report day, account and ad; no negative cost.")
def google_ads_spend_rows_unique(google_ads_spend: pd.DataFrame) -> dg.AssetCheckResult:
    return _unique_spend_rows(google_ads_spend)
