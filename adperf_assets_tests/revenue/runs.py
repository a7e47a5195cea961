"""Helpers to materialize revenue assets for a day or a range of days and read their tables."""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.revenue.assets import behavior_value, match_sessions, payments_snapshot
from adperf_assets.defs.revenue import checks as revenue_checks
from adperf_assets.defs.resources import DUCKDB_SCHEMA

# the payments snapshot's checks (the revenue domain also checks match_sessions and behavior_value)
PAYMENT_CHECKS = [c for c in dg.load_asset_checks_from_modules([revenue_checks])
                  if {k.asset_key for k in c.check_keys} == {dg.AssetKey("payments_snapshot")}]
CHAIN = [fx_rates, payments_snapshot, match_sessions, behavior_value]


def materialize(resources: dict, assets: list, first: str, last: str | None = None, *, method: str | None = None,
                selection=None, instance=None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """One run over report days ``first..last`` (a single-run backfill when they differ);
    ``selection`` limits it to some of ``assets`` (the others are read from storage)."""
    kw: dict = {"selection": selection} if selection is not None else {}
    if last is None or last == first:
        kw["partition_key"] = first
    else:
        kw["tags"] = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    if method is not None:
        kw["run_config"] = dg.RunConfig(ops={"behavior_value": {"config": {"method": method}}})
    if instance is None:
        with dg.instance_for_test() as inst:
            return dg.materialize(assets, instance=inst, resources=resources, raise_on_error=raise_on_error, **kw)
    return dg.materialize(assets, instance=instance, resources=resources, raise_on_error=raise_on_error, **kw)


def table(settings, name: str, where: str = "") -> pd.DataFrame:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.sql(f"select * from {DUCKDB_SCHEMA}.{name} {where}").df()
    finally:
        con.close()


def checks_by_name(result: dg.ExecuteInProcessResult) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
