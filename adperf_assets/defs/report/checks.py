"""Checks on ``roas_report``, all blocking: a report that disagrees with the spend table, shows an
infinite ROAS or an ad without a network would mislead whoever reads it, so the Slack steps of the
same run do not publish it. Each failing check lists the offending rows in its metadata.

More: docs/dagster_layer.md."""

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.common.table_store import TableStore

from adperf_assets.defs.report.assets import MAX_AD_AGE_DAYS, roas_report
from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.partitions import capped, daily_partitions, window_days
from adperf_assets.defs.common.stored_rows import read_rows
from adperf_assets.defs.common.metadata import table_md

TOLERANCE_USD = 0.01
SHOW = ["report_date", "level", "network", "account_id", "campaign_id", "ad_group_id", "ad_id"]


def spend_per_day(tables: TableStore, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """``ad_spend``'s cost per report day in ``[first, last]``, from the stored rows (an asset check's
    input cannot span the report's 400-day window)."""
    rows = read_rows(tables, "ad_spend", ["report_date", "cost_usd"], first, last + pd.Timedelta(days=1))
    if rows is None:
        return pd.DataFrame({"report_date": pd.Series(dtype="datetime64[ns]"), "cost": pd.Series(dtype=float)})
    out = rows.groupby("report_date", as_index=False)["cost_usd"].sum().rename(columns={"cost_usd": "cost"})
    out["report_date"] = as_datetimes(out["report_date"]).astype("datetime64[ns]")
    return out


@dg.asset_check(asset=roas_report, partitions_def=daily_partitions, blocking=True,
                description="Report cost (to date and on the day, at every level) equals ad_spend's cost over "
                            "the report window.")
def roas_report_cost_matches_ad_spend(context: dg.AssetCheckExecutionContext, roas_report: pd.DataFrame,
                                      tables: TableStore) -> dg.AssetCheckResult:
    days = window_days(context)
    spend = spend_per_day(tables, days[0] - pd.Timedelta(days=capped(MAX_AD_AGE_DAYS) - 1), days[-1])
    cost_col = "cost"
    report = roas_report.assign(report_date=as_datetimes(roas_report["report_date"]).astype("datetime64[ns]"))
    rows = []
    for day in window_days(context):
        start = day - pd.Timedelta(days=capped(MAX_AD_AGE_DAYS) - 1)
        window = spend[(spend["report_date"] >= start) & (spend["report_date"] <= day)]
        want_total = float(window[cost_col].sum())
        want_day = float(window.loc[window["report_date"] == day, cost_col].sum())
        rep = report[report["report_date"] == day]
        for level, g in rep.groupby("level", sort=False):
            rows.append({"report_date": day, "level": level, "report_cost_to_date": float(g["cost_to_date_usd"].sum()),
                         "ad_spend_cost": want_total, "report_cost_on_day": float(g["cost_on_day_usd"].sum()),
                         "ad_spend_cost_on_day": want_day})
        if rep.empty:
            rows.append({"report_date": day, "level": "(no rows)", "report_cost_to_date": 0.0,
                         "ad_spend_cost": want_total, "report_cost_on_day": 0.0, "ad_spend_cost_on_day": want_day})
    t = pd.DataFrame(rows)
    t["difference"] = t["report_cost_to_date"] - t["ad_spend_cost"]
    t["difference_on_day"] = t["report_cost_on_day"] - t["ad_spend_cost_on_day"]
    bad = t[(t["difference"].abs() > TOLERANCE_USD) | (t["difference_on_day"].abs() > TOLERANCE_USD)]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"{len(bad)} day x level total(s) differ from ad_spend by more than "
                                          f"${TOLERANCE_USD}",
        metadata={"failing_rows": len(bad), "max_abs_difference_usd": float(t["difference"].abs().max()) if len(t) else 0.0,
                  "rows": table_md(bad.round(4), columns=list(t.columns)), "totals": table_md(t.round(2), columns=list(t.columns))})


@dg.asset_check(asset=roas_report, partitions_def=daily_partitions, blocking=True,
                description="ROAS figures are finite; null only where their cost is zero.")
def roas_report_roas_finite(roas_report: pd.DataFrame) -> dg.AssetCheckResult:
    r = roas_report
    cost = r["cost_to_date_usd"].to_numpy(float)
    problems = pd.Series("", index=r.index)
    for col in ("roas", "estimated_roas", "estimated_roas_lower", "estimated_roas_upper"):
        v = r[col].to_numpy(float)
        if col != "estimated_roas_upper":  # the upper bound may be infinite (an estimate without interval)
            problems += np.where(np.isinf(v), f"{col} infinite; ", "")
        problems += np.where(np.isnan(v) & (cost > 0), f"{col} null with cost > 0; ", "")
        problems += np.where(~np.isnan(v) & (cost <= 0), f"{col} set with zero cost; ", "")
    for col in [c for c in r.columns if c.startswith("d") and c.endswith("_roas")]:
        problems += np.where(np.isinf(r[col].to_numpy(float)), f"{col} infinite; ", "")
    bad = r.assign(problem=problems.str.rstrip("; "))[problems != ""]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"{len(bad)} row(s) with an infinite or unexplained null ROAS",
        metadata={"failing_rows": len(bad), "rows": table_md(bad, columns=[*SHOW, "cost_to_date_usd", "roas", "estimated_roas",
                                                              "estimated_roas_lower", "problem"])})


@dg.asset_check(asset=roas_report, partitions_def=daily_partitions, blocking=True,
                description="Every row has a paid network; every ad row an ad id.")
def roas_report_ads_have_network(roas_report: pd.DataFrame) -> dg.AssetCheckResult:
    r = roas_report
    net = r["network"].fillna("").astype(str).str.strip()
    no_net = (net == "") | net.isin(["organic", "unattributed"])
    no_ad = (r["level"] == "ad") & (r["ad_id"].fillna("").astype(str).str.strip() == "")
    bad = r[no_net | no_ad]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"{len(bad)} row(s) without a paid network or ad id",
        metadata={"failing_rows": len(bad), "rows": table_md(bad, columns=[*SHOW, "ad_name", "cost_to_date_usd"])})
