"""The DuckDB IO manager of every table: empty partitions, schema changes, columns matched by name.

More: docs/dagster_layer.md."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pandas as pd
from dagster import InitResourceContext, InputContext, OutputContext
from dagster._core.storage.db_io_manager import DbIOManager  # what dagster-duckdb builds its IO manager on
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from adperf_assets.defs.common.duckdb_kept import DAGSTER_CONFIG, keep_open, release
from adperf_assets.defs.common.metadata import output_metadata
from adperf_assets.defs.common.money import stored_name, to_canonical, to_stored

if TYPE_CHECKING:
    from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice

_VIEW = "_adperf_out"
#: The database schema of every asset table.
SCHEMA = "analytics"


def _columns(connection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in connection.execute(f"describe {relation}").fetchall()}


class EvolvingPandasTypeHandler(DuckDBPandasTypeHandler):
    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        table = f"{table_slice.schema}.{table_slice.table}"
        obj = to_stored(obj)  # money columns named in the reporting currency
        frame = obj.astype({c: "string" for c in obj.columns if obj[c].dtype == object}) if obj.empty else obj
        connection.register(_VIEW, frame)
        try:
            connection.execute(f"create table if not exists {table} as select * from {_VIEW} limit 0")
            stored, written = _columns(connection, table), _columns(connection, f"select * from {_VIEW}")
            added = [c for c in written if c not in stored]
            for c in added:
                connection.execute(f'alter table {table} add column "{c}" {written[c]}')
            if added:
                context.log.warning(f"{table}: added column(s) {', '.join(added)}; rows stored before hold NULL "
                                    "there until their partitions are materialized again")
            gone = [c for c in stored if c not in written]
            if gone:
                context.log.warning(f"{table}: column(s) {', '.join(gone)} are no longer written; "
                                    "the new rows hold NULL there")
            if len(frame):
                connection.execute(f"insert into {table} by name select * from {_VIEW}")
        finally:
            connection.unregister(_VIEW)
        output_metadata(context, obj, "duckdb")

    def load_input(self, context: InputContext, table_slice: TableSlice, connection) -> pd.DataFrame:
        if table_slice.columns:  # an input's "columns" (as the math names them) in the stored names
            table_slice = table_slice._replace(columns=[stored_name(c) for c in table_slice.columns])
        return to_canonical(super().load_input(context, table_slice, connection))


class _KeptDuckDbClient(DuckDbClient):
    """``DuckDbClient`` whose connects share the connection ``duckdb_kept`` keeps open."""

    @staticmethod
    @contextmanager
    def connect(context, table_slice):
        cfg = context.resource_config
        keep_open(cfg["database"], {**DAGSTER_CONFIG, **cfg["connection_config"]})
        with DuckDbClient.connect(context, table_slice) as conn:
            yield conn


class AdperfDuckDBIOManager(DuckDBPandasIOManager):
    """``DuckDBPandasIOManager`` with the write of ``EvolvingPandasTypeHandler`` and the file kept open
    between a run's connects (``duckdb_kept``)."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [EvolvingPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(db_client=_KeptDuckDbClient(), database=self.database, schema=self.schema_,
                           type_handlers=self.type_handlers(), default_load_type=self.default_load_type(),
                           io_manager_name="DuckDBIOManager")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        release(self.database)
