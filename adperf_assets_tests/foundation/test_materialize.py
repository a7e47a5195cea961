"""The whole graph (whatever exists) materializes for one day on a temporary ADPERF_HOME."""

import dagster as dg
import duckdb

from adperf_assets import assets, checks
from adperf_assets.resources import DUCKDB_SCHEMA, build_resources

DAY = "2025-07-15"


def _all():
    return dg.load_assets_from_package_module(assets), dg.load_asset_checks_from_package_module(checks)


def test_materialize_one_partition_of_every_asset(fresh_home):
    asset_defs, check_defs = _all()
    with dg.instance_for_test() as instance:
        result = dg.materialize([*asset_defs, *check_defs], partition_key=DAY, instance=instance,
                                resources=build_resources(fresh_home))
    assert result.success
    mats = result.get_asset_materialization_events()
    assert {e.asset_key for e in mats} == {k for a in asset_defs for k in a.keys}
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert not failed, [(c.asset_key, c.check_name, c.metadata) for c in failed]


def test_rematerializing_a_day_replaces_exactly_that_day(fresh_home):
    from adperf_assets.assets.fx import fx_rates

    res = build_resources(fresh_home)
    with dg.instance_for_test() as instance:
        for day in ("2025-07-14", "2025-07-15", "2025-07-15", "2025-07-16"):
            assert dg.materialize([fx_rates], partition_key=day, instance=instance, resources=res).success
    con = duckdb.connect(str(fresh_home.duckdb_path), read_only=True)
    per_day = con.sql(f"select report_date::date d, count(*) n, count(distinct currency) c "
                      f"from {DUCKDB_SCHEMA}.fx_rates group by 1 order by 1").fetchall()
    con.close()
    assert [str(d) for d, _, _ in per_day] == ["2025-07-14", "2025-07-15", "2025-07-16"]
    assert all(n == c for _, n, c in per_day)  # one row per currency: the re-run replaced, not appended
