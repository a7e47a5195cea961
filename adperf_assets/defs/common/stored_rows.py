"""The few reads of stored rows outside the IO manager (a check's window wider than its input, the rows
an earlier run wrote): one function, so every such read names money columns as the tables do."""

from __future__ import annotations

import pandas as pd
from dagster_duckdb import DuckDBResource

from adperf_assets.defs.common.io_manager import SCHEMA
from adperf_assets.defs.common.money import stored_name, to_canonical


def read_rows(duckdb: DuckDBResource, table: str, columns: list[str], first: pd.Timestamp, before: pd.Timestamp,
              where: str | None = None) -> pd.DataFrame | None:
    """``columns`` (as the math names them) of ``table``'s rows with ``first <= report_date < before``
    and the optional SQL condition ``where``; None when the table does not exist yet."""
    cols = ", ".join(f'"{stored_name(c)}"' for c in columns)
    with duckdb.get_connection() as con:
        exists = con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                             "table_name = ?", [SCHEMA, table]).fetchone()[0]
        if not exists:
            return None
        out = con.execute(f"select {cols} from {SCHEMA}.{table} where report_date >= ? and report_date < ?"
                          + (f" and ({where})" if where else ""),
                          [pd.Timestamp(first).to_pydatetime(), pd.Timestamp(before).to_pydatetime()]).df()
    return to_canonical(out)
