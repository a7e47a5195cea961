"""The delivery logs (Slack milestones sent, budget actions): small tables written row by row with
claims and updates, not asset tables. In the DuckDB file by default; with the Iceberg store and a
PostgreSQL catalog, in that database, so steps on different machines share them (a milestone is
sent once whichever pod sends it). The log modules' SQL is written once, for DuckDB; the few
PostgreSQL differences are translated here."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from dagster_duckdb import DuckDBResource

from adperf_assets.defs.common.duckdb_kept import DAGSTER_CONFIG, KeptInRun


class _Result:
    def __init__(self, cursor):
        # an insert / update / delete gives its row count as one row, as DuckDB does
        self._rows = cursor.fetchall() if cursor.returns_rows else [(cursor.rowcount,)]
        self._columns = list(cursor.keys()) if cursor.returns_rows else ["Count"]

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)

    def df(self) -> pd.DataFrame:
        out = pd.DataFrame([tuple(r) for r in self._rows], columns=self._columns)
        for c in out.columns:  # dates and times as the DuckDB file returns them
            if len(out) and out[c].map(lambda v: hasattr(v, "isoformat") or v is None).all() and out[c].notna().any():
                out[c] = pd.to_datetime(out[c])
        return out


def _postgres(sql: str) -> str:
    sql = re.sub(r"\bdouble\b(?!\s+precision)", "double precision", sql, flags=re.IGNORECASE)
    return sql.replace("?", "%s")


class _PgConnection:
    """The DuckDB connection calls the log modules make (``execute(sql, params)``, ``executemany``, ``fetchone``,
    ``df``) on a SQLAlchemy connection to PostgreSQL; each statement commits."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql: str, params: Sequence | None = None) -> _Result:
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        result = None
        for s in statements:
            result = _Result(self._conn.exec_driver_sql(_postgres(s), tuple(params or ())))
            self._conn.commit()
        return result

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        self._conn.exec_driver_sql(_postgres(sql), [tuple(r) for r in rows])
        self._conn.commit()


_ROWS = "_adperf_log_rows"


def insert_rows(con, table: str, columns: dict[str, str], rows: Sequence[Sequence]) -> None:
    """Many rows in one statement; ``columns``: name -> DuckDB type. On DuckDB from a registered frame
    (its ``executemany`` costs ~2.5 ms a row, this ~10 ms a call), on PostgreSQL one ``executemany``."""
    names = ", ".join(columns)
    if isinstance(con, _PgConnection):
        con.executemany(f"insert into {table} ({names}) values ({', '.join('?' * len(columns))})", rows)
        return
    con.register(_ROWS, pd.DataFrame([list(r) for r in rows], columns=list(columns), dtype=object))
    try:
        con.execute(f"insert into {table} ({names}) select "
                    + ", ".join(f'cast("{c}" as {t})' for c, t in columns.items()) + f" from {_ROWS}")
    finally:
        con.unregister(_ROWS)


class LogDatabase(KeptInRun, DuckDBResource):
    """``DuckDBResource`` on the DuckDB file, or (``url`` set) a connection to that PostgreSQL database."""

    url: str = ""

    def _kept_file(self) -> str:
        return "" if self.url else self.database

    @contextmanager
    def get_connection(self) -> Iterator:
        if not self.url:
            self._keep_open({**DAGSTER_CONFIG, **self.connection_config})
            with super().get_connection() as con:
                yield con
            return
        from sqlalchemy import create_engine

        engine = create_engine(self.url, pool_pre_ping=True)
        try:
            with engine.connect() as conn:
                yield _PgConnection(conn)
        finally:
            engine.dispose()


def log_database(duckdb_path: str, catalog_uri: str) -> LogDatabase:
    """The catalog's PostgreSQL database when the tables are in Iceberg with one, else the DuckDB file."""
    shared = catalog_uri if catalog_uri.startswith("postgresql") else ""
    return LogDatabase(database=duckdb_path, url=shared)
