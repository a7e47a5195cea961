"""``user_rfm`` through Dagster on the small sample world: the running state (default) writes the same
table as summarising every user every day, over a range of days in one run and day by day with the
payments re-snapshotted in between (late refunds netted onto earlier days)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.ltv import btyd_assets as btyd
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.assets import payments_snapshot
from adperf_assets_tests.ltv.test_btyd_assets import LAST, SOURCES, home, table, upstream_db  # noqa: F401 (fixtures)

KEY = ["report_date", "user_id"]


@pytest.fixture
def rfm_home(request):
    """test_btyd_assets' ``home``: the small world's upstream tables, no user_rfm rows yet."""
    return request.getfixturevalue("home")


def run(settings, assets, first: str, last: str, sources=(), running_state: bool | None = None):
    kw = {"partition_key": first} if first == last else {
        "tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}}
    config = {} if running_state is None else {"ops": {"user_rfm": {"config": {"running_state": running_state}}}}
    with dg.instance_for_test() as inst:
        result = dg.materialize([*assets, *sources], instance=inst, resources=build_resources(settings),
                                selection=list(assets), run_config=config, **kw)
    assert result.success
    return result


def rows(settings, first: str, last: str) -> pd.DataFrame:
    out = table(settings, "user_rfm", f"where report_date between '{first}' and '{last}'")
    return out.sort_values(KEY).reset_index(drop=True)


def test_a_range_run_writes_the_same_table_either_way(rfm_home):
    s = rfm_home
    first, last = "2025-07-20", LAST  # 26 days: days chained in one run, the window's oldest day leaving each day
    run(s, [btyd.user_rfm], first, last, SOURCES, running_state=False)
    full = rows(s, first, last)
    run(s, [btyd.user_rfm], first, last, SOURCES, running_state=True)
    state = rows(s, first, last)
    assert full["report_date"].nunique() == 26 and (full["frequency"] > 0).sum() > 100
    pd.testing.assert_frame_equal(state, full, check_exact=True)


def test_day_by_day_with_re_snapshotted_payments_writes_the_full_tables(rfm_home):
    """Each morning re-takes the trailing payments (as the revenue refresh does) and then runs the day:
    the earlier days' rows change between mornings, and the running state's day equals the full one."""
    s = rfm_home
    before = table(s, "payments_snapshot")
    changed_days = 0
    for day in pd.date_range("2025-07-14", "2025-07-16").strftime("%Y-%m-%d"):
        start = (pd.Timestamp(day) - pd.Timedelta(days=27)).strftime("%Y-%m-%d")
        run(s, [payments_snapshot], start, day, [fx_rates.to_source_asset()])  # the re-pull, at one instant
        now = table(s, "payments_snapshot")
        old = before[before["report_date"] < pd.Timestamp(day)].groupby("report_date")["net_usd"].sum()
        new = now[now["report_date"] < pd.Timestamp(day)].groupby("report_date")["net_usd"].sum()
        changed_days += int((old.reindex(new.index, fill_value=0.0) - new).abs().gt(1e-9).sum())
        before = now
        run(s, [btyd.user_rfm], day, day, SOURCES, running_state=False)
        full = rows(s, day, day)
        run(s, [btyd.user_rfm], day, day, SOURCES, running_state=True)
        pd.testing.assert_frame_equal(rows(s, day, day), full, check_exact=True)
    assert changed_days > 0  # the snapshots did move earlier days: the comparison covers re-pulled days


def test_per_user_backfill_runs_follow_the_setting():
    """A larger world needs shorter backfill runs of the per-user tables (their rows are held per run)."""
    import os
    import subprocess
    import sys

    code = ("from adperf_assets.defs.ltv import btyd_assets as b; "
            "print(b.user_rfm.backfill_policy.max_partitions_per_run, b.user_ltv.backfill_policy.max_partitions_per_run)")
    env = {**os.environ, "ADPERF_PER_USER_RUN_DAYS": "7"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7", "7"]
    env["ADPERF_PER_USER_RUN_DAYS"] = "0"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "ADPERF_PER_USER_RUN_DAYS=0 is outside" in bad.stderr
