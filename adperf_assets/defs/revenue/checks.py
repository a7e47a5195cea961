"""Checks on the payments snapshot: the app database rows behind each day must be sound.

More: docs/dagster_layer.md."""

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.revenue.assets import payments_snapshot, snapshot_scope
from adperf_assets.partitions import daily_partitions
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets.defs.common.metadata import MAX_LISTED, rows_check_result
from adperf_assets.defs.revenue.assets import behavior_value, match_sessions


def _failing(rows: pd.DataFrame, id_column: str, what: str) -> dict:
    shown = rows.head(MAX_LISTED).copy()
    for c in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[c]) or shown[c].dtype == object:
            shown[c] = shown[c].astype(str)
    return {
        "failing_rows": len(rows),
        f"failing_{id_column}s": ", ".join(str(v) for v in rows[id_column].head(MAX_LISTED)) or "none",
        what: dg.MetadataValue.md(shown.to_markdown(index=False) if len(rows) else "_none_"),
    }


def _problems(context, app_db: AppDatabase, kind: str) -> tuple[pd.DataFrame, dict]:
    window, as_of = snapshot_scope(context, app_db)
    rows = app_db.payment_problems(window.start_utc, window.end_utc, as_of, kinds=(kind,))[kind]
    return rows, {"window": window.label(), "snapshot_at_utc": str(as_of)}


@dg.asset_check(asset=payments_snapshot, partitions_def=daily_partitions, blocking=True,
                description="No payment id or store transaction id is on more than one row.")
def payments_no_duplicates(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
    rows, scope = _problems(context, app_db, "duplicate_ids")
    return dg.AssetCheckResult(
        passed=rows.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if rows.empty else f"{len(rows)} duplicated payment id(s): the day would count them twice",
        metadata={**scope, **_failing(rows, "value", "duplicates")})


@dg.asset_check(asset=payments_snapshot, partitions_def=daily_partitions, blocking=True,
                description="Purchases are not negative; refunds and chargebacks are not positive.")
def payments_amount_signs(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
    rows, scope = _problems(context, app_db, "sign")
    return dg.AssetCheckResult(
        passed=rows.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if rows.empty else f"{len(rows)} payment(s) with an amount of the wrong sign for their kind",
        metadata={**scope, **_failing(rows, "id", "wrong_sign")})


@dg.asset_check(asset=payments_snapshot, partitions_def=daily_partitions, blocking=True,
                description="Every currency in the snapshot has an FX rate on its day.")
def payments_currency_known(
    context: dg.AssetCheckExecutionContext, payments_snapshot: pd.DataFrame,
) -> dg.AssetCheckResult:
    bad = payments_snapshot[payments_snapshot["fx_rate"].isna()]
    rows = (bad.groupby(["report_date", "currency"], as_index=False)
            .agg(users=("user_id", "nunique"), purchases=("purchases", "sum"), gross_local=("gross_local", "sum")))
    return dg.AssetCheckResult(
        passed=rows.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if rows.empty else
        f"no FX rate for {', '.join(sorted(rows['currency'].unique()))}: these payments have no report-currency value",
        metadata={"rows_checked": len(payments_snapshot), **_failing(rows, "currency", "without_rate")})


@dg.asset_check(asset=payments_snapshot, partitions_def=daily_partitions, blocking=True,
                description="Each refund/chargeback has the user, store and currency of the purchase it reverses.")
def payments_reversals_match_purchase(
    context: dg.AssetCheckExecutionContext, app_db: AppDatabase,
) -> dg.AssetCheckResult:
    rows, scope = _problems(context, app_db, "mismatched_reversals")
    return dg.AssetCheckResult(
        passed=rows.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if rows.empty else f"{len(rows)} refund(s) differ in user/store/currency from their purchase",
        metadata={**scope, **_failing(rows, "id", "mismatched")})


@dg.asset_check(asset=payments_snapshot, partitions_def=daily_partitions, blocking=False,
                description="Refunds/chargebacks created on the day reference a purchase that exists (warning).")
def payments_reversals_reference_purchases(
    context: dg.AssetCheckExecutionContext, app_db: AppDatabase,
) -> dg.AssetCheckResult:
    rows, scope = _problems(context, app_db, "orphan_reversals")
    return dg.AssetCheckResult(
        passed=rows.empty, severity=dg.AssetCheckSeverity.WARN,
        description=None if rows.empty else f"{len(rows)} refund(s)/chargeback(s) reference no known purchase",
        metadata={**scope, **_failing(rows, "id", "orphans")})


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
    return rows_check_result(bad, "day(s)/row(s) break the credit invariant",
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
    return rows_check_result(bad[["report_date", "session_id", "user_id", "partner_id", "started_at", "ended_at", "duration_s",
                        "problem"]], "malformed session(s)")
