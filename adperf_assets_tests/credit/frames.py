"""Build the credit inputs from short literal lists (sessions stamped on one day)."""

from __future__ import annotations

import pandas as pd

DAY = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (session_id, user_id, partner_id, duration_s, is_wanted, is_paid)."""
    frame = pd.DataFrame(
        rows,
        columns=["session_id", "user_id", "partner_id", "duration_s", "is_wanted", "is_paid"],
    )
    frame["duration_s"] = frame["duration_s"].astype("float64")
    frame["is_wanted"] = frame["is_wanted"].astype(bool)
    frame["is_paid"] = frame["is_paid"].astype(bool)
    frame["started_at"] = pd.Series([DAY] * len(frame), dtype="datetime64[ns, UTC]")
    frame["ended_at"] = frame["started_at"] + pd.to_timedelta(frame["duration_s"], unit="s")
    return frame[
        ["session_id", "user_id", "partner_id", "started_at", "ended_at",
         "duration_s", "is_wanted", "is_paid"]
    ]


def revenue_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (user_id, revenue_usd)."""
    frame = pd.DataFrame(rows, columns=["user_id", "revenue_usd"])
    frame["revenue_usd"] = frame["revenue_usd"].astype("float64")
    return frame


def as_dict(credit: pd.DataFrame) -> dict:
    return dict(zip(credit["user_id"], credit["credited_revenue"]))
