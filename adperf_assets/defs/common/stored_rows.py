"""The few reads of stored rows outside the IO manager (a check's window wider than its input, the rows
an earlier run wrote): one function, on either table store, so every such read names money columns as
the tables do and reads only the columns and days it needs."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from adperf_assets.defs.common.table_store import TableStore


def read_rows(tables: TableStore, table: str, columns: list[str], first: pd.Timestamp, before: pd.Timestamp,
              equal: Mapping | None = None, not_equal: Mapping | None = None) -> pd.DataFrame | None:
    """``columns`` (as the math names them) of ``table``'s rows with ``first <= report_date < before``,
    ``column == value`` (or ``in`` a list) for ``equal``, "is distinct from" for ``not_equal``; None when
    the table does not exist yet."""
    return tables.read(table, columns, first, before, equal=equal, not_equal=not_equal)
