"""Logins per user per report day from the login logs, aggregated by SQL over the Parquet files (DuckDB).

A report day in the report's time zone spans parts of two UTC days, so it reads two daily UTC
files; DuckDB streams them and holds only the (report day, user) groups, under ``memory_limit``.
Docs: docs/ltv_cohort.md ("User activity").
"""

from __future__ import annotations

import duckdb
import pandas as pd

LOGIN_COLUMNS = ["report_date", "user_id", "logins", "first_login_utc", "last_login_utc"]

DAILY_LOGINS_SQL = """
WITH events AS (
    SELECT CAST(event_time AS TIMESTAMP) AS event_time, user_id, filename AS source_file
    FROM read_parquet($files, filename = true, union_by_name = true)
)
SELECT d.report_date,
       e.user_id,
       count(*)          AS logins,
       min(e.event_time) AS first_login_utc,
       max(e.event_time) AS last_login_utc,
       count(*) FILTER (WHERE e.user_id IS NULL) AS without_user
FROM events e
JOIN report_days d ON e.event_time >= d.start_utc AND e.event_time < d.end_utc
GROUP BY d.report_date, e.user_id
ORDER BY d.report_date, e.user_id
"""


def daily_logins(files: list[str], report_days: pd.DataFrame, *, memory_limit: str = "1GB",
                 threads: int = 2) -> pd.DataFrame:
    """``LOGIN_COLUMNS`` rows for the report days, read from ``files`` (all must exist).

    A login belongs to the report day its instant falls in. ``report_days``: report_date,
    start_utc, end_utc, naive UTC (``normalize.payments.report_day_bounds``). ``event_time`` may
    be TIMESTAMP (UTC) or TIMESTAMPTZ; the session time zone is UTC so both read as UTC.
    """
    if not files:
        raise ValueError("no login log files to read")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET threads = {int(threads)}")
        days = report_days[["report_date", "start_utc", "end_utc"]].copy()
        con.register("report_days_df", days)
        con.execute("CREATE TEMP TABLE report_days AS SELECT CAST(report_date AS TIMESTAMP) AS report_date, "
                    "CAST(start_utc AS TIMESTAMP) AS start_utc, CAST(end_utc AS TIMESTAMP) AS end_utc "
                    "FROM report_days_df")
        try:
            out = con.execute(DAILY_LOGINS_SQL, {"files": list(files)}).df()
        except duckdb.BinderException as exc:
            raise ValueError(f"login logs {files[0]} ...: need columns event_time and user_id ({exc})") from exc
    finally:
        con.close()
    nulls = out["user_id"].isna()
    if nulls.any():
        n = int(out.loc[nulls, "logins"].sum())
        raise ValueError(f"login logs: {n} login event(s) without a user_id on "
                         f"{out.loc[nulls, 'report_date'].dt.date.unique().tolist()} (files {files})")
    out = out.drop(columns=["without_user"])
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    out["user_id"] = out["user_id"].astype("int64")
    out["logins"] = out["logins"].astype("int64")
    for c in ("first_login_utc", "last_login_utc"):
        out[c] = out[c].astype("datetime64[ns]")
    return out[LOGIN_COLUMNS]
