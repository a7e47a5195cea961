"""The Spark log engine gives the same match_sessions table as DuckDB, from the same files."""

from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from adperf_assets.defs.revenue.assets import match_sessions
from adperf_assets.normalize.match_sessions import MatchLogError, build_match_sessions
from adperf_assets.normalize.payments import report_day_bounds
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.event_logs import EventLogs
from adperf_assets.defs.revenue.log_engine import DuckDBLogEngine, SparkLogEngine
from adperf_assets.settings import load_settings
from adperf_assets_tests.revenue.runs import materialize, table

pytestmark = pytest.mark.spark

TZ = "Asia/Seoul"


def _days(first: str, last: str) -> pd.DataFrame:
    return report_day_bounds([d.date().isoformat() for d in pd.date_range(first, last)], TZ)


def _files(world, days: pd.DataFrame) -> list[str]:
    logs = EventLogs(root=str(world / "events"))
    return logs.match_files(days["start_utc"].min().to_pydatetime(), days["end_utc"].max().to_pydatetime())


def test_spark_equals_duckdb_on_the_whole_sample_world(small_world, spark_resource):
    from adperf_assets.normalize.match_sessions_spark import build_match_sessions_spark

    days = _days("2025-06-01", "2025-08-14")
    files = _files(small_world, days)
    duck = build_match_sessions(files, days)
    spark = build_match_sessions_spark(spark_resource.get_session(), files, days)
    assert len(duck.sessions) > 10_000
    assert spark.sessions["report_date"].nunique() == len(days)
    pd.testing.assert_frame_equal(spark.sessions, duck.sessions)
    assert (spark.open_sessions, spark.without_request) == (duck.open_sessions, duck.without_request)


def test_the_asset_on_spark_writes_the_same_table(fresh_home, tmp_path, spark_resource):
    first, last = "2025-07-10", "2025-07-16"
    duck_res = build_resources(fresh_home)
    assert isinstance(duck_res["log_engine"], DuckDBLogEngine)
    materialize(duck_res, [match_sessions], first, last)

    spark_home = dataclasses.replace(fresh_home, home=tmp_path / "spark_home")
    spark_res = {**build_resources(spark_home), "log_engine": SparkLogEngine(spark=spark_resource)}
    result = materialize(spark_res, [match_sessions], first, last)
    md = result.asset_materializations_for_node("match_sessions")[0].metadata
    assert md["engine"].value == "spark (local[2])"
    got = table(spark_home, "match_sessions", "order by session_id")
    expected = table(fresh_home, "match_sessions", "order by session_id")
    assert len(expected) > 1000
    pd.testing.assert_frame_equal(got, expected)


def test_spark_engine_is_chosen_by_environment(monkeypatch, fresh_home):
    monkeypatch.setenv("ADPERF_LOG_ENGINE", "spark")
    monkeypatch.setenv("ADPERF_SPARK_MASTER", "local[1]")
    env = load_settings()  # the environment, read into the settings the resources are built from
    settings = dataclasses.replace(fresh_home, log_engine=env.log_engine, spark_master=env.spark_master)
    engine = build_resources(settings)["log_engine"]
    assert isinstance(engine, SparkLogEngine) and engine.spark.master == "local[1]"


def test_bad_log_row_names_the_file_on_spark(small_world, tmp_path, spark_resource):
    """A match of a user with themselves stops the Spark build too, naming the local file."""
    from adperf_assets.normalize.match_sessions_spark import build_match_sessions_spark

    days = _days("2025-07-15", "2025-07-15")
    src = _files(small_world, days)
    copy = tmp_path / "events" / "matches"
    copy.mkdir(parents=True)
    for f in src:
        shutil.copy(f, copy)
    target = copy / "2025-07-15.parquet"
    ev = pq.read_table(target).to_pandas()
    row = ev.index[ev["event"] == "match_started"][0]
    ev.loc[row, "partner_id"] = ev.loc[row, "user_id"]
    ev.to_parquet(target, index=False)
    files = [str(copy / p.rsplit("/", 1)[1]) for p in map(str, src)]
    with pytest.raises(MatchLogError, match=r"2025-07-15\.parquet: user matched with themselves"):
        build_match_sessions(files, days)
    with pytest.raises(MatchLogError, match=rf"^{target}: user matched with themselves"):
        build_match_sessions_spark(spark_resource.get_session(), files, days)
