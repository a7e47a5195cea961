"""DuckDB IO manager for tables whose partitions may legitimately be empty (e.g. a day without spend).

The stock pandas handler skips the write of an empty DataFrame, so if the first partition ever
written is empty the table is never created and every downstream load fails with "table does
not exist". This handler creates the (empty) table from the frame's dtypes instead. Empty
``object`` columns would become DuckDB's untyped "NULL" columns, so they are created as
VARCHAR — use it only for assets whose object columns hold strings (the spend tables).
The partition's old rows are still deleted first by the IO manager, so a day that became
empty is stored as empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from dagster import OutputContext
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler


class EmptyPartitionPandasTypeHandler(DuckDBPandasTypeHandler):
    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        if obj.empty:
            typed = obj.astype({c: "string" for c in obj.columns if obj[c].dtype == object})
            connection.register("_adperf_empty", typed)
            try:
                connection.execute(
                    f"create table if not exists {table_slice.schema}.{table_slice.table} as select * from _adperf_empty"
                )
            finally:
                connection.unregister("_adperf_empty")
        super().handle_output(context, table_slice, obj, connection)


class StringTablesDuckDBIOManager(DuckDBPandasIOManager):
    """``DuckDBPandasIOManager`` that also creates a table from an empty first partition."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [EmptyPartitionPandasTypeHandler()]
