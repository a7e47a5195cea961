"""A network is one module and one registration: a toy network added to the registry (in a fresh
process, as a deployment would) gets its raw asset, its row check, a place in ``ad_spend``, in the
morning refresh and in the FX check, and its ads are in the ROAS report, with no other edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAY = "2025-07-10"
FIRST = "2025-07-08"

SCRIPT = textwrap.dedent('''
    import json, sys
    import adperf_assets.defs.spend.registry as registry
    from adperf_assets_tests.spend import toy_network
    registry.NETWORKS = (*registry.NETWORKS, toy_network.NETWORK)   # the one registration

    import dagster as dg
    import duckdb
    from adperf_assets.definitions import defs
    from adperf_assets.settings import current_settings

    day = sys.argv[1]
    job = defs.resolve_job_def("spend_refresh_job")
    result = job.execute_in_process(partition_key=day, raise_on_error=False)
    s = current_settings()
    with duckdb.connect(str(s.duckdb_path), read_only=True) as con:
        spend = con.sql("select network, ad_id, cost_local, cost_usd, account_currency from analytics.ad_spend").df()
        toy_raw = con.sql("select count(*) from analytics.toy_spend").fetchall()[0][0]

    # the report: its sources over three days (the report tests' list, from the registry), then the day
    from adperf_assets.defs.resources import build_resources
    from adperf_assets_tests.report import runs

    res = build_resources(s)
    sources = runs.materialize(runs.SOURCES, res, sys.argv[2], day, with_checks=False)
    report = runs.materialize(["ltv_estimates", "roas_report"], res, day, with_checks=False)
    with duckdb.connect(str(s.duckdb_path), read_only=True) as con:
        toy_report = con.sql("select level, ad_id, cost_to_date_usd, recommendation from analytics.roas_report"
                             " where network = 'toy' order by level, ad_id").df()
        toy_cost = con.sql("select sum(cost_usd) from analytics.ad_spend where network = 'toy'").fetchall()[0][0]
    graph = defs.resolve_asset_graph()
    print("__RESULT__ " + json.dumps({
        "success": result.success,
        "materialized": sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}),
        "checks": {c.check_name: c.passed for c in result.get_asset_check_evaluations()},
        "toy_rows": spend[spend.network == "toy"].to_dict("records"),
        "networks": sorted(spend.network.unique()),
        "toy_raw_rows": toy_raw,
        "resources": sorted(defs.resources),
        "ad_spend_reads": sorted(k.to_user_string() for k in graph.get(dg.AssetKey("ad_spend")).parent_keys),
        "report_success": sources.success and report.success,
        "report_sources": runs.SOURCES,
        "toy_report": toy_report.to_dict("records"),
        "toy_cost_usd": toy_cost,
    }, default=str))
''')


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, small_settings):
    home = tmp_path_factory.mktemp("toy")
    env = {**os.environ, "ADPERF_HOME": str(home), "ADPERF_WORLD": str(small_settings.world_path),
           "ADPERF_SAMPLE_DAYS": str(small_settings.sample_days),
           "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(small_settings.sample_installs_per_day),
           "ADPERF_EXECUTOR": "in_process", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("ADPERF_REAL_SOURCES", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, DAY, FIRST], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("__RESULT__ ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("__RESULT__ "))


def test_a_registered_toy_network_lands_in_ad_spend(toy_run):
    assert toy_run["success"]
    assert {"raw/toy_spend", "ad_spend"} <= set(toy_run["materialized"])  # in the morning refresh
    assert toy_run["checks"]["toy_spend_rows_unique"] is True  # its row check
    assert toy_run["checks"]["fx_rates_cover_ad_accounts"] is True  # its GBP account is covered
    assert "toy_ads" in toy_run["resources"]
    rows = toy_run["toy_rows"]
    assert sorted(r["ad_id"] for r in rows) == ["t-ad-1", "t-ad-2"] and toy_run["toy_raw_rows"] == 2
    # 24 hours of the Seoul day, taken from two New York days, at 1.50 an hour; GBP converted
    assert all(r["cost_local"] == 36.0 and r["account_currency"] == "GBP" for r in rows)
    assert all(40 < r["cost_usd"] < 55 for r in rows)
    assert {"facebook", "google_ads", "toy"} <= set(toy_run["networks"])
    assert "raw/toy_spend" in toy_run["ad_spend_reads"]


def test_the_report_shows_the_toy_network_like_the_others(toy_run):
    assert toy_run["report_success"] and "raw/toy_spend" in toy_run["report_sources"]
    rows = toy_run["toy_report"]
    levels = sorted({r["level"] for r in rows})
    assert levels == ["account", "ad", "ad_group", "campaign", "network"]
    ads = [r for r in rows if r["level"] == "ad"]
    assert [r["ad_id"] for r in ads] == ["t-ad-1", "t-ad-2"]
    # three days of both ads' cost, as ad_spend has them; no MMP install names the toy: nothing to scale
    assert sum(r["cost_to_date_usd"] for r in ads) == pytest.approx(toy_run["toy_cost_usd"])
    assert all(r["recommendation"] in ("keep", "stop") for r in rows)
