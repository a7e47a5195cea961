"""Checks on the BTYD tables and on the LTV estimate the report uses.

More: docs/dagster_layer.md."""

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.ltv.btyd_assets import ltv_estimates, user_rfm
from adperf_assets.ltv.btyd_ltv import HORIZONS, NO_FIT, SEGMENT_KEYS, ltv_column
from adperf_assets.partitions import daily_partitions, window_days
from adperf_assets.defs.common.stored_rows import read_rows
from adperf_assets.defs.common.table_store import TableStore
from adperf_assets.defs.common.metadata import table_md


def _read(tables: TableStore, context, table: str, columns: list[str], not_equal: dict | None = None) -> pd.DataFrame:
    """The run's report days of ``table`` (as the IO manager would load them), only ``columns``."""
    days = window_days(context)
    rows = read_rows(tables, table, columns, days[0], days[-1] + pd.Timedelta(days=1), not_equal=not_equal)
    if rows is None:
        raise ValueError(f"{table} has no stored rows for {days[0].date()}..{days[-1].date()}: materialize it first")
    return rows


@dg.asset_check(asset=user_rfm, partitions_def=daily_partitions, blocking=True,
                description="One row per user and day; recency <= T, recency 0 without repeat purchases, "
                            "monetary value > 0 with them.")
def user_rfm_is_a_valid_summary(context: dg.AssetCheckExecutionContext, tables: TableStore) -> dg.AssetCheckResult:
    user_rfm = _read(tables, context, "user_rfm", ["report_date", "user_id", "install_date", "frequency", "recency", "T",
                                                   "monetary_value_usd"])
    dup = user_rfm[user_rfm.duplicated(["report_date", "user_id"], keep=False)]
    x, tx, T, m = (user_rfm[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value_usd"))
    bad = user_rfm[(tx > T) | ((x == 0) & (tx != 0)) | ((x > 0) & ~(m > 0)) | (x < 0)]
    cols = ["report_date", "user_id", "install_date", "frequency", "recency", "T", "monetary_value_usd"]
    return dg.AssetCheckResult(
        passed=dup.empty and bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if dup.empty and bad.empty else
        f"{len(dup)} duplicated user-day row(s), {len(bad)} row(s) breaking lifetimes' convention",
        metadata={"rows_checked": len(user_rfm), "duplicated_rows": len(dup), "invalid_rows": len(bad),
                  "invalid": table_md(bad[cols]), "duplicated": table_md(dup[cols])})


@dg.asset_check(asset=dg.AssetKey("user_ltv"), partitions_def=daily_partitions, blocking=True,
                description="Fitted users: finite LTV, at least the expected part, 30 <= 90 <= 180 <= 365 days.")
def user_ltv_is_ordered(context: dg.AssetCheckExecutionContext, tables: TableStore) -> dg.AssetCheckResult:
    columns = ["report_date", "user_id", "model", *[ltv_column(h) for h in HORIZONS],
               *[f"expected_{h}d_usd" for h in HORIZONS]]
    fitted = _read(tables, context, "user_ltv", columns, not_equal={"model": NO_FIT})  # pandas' model != NO_FIT
    ltv = fitted[[ltv_column(h) for h in HORIZONS]].to_numpy(float)
    not_finite = ~np.isfinite(ltv).all(axis=1)
    unordered = (np.diff(ltv, axis=1) < -1e-9).any(axis=1)
    expected = fitted[[f"expected_{h}d_usd" for h in HORIZONS]].to_numpy(float)
    below = ((ltv < expected - 1e-9) | (expected < 0)).any(axis=1)  # realised part >= 0, expected >= 0
    bad = fitted[not_finite | unordered | below]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"{len(bad)} user(s) with a non-finite, unordered or too small LTV",
        metadata={"users_checked": len(fitted), "not_finite": int(not_finite.sum()), "unordered": int(unordered.sum()),
                  "below_realised": int(below.sum()),
                  "failing": table_md(bad[["report_date", "user_id", "model", *[ltv_column(h) for h in HORIZONS]]])})


@dg.asset_check(asset=dg.AssetKey("user_ltv"), partitions_def=daily_partitions, blocking=False,
                description="Every user has a BTYD fit (warning: without one, only the cohort method estimates them).")
def user_ltv_has_a_fit(context: dg.AssetCheckExecutionContext, tables: TableStore) -> dg.AssetCheckResult:
    user_ltv = _read(tables, context, "user_ltv", ["report_date", "model"])
    none = user_ltv[user_ltv["model"] == NO_FIT]
    per_day = none.groupby("report_date").size().rename("users_without_fit").reset_index()
    models = user_ltv.groupby("model").size().rename("users").reset_index()
    return dg.AssetCheckResult(
        passed=none.empty, severity=dg.AssetCheckSeverity.WARN,
        description=None if none.empty else f"{len(none)} user-day(s) without a BTYD fit",
        metadata={"users_without_fit": len(none), "days": table_md(per_day), "users_per_model": table_md(models)})


@dg.asset_check(asset=ltv_estimates, partitions_def=daily_partitions, blocking=True,
                description="One estimate per day x cohort x segment x horizon, finite, inside its interval.")
def ltv_estimates_one_per_cell(ltv_estimates: pd.DataFrame) -> dg.AssetCheckResult:
    keys = ["report_date", "install_date", *SEGMENT_KEYS, "horizon"]
    dup = ltv_estimates[ltv_estimates.duplicated(keys, keep=False)]
    v = ltv_estimates["ltv_per_user_usd"].to_numpy(float)
    lo, hi = ltv_estimates["lower_usd"].to_numpy(float), ltv_estimates["upper_usd"].to_numpy(float)
    outside = ~np.isnan(lo) & ~np.isnan(hi) & ((lo > v + 1e-9) | (v > hi + 1e-9))
    bad = ltv_estimates[~np.isfinite(v) | outside]
    return dg.AssetCheckResult(
        passed=dup.empty and bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if dup.empty and bad.empty else
        f"{len(dup)} duplicated cell row(s), {len(bad)} estimate(s) not finite or outside their interval",
        metadata={"rows_checked": len(ltv_estimates), "duplicated_rows": len(dup), "invalid_rows": len(bad),
                  "invalid": table_md(bad[[*keys, "estimator", "ltv_per_user_usd", "lower_usd", "upper_usd"]]),
                  "duplicated": table_md(dup[[*keys, "estimator"]])})
