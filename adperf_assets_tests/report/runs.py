"""Materialize the report's inputs and the report on the small world, and read the tables back.

``truth_ltv_estimates`` stands in for the LTV chain's ``ltv_estimates`` in these tests: the
contract's columns, filled from the world's true expected LTV per cohort x segment (interval
x0.8 .. x1.25), for the cohorts of the trailing 365 days as of each report day.
"""


import dagster as dg
import duckdb
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets import defs as defs_pkg
from adperf_assets.partitions import daily_partitions, single_run, window_days
from adperf_assets.defs.resources import DUCKDB_SCHEMA
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.sample import layout

from adperf_assets.ltv.keys import HORIZONS


def ltv_estimates_from_truth(world_root, days) -> pd.DataFrame:
    truth = pd.read_parquet(layout.truth(world_root, "cohort_ltv"))
    frames = []
    for day in days:
        t = truth[(truth["cohort_date"] <= day) & (truth["cohort_date"] > day - pd.Timedelta(days=365))]
        for h in HORIZONS:
            v = t[f"expected_ltv_usd_{h}"].astype(float)
            frames.append(pd.DataFrame({
                "report_date": day, "install_date": t["cohort_date"].astype("datetime64[ns]"),
                "platform": t["platform"], "attribution": t["acquisition"], "network": t["network"],
                "is_emulator": t["is_emulator"].astype(bool), "horizon": h, "cohort_size": t["users"].astype("int64"),
                "ltv_per_user_usd": v, "lower_usd": v * 0.8, "upper_usd": v * 1.25,
                "estimator": "cohort", "backtest_mape": 0.2}))
    out = pd.concat(frames, ignore_index=True)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    return out


@dg.asset(name="ltv_estimates", partitions_def=daily_partitions, backfill_policy=single_run,
          metadata={"partition_expr": "report_date"}, group_name="ltv")
def truth_ltv_estimates(context: dg.AssetExecutionContext, world: SampleWorld) -> pd.DataFrame:
    """Stand-in for the LTV helper's ``ltv_estimates`` (the world's true LTV)."""
    return ltv_estimates_from_truth(world.root(), window_days(context))


def all_assets() -> list:
    """Every asset on main, with the truth-based stand-in for ``ltv_estimates`` (so the report's
    tests do not depend on running the LTV chain)."""
    defs = [a for a in dg.load_assets_from_package_module(defs_pkg) if dg.AssetKey("ltv_estimates") not in a.keys]
    return [*defs, truth_ltv_estimates]


def all_checks() -> list:
    return list(dg.load_asset_checks_from_package_module(defs_pkg))


#: The report's source days materialized once per session, and its report days.
FIRST, LAST = "2025-06-15", "2025-07-12"
REPORT_DAYS = ["2025-07-10", "2025-07-11", "2025-07-12"]

SOURCES = ["raw/fx_rates", *(n.asset_key.to_user_string() for n in NETWORKS), "ad_spend", "payments_snapshot",
           "match_sessions", "behavior_value", "installs", "user_segments", "skan_postbacks", "user_activity"]


def range_tags(first: str, last: str) -> dict:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def materialize(names: list[str], resources: dict, first: str, last: str | None = None, *, instance=None,
                with_checks: bool = True, raise_on_error: bool = True, run_config=None) -> dg.ExecuteInProcessResult:
    """One run of the assets ``names`` (and their checks) over report days ``first..last``
    (a single-run backfill when they differ); every other asset is only read."""
    kw: dict = {"partition_key": first} if last in (None, first) else {"tags": range_tags(first, last)}
    if run_config is not None:
        kw["run_config"] = run_config
    if "roas_report" in names and "skan_modelled" not in names:  # the report's iOS part (SKAN), read with it
        names = ["skan_modelled", *names]
    keys = [dg.AssetKey.from_user_string(n) for n in names]
    selection = dg.AssetSelection.assets(*keys)
    selection = selection | dg.AssetSelection.checks_for_assets(*keys) if with_checks else selection.without_checks()

    def go(inst):
        return dg.materialize([*all_assets(), *all_checks()], selection=selection, instance=inst,
                              resources=resources, raise_on_error=raise_on_error, **kw)

    if instance is None:
        with dg.instance_for_test() as inst:
            return go(inst)
    return go(instance)


def table(settings, name: str, where: str = "") -> pd.DataFrame:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.sql(f"select * from {DUCKDB_SCHEMA}.{name} {where}").df()
    finally:
        con.close()
