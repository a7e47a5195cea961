"""Match sessions on Spark: the same SQL as the DuckDB build (``match_sessions``), the same files.

Only the two views differ by engine; Parquet nanosecond timestamps are read as longs and truncated
to microseconds, as DuckDB does. ``pyspark`` is an optional extra, used only through the session it
is given. Dialect and settings: docs/normalization.md ("Match sessions").
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pandas as pd

from adperf_assets.normalize.match_sessions import (
    PROBLEMS_SQL,
    SESSIONS_SQL,
    MatchLogError,
    SessionBuild,
    finish_sessions,
    raise_problems,
)

EVENT_COLUMNS = ["event", "request_id", "match_id", "user_id", "partner_id", "wanted_gender", "is_paid",
                 "partner_gender"]
_EPOCH = re.compile(r"\bepoch\(([^()]*)\)")


def spark_sql(duckdb_sql: str) -> str:
    """The DuckDB text in Spark's dialect (the only function that differs is ``epoch``)."""
    return _EPOCH.sub(r"(unix_micros(\1) / 1000000.0)", duckdb_sql)


def _local_path(uri: str) -> str:
    """Spark names local files ``file:/path`` (URL-quoted); report them as the path they were given."""
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return unquote(uri[len(prefix):])
    return uri


def register_match_events(spark, files: list[str]) -> None:
    """The ``match_events`` view over the Parquet ``files`` (columns missing from every file are NULL)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    raw = spark.read.option("mergeSchema", "true").parquet(*files)
    kind = raw.schema["event_time"].dataType if "event_time" in raw.columns else None
    if kind is None:
        raise MatchLogError(f"{files[0]}: match log has no event_time column")
    if isinstance(kind, T.LongType):  # nanoseconds since the epoch
        event_time = F.timestamp_micros(F.floor(F.col("event_time") / F.lit(1000)))
    else:
        event_time = F.col("event_time").cast("timestamp")
    cols = [event_time.alias("event_time")]
    for c in EVENT_COLUMNS:
        cols.append(F.col(c) if c in raw.columns else F.lit(None).alias(c))
    cols.append(F.col("_metadata.file_path").alias("source_file"))
    raw.select(*cols).createOrReplaceTempView("match_events")


def register_report_days(spark, report_days: pd.DataFrame) -> None:
    """The ``report_days`` view (naive UTC bounds, read in the UTC session time zone)."""
    rows = [(r.report_date.to_pydatetime(), r.start_utc.to_pydatetime(), r.end_utc.to_pydatetime())
            for r in report_days[["report_date", "start_utc", "end_utc"]].itertuples(index=False)]
    df = spark.createDataFrame(rows, "report_date timestamp_ntz, start_utc timestamp_ntz, end_utc timestamp_ntz")
    df.selectExpr("CAST(report_date AS TIMESTAMP) AS report_date", "CAST(start_utc AS TIMESTAMP) AS start_utc",
                  "CAST(end_utc AS TIMESTAMP) AS end_utc").createOrReplaceTempView("report_days")


def build_match_sessions_spark(spark, files: list[str], report_days: pd.DataFrame) -> SessionBuild:
    """Sessions of ``report_days`` from the Parquet ``files``, aggregated by ``spark``.

    Gives the same table as ``build_match_sessions`` (DuckDB); only the sessions themselves
    (one row per match, a small frame) come back to the driver.
    """
    if not files:
        raise MatchLogError("no match log files to read")
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
        raise ValueError(f"the Spark session time zone must be UTC (spark.sql.session.timeZone), got {tz!r}")
    register_match_events(spark, files)
    register_report_days(spark, report_days)
    bad = spark.sql(spark_sql(PROBLEMS_SQL)).toPandas()
    if len(bad):
        bad["source_file"] = bad["source_file"].map(_local_path)
    raise_problems(bad)
    df = spark.sql(spark_sql(SESSIONS_SQL)).toPandas()
    df["source_file"] = df["source_file"].map(_local_path, na_action="ignore")
    return finish_sessions(df, files)
