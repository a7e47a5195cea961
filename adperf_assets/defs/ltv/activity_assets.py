"""Activity of install cohorts: logins per user and day (``user_activity``), and per cohort x segment
and day since install the active users, payers and revenue (``cohort_activity``) that the
retention fits read. Derivation: docs/ltv_cohort.md."""


import glob
import os
import time
from datetime import timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from adperf_assets.ltv.activity import cohort_activity as build_cohort_activity
from adperf_assets.ltv.activity import user_days
from adperf_assets.ltv.logins import daily_logins
from adperf_assets.normalize.payments import report_day_bounds
from adperf_assets.partitions import trailing, window_days
from adperf_assets.defs.revenue.event_logs import EventLogs, MissingLogError
from adperf_assets.defs.ltv.cohort_schemas import (
    CohortActivityFrame,
    UserActivityFrame,
)
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import days_label, table_md

from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.ltv.windows import (
    COHORT_WINDOW_DAYS,
    GROUP,
)

LOGINS_PATTERN = "logins/{day}.parquet"  # under EventLogs.root; see login_files


def login_files(event_logs: EventLogs, start_utc, end_utc) -> list[str]:
    """Login log files of the UTC days that ``[start_utc, end_utc)`` overlaps; every one must exist.

    The pattern is ``EventLogs.logins`` when the resource has that field, else
    ``logins/{day}.parquet`` under its root (``{day}`` = UTC date; globs allowed).
    """
    pattern = getattr(event_logs, "logins", None) or LOGINS_PATTERN
    base = f"{event_logs.root_dir().rstrip('/')}/{pattern}"
    first = pd.Timestamp(start_utc).date()
    last = (pd.Timestamp(end_utc) - pd.Timedelta(microseconds=1)).date()
    files: list[str] = []
    day = first
    while day <= last:
        path = base.format(day=day.isoformat())
        if "://" in path:
            found = [path]
        else:
            found = sorted(glob.glob(path)) if glob.has_magic(path) else ([path] if os.path.exists(path) else [])
        if not found:
            raise MissingLogError(f"no login log for UTC day {day} at {path} "
                                  f"(needed for logins {start_utc} .. {end_utc} UTC)")
        files.extend(found)
        day += timedelta(days=1)
    return files


@daily_table(
    group_name=GROUP,
    dagster_type=UserActivityFrame,
    kinds=("pandas", "duckdb", "sql"),
)
def user_activity(context: dg.AssetExecutionContext, event_logs: EventLogs) -> dg.Output[pd.DataFrame]:
    """Every user who logged in on the report day (report time zone) and how often: DuckDB SQL over
    the day's two UTC login files, memory bounded by the event_logs resource."""
    t0 = time.perf_counter()
    days = window_days(context)
    bounds = report_day_bounds(days, current_settings().report_timezone)
    files = login_files(event_logs, bounds["start_utc"].min(), bounds["end_utc"].max())
    out = daily_logins(files, bounds, memory_limit=event_logs.duckdb_memory_limit, threads=event_logs.duckdb_threads)
    per_day = out.groupby("report_date").agg(active_users=("user_id", "size"), logins=("logins", "sum"))
    per_day = per_day.reindex(pd.DatetimeIndex(days, name="report_date"), fill_value=0).reset_index()
    empty = per_day.loc[per_day["active_users"] == 0, "report_date"].dt.date.tolist()
    if empty:
        context.log.warning(f"user_activity: nobody logged in on {empty}")
    seconds = time.perf_counter() - t0
    context.log.info(f"user_activity {days_label(days)}: {len(out)} user-days from {len(files)} file(s) in {seconds:.2f}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": days_label(days),
        "files": dg.MetadataValue.md("\n".join(f"- `{f}`" for f in files)),
        "logins": int(out["logins"].sum()),
        "days_without_logins": ", ".join(map(str, empty)) or "none",
        "seconds": round(seconds, 3),
        "per_day": table_md(per_day.assign(report_date=per_day["report_date"].dt.date), 40),
    })


class CohortActivityConfig(dg.Config):
    use_behavior_credit: bool = Field(
        default=True, description="Sum behavior_value.credited_usd per cohort (credited_usd); off: the column is empty.")


@daily_table(
    group_name=GROUP,
    dagster_type=CohortActivityFrame,
    ins={"user_segments": dg.AssetIn(partition_mapping=trailing(COHORT_WINDOW_DAYS))},
)
def cohort_activity(
    context: dg.AssetExecutionContext,
    config: CohortActivityConfig,
    user_segments: pd.DataFrame,
    user_activity: pd.DataFrame,
    payments_snapshot: pd.DataFrame,
    behavior_value: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per activity day and install cohort (trailing 365 days) x segment: cohort size, active users
    (logged in), logins, payers, net payments and behaviour credit, at days since install."""
    days = window_days(context)
    credit = behavior_value[["report_date", "user_id", "credited_usd"]] if config.use_behavior_credit else None
    per_user = user_days(user_activity, payments_snapshot, credit)
    out, summary = build_cohort_activity(user_segments, per_user, days, COHORT_WINDOW_DAYS,
                                         with_credit=config.use_behavior_credit)
    if summary.unknown_users:
        context.log.warning(f"cohort_activity {days_label(days)}: {summary.unknown_users} active or paying user(s) are "
                            "not in user_segments of the last 365 days (installed earlier, or missing from installs)")
    if summary.activity_before_install:
        context.log.warning(f"cohort_activity {days_label(days)}: {summary.activity_before_install} user-day(s) of "
                            "activity before the user's install date; not counted")
    per_day = out.groupby("report_date").agg(cohorts=("install_date", "nunique"), active_users=("active_users", "sum"),
                                             revenue_usd=("revenue_usd", "sum"), credited_usd=("credited_usd", "sum"))
    day0 = out[out["days_since_install"] == 0]
    first_week = out[(out["days_since_install"] > 0) & (out["days_since_install"] < 7)]
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": days_label(days),
        "cohort_window_days": COHORT_WINDOW_DAYS,
        "installs_on_the_day": int(day0["cohort_size"].sum()),
        "day0_access_rate": float(round(day0["active_users"].sum() / max(day0["cohort_size"].sum(), 1), 4)),
        "day1_6_access_rate": float(round(first_week["active_users"].sum() / max(first_week["cohort_size"].sum(), 1), 4)),
        "revenue_usd": float(round(out["revenue_usd"].sum(), 2)),
        **{k: v for k, v in summary.as_dict().items() if k not in ("days", "cohorts")},
        "per_day": table_md(per_day.reset_index().assign(report_date=lambda d: d["report_date"].dt.date).round(2), 40),
        "preview": table_md(out.assign(report_date=out["report_date"].dt.date, install_date=out["install_date"].dt.date)),
    })


