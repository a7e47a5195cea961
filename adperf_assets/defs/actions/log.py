"""The action log: every planned, validated, applied, failed and reverted action, append-only, in the
project's DuckDB (``analytics.budget_action_log``). Written as the actions go, each action sent to a network
logged before the next is tried, so a run that dies half-way still says which actions went through."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pandas as pd
from dagster_duckdb import DuckDBResource

from adperf_assets.defs.common import log_db
from adperf_assets.defs.common.money import stored_name, to_canonical

TABLE = "analytics.budget_action_log"
LOG_COLUMNS = {
    "action_id": "varchar", "report_date": "date", "run_id": "varchar", "actor": "varchar",
    "created_at": "timestamp", "mode": "varchar", "outcome": "varchar", "network": "varchar",
    "account_id": "varchar", "campaign_id": "varchar", "ad_group_id": "varchar", "level": "varchar", "object_id": "varchar", "object_name": "varchar",
    "call": "varchar", "action": "varchar", "status_before": "varchar", "status_after": "varchar",
    "budget_before": "double", "budget_after": "double", "currency": "varchar", "ref": "varchar",
    "days_live": "integer", "cost_to_date_usd": "double", "estimated_roas": "double",
    "estimated_roas_lower": "double", "estimated_roas_upper": "double", "age_scored": "integer",
    "precision": "double", "reason": "varchar", "answer": "varchar", "attempts": "integer", "refers_to": "varchar",
}
#: What became of an action: planned only (policy skip), validated by the API (dry run), waiting for a
#: person's approval, applied, refused or failed after retries, or undone.
OUTCOMES = ("skipped", "validated", "awaiting_approval", "applied", "failed", "reverted")


def ensure_log(con) -> None:
    cols = ", ".join(f"{stored_name(k)} {v}" for k, v in LOG_COLUMNS.items())  # money named in its currency
    con.execute(f"create schema if not exists analytics; create table if not exists {TABLE} ({cols})")


def append(duckdb: DuckDBResource, row: dict) -> str:
    """One log row (missing fields null); returns its action_id."""
    return append_many(duckdb, [row])[0]


def append_many(duckdb: DuckDBResource, rows: list[dict]) -> list[str]:
    """Log rows in one connection (opening the project's DuckDB costs tens of ms, more than the insert);
    returns their action_ids."""
    recs = []
    for row in rows:
        rec = {k: row.get(k) for k in LOG_COLUMNS}
        rec["action_id"] = rec["action_id"] or uuid.uuid4().hex[:16]
        rec["created_at"] = datetime.now(UTC).replace(tzinfo=None)
        rec["report_date"] = pd.Timestamp(rec["report_date"]).date()
        for k, v in rec.items():
            if isinstance(v, float) and math.isnan(v):  # NaN -> null
                rec[k] = None
        recs.append(rec)
    if recs:
        with duckdb.get_connection() as con:
            ensure_log(con)
            log_db.insert_rows(con, TABLE, {stored_name(c): t for c, t in LOG_COLUMNS.items()},
                               [list(r.values()) for r in recs])
    return [r["action_id"] for r in recs]


def read(duckdb: DuckDBResource, report_date=None) -> pd.DataFrame:
    with duckdb.get_connection() as con:
        ensure_log(con)
        where, args = ("where report_date = ?", [pd.Timestamp(report_date).date()]) if report_date is not None else ("", [])
        return to_canonical(con.execute(f"select * from {TABLE} {where} order by created_at, action_id", args).df())


def applied_not_reverted(log: pd.DataFrame) -> pd.DataFrame:
    """Applied actions of the log that no later applied revert undid."""
    done = log[(log["outcome"] == "applied") & (log["mode"] != "revert")]
    undone = set(log.loc[(log["outcome"] == "reverted"), "refers_to"].dropna())
    return done[~done["action_id"].isin(undone)]


def awaiting(log: pd.DataFrame) -> pd.DataFrame:
    """Actions waiting for approval that no approved run has applied yet (a failed one may be tried again)."""
    wait = log[log["outcome"] == "awaiting_approval"]
    handled = set(log.loc[(log["mode"] == "approved") & (log["outcome"] == "applied"), "refers_to"].dropna())
    return wait[~wait["action_id"].isin(handled)]
