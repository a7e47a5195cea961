"""Log engine selection and the DuckDB-to-Spark SQL translation (no Java needed)."""

from __future__ import annotations

import pytest

from adperf_assets.normalize.match_sessions import SESSIONS_SQL
from adperf_assets.normalize.match_sessions_spark import spark_sql
from adperf_assets.defs.revenue.log_engine import DuckDBLogEngine, SparkLogEngine, log_engine_from_env
from adperf_assets.defs.revenue.spark import SparkResource


def test_epoch_becomes_unix_micros_and_nothing_else_changes():
    out = spark_sql(SESSIONS_SQL)
    assert "epoch(" not in out
    assert "(unix_micros(e.ended_at) / 1000000.0) - (unix_micros(s.started_at) / 1000000.0)" in out
    assert out.replace("(unix_micros(e.ended_at) / 1000000.0)", "epoch(e.ended_at)").replace(
        "(unix_micros(s.started_at) / 1000000.0)", "epoch(s.started_at)") == SESSIONS_SQL


@pytest.mark.parametrize("name, kind", [("", DuckDBLogEngine), ("duckdb", DuckDBLogEngine),
                                        (" Spark ", SparkLogEngine)])
def test_engine_from_env(name, kind):
    assert isinstance(log_engine_from_env(name, "local[3]"), kind)


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="ADPERF_LOG_ENGINE='presto' is not one of: duckdb, spark"):
        log_engine_from_env("presto")


def test_spark_settings_keep_utc_and_refuse_another_zone():
    conf = SparkResource(conf={"spark.executor.memory": "2g"}).settings()
    assert conf["spark.sql.session.timeZone"] == "UTC" and conf["spark.executor.memory"] == "2g"
    with pytest.raises(ValueError, match="must be 'UTC'"):
        SparkResource(conf={"spark.sql.session.timeZone": "Asia/Seoul"}).settings()
