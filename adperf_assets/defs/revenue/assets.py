"""Revenue: the daily payments snapshot, match sessions from the logs, and behaviour credit.

All three handle a run over several partitions (a single-run backfill): the payments snapshot
is re-taken for a trailing window (default 28 days, triggered by the automation) so refunds and
chargebacks that arrive later are netted onto the purchase's own day; re-running any window
replaces exactly its days.
"""

import time
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from adperf_assets.credit import METHODS, credit_revenue
from adperf_assets.normalize.payments import report_day_bounds, snapshot_payments
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets.defs.revenue.event_logs import EventLogs
from adperf_assets.defs.revenue.log_engine import LogEngine
from adperf_assets.defs.revenue.schemas import BehaviorValueFrame, MatchSessionsFrame, PaymentsSnapshotFrame
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import table_md
from adperf_assets.defs.common.tables import daily_table


@dataclass(frozen=True)
class ReportWindow:
    """The run's report days and the UTC instants they span."""

    days: pd.DataFrame  # report_date, start_utc, end_utc

    @property
    def start_utc(self) -> datetime:
        return self.days["start_utc"].min().to_pydatetime()

    @property
    def end_utc(self) -> datetime:
        return self.days["end_utc"].max().to_pydatetime()

    def label(self) -> str:
        first, last = self.days["report_date"].min().date(), self.days["report_date"].max().date()
        return str(first) if first == last else f"{first}..{last}"


def report_window(context) -> ReportWindow:
    """The run's partitions (one day, or a range in a single-run backfill) as report days."""
    keys = context.partition_keys if context.has_partition_key_range else [context.partition_key]
    return ReportWindow(report_day_bounds(list(keys), current_settings().report_timezone))


def snapshot_scope(context, app_db: AppDatabase) -> tuple[ReportWindow, datetime]:
    """The window and the instant it is snapshotted at (shared by the asset and its checks)."""
    window = report_window(context)
    return window, app_db.snapshot_instant(window.end_utc)


@daily_table(
    group_name="revenue",
    dagster_type=PaymentsSnapshotFrame,
    kinds=("pandas", "duckdb", "sql"),
    ins={"fx_rates": dg.AssetIn(key=["raw", "fx_rates"])},
)
def payments_snapshot(
    context: dg.AssetExecutionContext, app_db: AppDatabase, fx_rates: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """The day's in-app purchases per user, store and currency as the app database stands now,
    net of the refunds/chargebacks known so far (on the purchase's day), in the report currency.

    The snapshot instant (``snapshot_at``) is now for a live database; for the sample world it is
    the window's end plus ``snapshot_lag_hours`` (default 6), never past the world's last instant.
    """
    t0 = time.perf_counter()
    window, as_of = snapshot_scope(context, app_db)
    purchases, reversals = app_db.purchases_and_reversals(window.start_utc, window.end_utc, as_of)
    t_read = time.perf_counter() - t0
    out = snapshot_payments(purchases, reversals, fx_rates, current_settings().report_timezone, as_of)
    per_day = (out.groupby("report_date").agg(users=("user_id", "nunique"), purchases=("purchases", "sum"),
                                              refunds=("refunds", "sum"), gross_usd=("gross_usd", "sum"),
                                              net_usd=("net_usd", "sum"))
               .reindex(window.days["report_date"], fill_value=0).reset_index())
    per_day["report_date"] = per_day["report_date"].dt.date
    unknown = sorted(out.loc[out["fx_rate"].isna(), "currency"].unique())
    context.log.info(
        f"payments_snapshot {window.label()} as of {as_of} UTC from {app_db.masked_url()}: "
        f"{len(purchases)} purchases, {len(reversals)} refunds/chargebacks -> {len(out)} rows"
        + (f"; no FX rate for {', '.join(unknown)}" if unknown else ""))
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": window.label(),
        "snapshot_at_utc": str(as_of),
        "source": app_db.masked_url(),
        "purchase_rows": len(purchases),
        "reversal_rows": len(reversals),
        "gross_usd": float(np.round(out["gross_usd"].sum(), 2)),
        "net_usd": float(np.round(out["net_usd"].sum(), 2)),
        "currencies_without_rate": ", ".join(unknown) or "none",
        "read_seconds": round(t_read, 3),
        "per_day": table_md(per_day.round(2), 40),
        "preview": table_md(out),
    })


@daily_table(
    group_name="revenue",
    dagster_type=MatchSessionsFrame,
)
def match_sessions(
    context: dg.AssetExecutionContext, event_logs: EventLogs, log_engine: LogEngine,
) -> dg.Output[pd.DataFrame]:
    """Match sessions that started on the report day, built by SQL over the day's UTC log files
    (``normalize/match_sessions.py``; DuckDB here or Spark, per ``log_engine``): requester,
    partner, start/end, duration, whether the partner fit the requester's filter, whether the
    request was paid."""
    t0 = time.perf_counter()
    window = report_window(context)
    files = event_logs.match_files(window.start_utc, window.end_utc)
    build = log_engine.match_sessions(event_logs, files, window.days)
    out = build.sessions
    seconds = time.perf_counter() - t0
    if build.open_sessions:
        context.log.warning(f"match_sessions {window.label()}: {build.open_sessions} session(s) started but have "
                            f"no match_ended in the files read; left out (they appear when re-run later)")
    if build.without_request:
        context.log.warning(f"match_sessions {window.label()}: {build.without_request} session(s) without their "
                            f"match_requested event; is_wanted set to false")
    context.log.info(f"match_sessions {window.label()}: {len(out)} sessions from {len(files)} file(s) "
                     f"in {seconds:.2f}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": window.label(),
        "files": dg.MetadataValue.md("\n".join(f"- `{f}`" for f in files)),
        "open_sessions_left_out": build.open_sessions,
        "sessions_without_request": build.without_request,
        "paid_sessions": int(out["is_paid"].sum()),
        "wanted_share": float(round(out["is_wanted"].mean(), 4)) if len(out) else 0.0,
        "median_duration_s": float(out["duration_s"].median()) if len(out) else 0.0,
        "seconds": round(seconds, 3),
        "duckdb_memory_limit": event_logs.duckdb_memory_limit,
        "engine": log_engine.describe(),
        "preview": table_md(out),
    })


class BehaviorValueConfig(dg.Config):
    method: str = Field(default="pagerank", description=f"Credit method: {', '.join(METHODS)}.")
    pagerank_damping: float = Field(default=0.85, description="PageRank damping (share of credit that follows matches).")


@daily_table(
    group_name="revenue",
    dagster_type=BehaviorValueFrame,
)
def behavior_value(
    context: dg.AssetExecutionContext, config: BehaviorValueConfig, match_sessions: pd.DataFrame,
    payments_snapshot: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Each day's net revenue credited to the users who made it possible (``credit_revenue``):
    ``paid_usd`` own net payments, ``credited_usd`` the method's share. Credit sums to revenue per
    day. Re-run a day after its payments snapshot changes (late refunds) to refresh it."""
    if config.method not in METHODS:
        raise ValueError(f"behavior_value: unknown method {config.method!r}; choose one of {', '.join(METHODS)}")
    options = {"damping": config.pagerank_damping} if config.method == "pagerank" else {}
    window = report_window(context)
    frames, summary = [], []
    for day in window.days["report_date"]:
        sessions = match_sessions[match_sessions["report_date"] == day]
        paid = (payments_snapshot[payments_snapshot["report_date"] == day]
                .groupby("user_id", as_index=False)["net_usd"].sum()
                .rename(columns={"net_usd": "revenue_usd"}))
        credit = credit_revenue(sessions, paid, config.method, **options)
        frame = credit.merge(paid, on="user_id", how="left").fillna({"revenue_usd": 0.0})
        frame = pd.DataFrame({
            "report_date": day, "user_id": frame["user_id"].astype("int64"), "method": config.method,
            "paid_usd": frame["revenue_usd"].astype("float64"),
            "credited_usd": frame["credited_revenue"].astype("float64"),
        })
        revenue = float(paid["revenue_usd"].sum())
        kept = float(frame.loc[frame["user_id"].isin(paid["user_id"]), "credited_usd"].sum())
        summary.append({"report_date": day.date(), "payers": len(paid), "credited_users": len(frame),
                        "revenue_in_usd": revenue, "credit_out_usd": float(frame["credited_usd"].sum()),
                        "kept_by_payers_usd": kept,
                        "moved_from_payers": 1.0 - kept / revenue if revenue > 0 else 0.0})
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    s = pd.DataFrame(summary)
    revenue_in, credit_out = float(s["revenue_in_usd"].sum()), float(s["credit_out_usd"].sum())
    kept = float(s["kept_by_payers_usd"].sum())
    top = (out.groupby("user_id", as_index=False)[["paid_usd", "credited_usd"]].sum()
           .sort_values(["credited_usd", "user_id"], ascending=[False, True]).head(10).round(4))
    context.log.info(f"behavior_value {window.label()} ({config.method}): revenue {revenue_in:.2f} in, "
                     f"credit {credit_out:.2f} out over {len(out)} users")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": window.label(),
        "method": config.method,
        "revenue_in_usd": round(revenue_in, 4),
        "credit_out_usd": round(credit_out, 4),
        "share_moved_away_from_payers": round(1.0 - kept / revenue_in, 4) if revenue_in > 0 else 0.0,
        "users_credited_without_paying": int(((out["paid_usd"] == 0) & (out["credited_usd"] != 0)).sum()),
        "top_users": table_md(top, 10),
        "per_day": table_md(s.round(4), 40),
    })
