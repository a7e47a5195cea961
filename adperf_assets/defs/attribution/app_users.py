"""App users for attribution: the ``users`` rows (id, creation instant, device) read through the
app database resource (:class:`adperf_assets.defs.revenue.app_db.AppDatabase`, any SQLAlchemy URL).

Split out of :mod:`adperf_assets.defs.attribution.mmp`, which re-exports these names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from adperf_assets.defs.revenue.app_db import AppDatabase


def _utc_naive(t) -> datetime:
    t = pd.Timestamp(t)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.to_pydatetime()


_SQLITE_UTC = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?",
)
_UTC_TIMESTAMP = sa.DateTime().with_variant(_SQLITE_UTC, "sqlite")
USER_COLUMNS = ["user_id", "created_at", "platform", "country", "device_manufacturer", "device_model"]


def users_table(name: str = "users", schema: str | None = None) -> sa.Table:
    """The columns of the app's ``users`` table (see ``APP_SCHEMA``) attribution reads."""
    return sa.Table(
        name, sa.MetaData(schema=schema),
        sa.Column("id", sa.BigInteger), sa.Column("created_at", _UTC_TIMESTAMP),
        sa.Column("platform", sa.String), sa.Column("country", sa.String),
        sa.Column("device_manufacturer", sa.String), sa.Column("device_model", sa.String),
    )


def app_users(db: AppDatabase, ids: Iterable[int] = (), created: tuple[datetime, datetime] | None = None,
              table: str = "users", chunk: int = 500) -> pd.DataFrame:
    """Users with the given ids and/or created in ``[created[0], created[1])`` (naive UTC).

    Columns :data:`USER_COLUMNS` (``created_at`` naive UTC). Ids go in chunks so the statement
    stays small on any database; the cost follows the window, not the table's size.
    """
    u = users_table(table, db.db_schema)
    cols = (u.c.id, u.c.created_at, u.c.platform, u.c.country, u.c.device_manufacturer, u.c.device_model)
    ids = sorted({int(i) for i in ids})
    rows: list = []
    with db.connect() as con:
        if created is not None:
            lo, hi = _utc_naive(created[0]), _utc_naive(created[1])
            rows += con.execute(sa.select(*cols).where(u.c.created_at >= lo, u.c.created_at < hi)).all()
            have = {int(r[0]) for r in rows}
            ids = [i for i in ids if i not in have]  # most ids were created in the window
        for k in range(0, len(ids), chunk):
            rows += con.execute(sa.select(*cols).where(u.c.id.in_(ids[k:k + chunk]))).all()
    df = pd.DataFrame.from_records(rows, columns=USER_COLUMNS).drop_duplicates("user_id")
    df["user_id"] = df["user_id"].astype(np.int64)
    stamps = [t.astimezone(timezone.utc).replace(tzinfo=None) if getattr(t, "tzinfo", None) else t
              for t in df["created_at"]]
    df["created_at"] = pd.to_datetime(pd.Series(stamps, index=df.index, dtype=object)).astype("datetime64[ns]")
    for c in USER_COLUMNS[2:]:
        df[c] = df[c].astype(object)
    return df.sort_values("user_id", kind="stable").reset_index(drop=True)
