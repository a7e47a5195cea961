"""Checks on the LTV chain: counts that cannot be, curves that are not survival curves, intervals that
do not contain their estimate, and (soft) a back-test whose intervals cover too little.

More: docs/dagster_layer.md."""

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.ltv.activity_assets import cohort_activity
from adperf_assets.defs.ltv.cohort_assets import cohort_ltv, cohort_ltv_backtest, retention_fit
from adperf_assets.ltv.backtest import OVERALL, SEGMENT_KEYS, backtest_metrics
from adperf_assets.partitions import daily_partitions
from adperf_assets.defs.common.metadata import table_md

COVERAGE_TARGET = 0.95
MIN_JUDGED = 200  # cohort x segments per made_at_day x horizon before coverage is judged


@dg.asset_check(asset=cohort_activity, blocking=True, partitions_def=daily_partitions,
                description="Active users and payers between 0 and the cohort size, logins >= active users, "
                            "days since install = report day - install day.")
def cohort_activity_counts_possible(cohort_activity: pd.DataFrame) -> dg.AssetCheckResult:
    df = cohort_activity
    age = (pd.to_datetime(df["report_date"]) - pd.to_datetime(df["install_date"])).dt.days
    bad = df[(df["active_users"] < 0) | (df["active_users"] > df["cohort_size"]) | (df["payers"] < 0)
             | (df["payers"] > df["cohort_size"]) | (df["logins"] < df["active_users"]) | (df["cohort_size"] < 1)
             | (df["days_since_install"] != age)]
    return dg.AssetCheckResult(passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"rows_checked": len(df), "impossible_rows": len(bad), "rows": table_md(bad)})


@dg.asset_check(asset=retention_fit, blocking=True, partitions_def=daily_partitions,
                description="Each segment's fitted retention is a survival curve: finite, in [0, 1], non-increasing.")
def retention_fit_is_a_survival_curve(retention_fit: pd.DataFrame) -> dg.AssetCheckResult:
    df = retention_fit.sort_values(["report_date", *SEGMENT_KEYS, "days_since_install"])
    g = df.groupby(["report_date", *SEGMENT_KEYS], sort=False, observed=True)
    rises = g["retention"].diff() > 1e-9
    days_fall = g["active_days"].diff() < -1e-9
    rate = df["access_rate"]
    bad = df[~np.isfinite(df["retention"]) | (df["retention"] < 0) | (df["retention"] > 1 + 1e-9) | rises | days_fall
             | (df["observed"] & ((rate < 0) | (rate > 1) | rate.isna()))]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"curves": int(g.ngroups), "bad_rows": len(bad),
                  "rows": table_md(bad[["report_date", *SEGMENT_KEYS, "days_since_install", "access_rate", "retention",
                                     "active_days"]])})


@dg.asset_check(asset=cohort_ltv, blocking=True, partitions_def=daily_partitions,
                description="Estimates finite, inside their interval, at least the revenue to date, growing with the horizon.")
def cohort_ltv_interval_contains_estimate(cohort_ltv: pd.DataFrame) -> dg.AssetCheckResult:
    df = cohort_ltv.sort_values(["report_date", "install_date", *SEGMENT_KEYS, "estimator", "horizon"])
    ltv, lo, hi = df["ltv_per_user_usd"], df["lower_usd"], df["upper_usd"]
    tol = 1e-9 * np.maximum(1.0, ltv.abs())
    shrinks = df.groupby(["report_date", "install_date", *SEGMENT_KEYS, "estimator"], sort=False,
                         observed=True)["ltv_per_user_usd"].diff() < -tol
    below_to_date = (df["estimator"] == "cohort") & (ltv < df["revenue_to_date_usd"] - tol)
    bad = df[~np.isfinite(ltv) | (lo > ltv + tol) | (ltv > hi + tol) | lo.isna() | hi.isna() | below_to_date | shrinks]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_checked": len(df), "bad_rows": len(bad),
                  "rows": table_md(bad[["report_date", "install_date", *SEGMENT_KEYS, "estimator", "horizon",
                                     "ltv_per_user_usd", "lower_usd", "upper_usd", "revenue_to_date_usd"]])})


@dg.asset_check(asset=cohort_ltv_backtest, partitions_def=daily_partitions,
                description=f"The cohort method's 99% intervals cover the realised revenue of at least "
                            f"{COVERAGE_TARGET:.0%} of daily cohort x segments (per made_at_day x horizon).")
def cohort_ltv_backtest_coverage(cohort_ltv_backtest: pd.DataFrame) -> dg.AssetCheckResult:
    """Judged on the run's rows once a made_at_day x horizon has MIN_JUDGED of them (a one-day run
    holds ~15 per horizon: too few; the asset's metadata scores the trailing 180 days)."""
    df = cohort_ltv_backtest
    cohort = df[df["estimator"] == "cohort"]
    if cohort.empty:
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"note": "no cohort with enough realised history in these days"})
    m = backtest_metrics(cohort, by=OVERALL)
    judged = m[m["with_interval"] >= MIN_JUDGED]
    low = judged[judged["coverage"] < COVERAGE_TARGET]
    return dg.AssetCheckResult(
        passed=low.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"target": COVERAGE_TARGET, "judged_groups": len(judged), "min_rows_to_judge": MIN_JUDGED,
                  "min_coverage": float(round(judged["coverage"].min(), 4)) if len(judged) else float("nan"),
                  "metrics": dg.MetadataValue.md(m.round(4).to_markdown(index=False))})
