"""Which engine aggregates the server logs: DuckDB on this machine (default) or Spark.

Both run the same SQL over the same files (``normalize/match_sessions.py``) and return the same
table; ``ADPERF_LOG_ENGINE=spark`` switches (``build_resources``), with ``ADPERF_SPARK_MASTER``
naming the cluster (default ``local[2]``).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from adperf_assets.normalize.match_sessions import SessionBuild, build_match_sessions
from adperf_assets.defs.revenue.event_logs import EventLogs
from adperf_assets.defs.revenue.spark import SparkResource

LOG_ENGINES = ("duckdb", "spark")


class LogEngine(dg.ConfigurableResource):
    """Runs the log aggregations; subclasses pick the engine."""

    def describe(self) -> str:
        raise NotImplementedError

    def match_sessions(self, logs: EventLogs, files: list[str], report_days: pd.DataFrame) -> SessionBuild:
        """Sessions of ``report_days`` (``report_date, start_utc, end_utc``) from the match log ``files``."""
        raise NotImplementedError


class DuckDBLogEngine(LogEngine):
    """DuckDB in this process, with the memory limit and threads the log resource sets."""

    def describe(self) -> str:
        return "duckdb"

    def match_sessions(self, logs: EventLogs, files: list[str], report_days: pd.DataFrame) -> SessionBuild:
        return build_match_sessions(files, report_days, memory_limit=logs.duckdb_memory_limit,
                                    threads=logs.duckdb_threads)


class SparkLogEngine(LogEngine):
    """Spark (local or a cluster); the files must be readable by its executors."""

    spark: SparkResource

    def describe(self) -> str:
        return f"spark ({self.spark.master})"

    def match_sessions(self, logs: EventLogs, files: list[str], report_days: pd.DataFrame) -> SessionBuild:
        from adperf_assets.normalize.match_sessions_spark import build_match_sessions_spark

        return build_match_sessions_spark(self.spark.get_session(), files, report_days)


def log_engine_from_env(engine: str, spark_master: str = "local[2]") -> LogEngine:
    """The engine ``ADPERF_LOG_ENGINE`` names (empty = duckdb)."""
    name = (engine or "duckdb").strip().lower()
    if name not in LOG_ENGINES:
        raise ValueError(f"ADPERF_LOG_ENGINE={engine!r} is not one of: {', '.join(LOG_ENGINES)}")
    if name == "spark":
        return SparkLogEngine(spark=SparkResource(master=spark_master or "local[2]"))
    return DuckDBLogEngine()
