"""Checks on the payments snapshot: the app database rows behind each day must be sound.

Each check looks at the same scope as the snapshot (the run's report days, as of the same
instant) in the source database, and names the failing rows in its metadata.

Blocking (ERROR; ``behavior_value`` and every other downstream asset of the day do not run, so
a bad day is not published):

- ``payments_no_duplicates``: an ``id`` or ``store_transaction_id`` on more than one row would
  count a purchase (or a refund) twice;
- ``payments_amount_signs``: a negative purchase or a positive refund/chargeback is not a
  purchase or a reversal and would be netted with the wrong sign;
- ``payments_currency_known``: a currency without an FX rate that day has no report-currency
  value (``*_usd`` is NaN in the snapshot);
- ``payments_reversals_match_purchase``: a refund whose user, store or currency differs from
  the purchase it reverses would be netted onto the wrong user or in the wrong currency.

Not blocking (WARN): ``payments_reversals_reference_purchases`` — a refund/chargeback created on
the day that references no purchase (null or unknown id). The snapshot cannot net it anywhere,
and since its purchase is not in the database either, the revenue it reports was never counted:
the day's figures stay consistent, but the orphan is named for the data owners to look into.
"""

import dagster as dg
import pandas as pd

from adperf_assets.assets.revenue import payments_snapshot, snapshot_scope
from adperf_assets.partitions import daily_partitions
from adperf_assets.resources.app_db import AppDatabase

MAX_LISTED = 20


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
