"""Match sessions from the raw match logs, aggregated by SQL over the Parquet files (DuckDB).

A session is a ``match_id`` (first ``match_started`` to last ``match_ended``) on the report day its
start falls in. All SQL lives here, written against two views (``match_events``, ``report_days``) so
Spark runs the same text. See docs/behavior_credit.md ("In the asset graph") and
docs/normalization.md ("Match sessions").
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import duckdb
import pandas as pd

SESSION_COLUMNS = ["report_date", "session_id", "user_id", "partner_id", "started_at", "ended_at",
                   "duration_s", "is_wanted", "is_paid"]

# The log columns the SQL needs; event_time may be TIMESTAMP (UTC) or TIMESTAMPTZ.
EVENTS_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW match_events AS
SELECT CAST(event_time AS TIMESTAMP) AS event_time, event, request_id, match_id, user_id, partner_id,
       wanted_gender, is_paid, partner_gender, filename AS source_file
FROM read_parquet({files}, filename = true, union_by_name = true)
"""

# Matches that started inside the window, one row per match_id (duplicated events collapse).
STARTED_SQL = """
SELECT match_id,
       min(event_time)                  AS started_at,
       any_value(request_id)            AS request_id,
       any_value(user_id)               AS user_id,
       any_value(partner_id)            AS partner_id,
       any_value(partner_gender)        AS partner_gender,
       coalesce(bool_or(is_paid), false) AS is_paid,
       count(DISTINCT user_id)          AS n_user_ids,
       count(DISTINCT partner_id)       AS n_partner_ids,
       min(source_file)                 AS source_file
FROM match_events
WHERE event = 'match_started'
  AND event_time >= (SELECT min(start_utc) FROM report_days)
  AND event_time <  (SELECT max(end_utc) FROM report_days)
GROUP BY match_id
"""

SESSIONS_SQL = f"""
WITH started AS ({STARTED_SQL}),
ended AS (
    SELECT match_id, max(event_time) AS ended_at
    FROM match_events
    WHERE event = 'match_ended' AND match_id IN (SELECT match_id FROM started)
    GROUP BY match_id
),
requested AS (
    SELECT request_id, any_value(wanted_gender) AS wanted_gender
    FROM match_events
    WHERE event = 'match_requested' AND request_id IN (SELECT request_id FROM started)
    GROUP BY request_id
)
SELECT d.report_date,
       s.match_id                                  AS session_id,
       s.user_id,
       s.partner_id,
       s.started_at,
       e.ended_at,
       epoch(e.ended_at) - epoch(s.started_at)     AS duration_s,
       coalesce(q.wanted_gender = 'any' OR q.wanted_gender = s.partner_gender, false) AS is_wanted,
       s.is_paid,
       q.request_id IS NOT NULL                    AS has_request,
       s.n_user_ids, s.n_partner_ids, s.source_file
FROM started s
JOIN report_days d ON s.started_at >= d.start_utc AND s.started_at < d.end_utc
LEFT JOIN ended e ON e.match_id = s.match_id
LEFT JOIN requested q ON q.request_id = s.request_id
ORDER BY d.report_date, s.started_at, s.match_id
"""

# Bad rows among the window's started events: stop with the file and match named.
PROBLEMS_SQL = f"""
WITH started AS ({STARTED_SQL})
SELECT source_file, match_id, user_id, partner_id,
       CASE WHEN match_id IS NULL THEN 'match_started without match_id'
            WHEN user_id IS NULL THEN 'match_started without user_id'
            WHEN partner_id IS NULL THEN 'match_started without partner_id'
            WHEN n_user_ids > 1 OR n_partner_ids > 1 THEN 'repeated match_started with different users'
            WHEN user_id = partner_id THEN 'user matched with themselves'
       END AS problem
FROM started
WHERE match_id IS NULL OR user_id IS NULL OR partner_id IS NULL OR n_user_ids > 1 OR n_partner_ids > 1
   OR user_id = partner_id
ORDER BY source_file, match_id
LIMIT 20
"""


class MatchLogError(ValueError):
    """The match log breaks an assumption of the session build (file and match named)."""


@dataclass
class SessionBuild:
    sessions: pd.DataFrame
    open_sessions: int = 0  # started in the window, no match_ended in the files read (excluded)
    without_request: int = 0  # no match_requested found (is_wanted = false)
    files: list[str] = field(default_factory=list)


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def build_match_sessions(
    files: list[str],
    report_days: pd.DataFrame,
    memory_limit: str = "1GB",
    threads: int = 2,
    temp_directory: str | None = None,
) -> SessionBuild:
    """Sessions of ``report_days`` (``report_date, start_utc, end_utc``) from the Parquet ``files``.

    DuckDB runs with ``memory_limit`` and ``threads`` and spills to ``temp_directory`` (a fresh
    temporary folder by default), so memory stays bounded however many events there are.
    """
    if not files:
        raise MatchLogError("no match log files to read")
    with tempfile.TemporaryDirectory(prefix="adperf-duckdb-") as tmp:
        con = duckdb.connect(config={"memory_limit": memory_limit, "threads": int(threads),
                                     "temp_directory": temp_directory or tmp,
                                     "preserve_insertion_order": False})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(EVENTS_VIEW_SQL.format(files=_sql_list(files)))
            days = report_days[["report_date", "start_utc", "end_utc"]].copy()
            con.register("report_days_df", days)
            con.execute("CREATE OR REPLACE TEMP TABLE report_days AS "
                        "SELECT CAST(report_date AS TIMESTAMP) AS report_date, CAST(start_utc AS TIMESTAMP) AS start_utc, "
                        "CAST(end_utc AS TIMESTAMP) AS end_utc FROM report_days_df")
            raise_problems(con.execute(PROBLEMS_SQL).df())
            df = con.execute(SESSIONS_SQL).df()
        finally:
            con.close()
    return finish_sessions(df, files)


def raise_problems(bad: pd.DataFrame) -> None:
    """Stop on the first bad started event that ``PROBLEMS_SQL`` found (any engine)."""
    if len(bad):
        r = bad.iloc[0]
        raise MatchLogError(f"{r['source_file']}: {r['problem']} (match_id={r['match_id']}, "
                            f"user_id={r['user_id']}, partner_id={r['partner_id']}); "
                            f"{len(bad)}{'+' if len(bad) == 20 else ''} such match(es)")


def finish_sessions(df: pd.DataFrame, files: list[str]) -> SessionBuild:
    """The ``SESSIONS_SQL`` result (any engine) checked and typed as the ``match_sessions`` table."""
    late = df[df["ended_at"].notna() & (df["ended_at"] < df["started_at"])]
    if len(late):
        r = late.iloc[0]
        raise MatchLogError(f"{r['source_file']}: match_id={r['session_id']} ends ({r['ended_at']}) before it "
                            f"starts ({r['started_at']}); {len(late)} such match(es)")
    open_ = df["ended_at"].isna()
    build = SessionBuild(sessions=pd.DataFrame(), open_sessions=int(open_.sum()),
                         without_request=int((~df["has_request"]).sum()), files=list(files))
    df = df[~open_]
    out = pd.DataFrame({
        "report_date": df["report_date"].astype("datetime64[ns]"),
        "session_id": df["session_id"].astype("int64"),
        "user_id": df["user_id"].astype("int64"),
        "partner_id": df["partner_id"].astype("int64"),
        "started_at": df["started_at"].astype("datetime64[ns]"),
        "ended_at": df["ended_at"].astype("datetime64[ns]"),
        "duration_s": df["duration_s"].astype("float64"),
        "is_wanted": df["is_wanted"].astype(bool),
        "is_paid": df["is_paid"].astype(bool),
    })
    build.sessions = out.reset_index(drop=True)
    return build
