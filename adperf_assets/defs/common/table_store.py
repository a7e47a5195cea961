"""Where the asset tables live (``ADPERF_TABLE_STORE``): the IO manager of each store and the one
SQL-free reader of stored rows, the same for both. Nothing else opens our tables.

More: docs/dagster_layer.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd
from dagster import InputContext, OutputContext
from dagster_duckdb import DuckDBResource

from adperf_assets.defs.common import iceberg_store
from adperf_assets.defs.common.duckdb_kept import DAGSTER_CONFIG, KeptInRun
from adperf_assets.defs.common.io_manager import SCHEMA, AdperfDuckDBIOManager
from adperf_assets.defs.common.metadata import output_metadata
from adperf_assets.defs.common.money import stored_name, to_canonical, to_stored
from adperf_assets.settings import Settings


def _naive(ts) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_localize(None) if pd.Timestamp(ts).tzinfo else pd.Timestamp(ts)


class AdperfIcebergIOManager(dg.ConfigurableIOManager):
    """Every table as ``<namespace>.<asset name>`` in the Iceberg catalog, partitioned by day of its
    ``partition_expr``; a run (one day or a range) replaces its window in one commit."""

    catalog_properties: dict[str, str]
    namespace: str = SCHEMA

    def _catalog(self):
        return iceberg_store.catalog(self.catalog_properties, self.namespace)

    def handle_output(self, context: OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        stored = to_stored(obj)  # money columns named in the reporting currency
        partition_expr = (context.definition_metadata or {}).get("partition_expr")
        window = None
        if context.has_asset_partitions:
            if not partition_expr:
                raise ValueError(f"{table}: a partitioned asset needs metadata partition_expr (its date column)")
            w = context.asset_partitions_time_window
            window = (_naive(w.start), _naive(w.end))
        iceberg_store.write(self._catalog(), self.namespace, table, stored, partition_expr, window, log=context.log)
        output_metadata(context, obj, "iceberg")

    def load_input(self, context: InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        table = (upstream.asset_key if upstream is not None else context.asset_key).path[-1]
        columns = (context.definition_metadata or {}).get("columns")
        partition_expr = ((upstream.definition_metadata if upstream is not None else None) or {}).get(
            "partition_expr", "report_date")
        window = None
        if context.has_asset_partitions:
            w = context.asset_partitions_time_window
            window = (_naive(w.start), _naive(w.end))
        out = iceberg_store.read(self._catalog(), self.namespace, table,
                                 [stored_name(c) for c in columns] if columns else None, partition_expr, window)
        if out is None:
            raise ValueError(f"{self.namespace}.{table} does not exist in the Iceberg catalog: materialize it first")
        return to_canonical(out)


class TableStore(KeptInRun):
    """Reads stored rows the IO manager cannot hand over (a window wider than a check's input, the rows
    an earlier run wrote): only the named columns and days, with simple filters, on either store."""

    store: str = "duckdb"
    duckdb_path: str = ""
    catalog_properties: dict[str, str] = {}
    namespace: str = SCHEMA

    def _kept_file(self) -> str:
        return self.duckdb_path

    def _duckdb(self):
        self._keep_open(DAGSTER_CONFIG)
        return DuckDBResource(database=self.duckdb_path).get_connection()

    def table_names(self) -> list[str]:
        """The tables stored so far, sorted."""
        if self.store == "iceberg":
            cat = iceberg_store.catalog(self.catalog_properties, self.namespace)
            return sorted(t[-1] for t in cat.list_tables(self.namespace))
        with self._duckdb() as con:
            return [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = ? "
                                              "order by 1", [self.namespace]).fetchall()]

    def read(self, table: str, columns: Sequence[str] | None, first=None, before=None,
             equal: Mapping | None = None, not_equal: Mapping | None = None,
             day_column: str = "report_date") -> pd.DataFrame | None:
        """``columns`` (as the math names them) of ``table``'s rows with ``first <= day_column < before``
        (either bound optional; every column for None), ``column == value`` / ``in [values]`` for ``equal`` and
        "is distinct from" for ``not_equal``; None when the table does not exist yet."""
        cols = [stored_name(c) for c in columns] if columns else None
        equal = {stored_name(k): v for k, v in (equal or {}).items()}
        not_equal = {stored_name(k): v for k, v in (not_equal or {}).items()}
        if self.store == "iceberg":
            cat = iceberg_store.catalog(self.catalog_properties, self.namespace)
            window = None
            if first is not None or before is not None:
                window = (pd.Timestamp(first if first is not None else "1900-01-01"),
                          pd.Timestamp(before if before is not None else "2200-01-01"))
            out = iceberg_store.read(cat, self.namespace, table, cols, day_column, window, equal, not_equal)
        else:
            out = self._read_duckdb(table, cols, first, before, equal, not_equal, day_column)
        return None if out is None else to_canonical(out)

    def _read_duckdb(self, table, cols, first, before, equal, not_equal, day_column) -> pd.DataFrame | None:
        conds, args = [], []
        if first is not None:
            conds.append(f'"{day_column}" >= ?')
            args.append(pd.Timestamp(first).to_pydatetime())
        if before is not None:
            conds.append(f'"{day_column}" < ?')
            args.append(pd.Timestamp(before).to_pydatetime())
        for negate, filters in ((False, equal), (True, not_equal)):
            for col, v in filters.items():
                values = list(v) if isinstance(v, list | tuple | set) else [v]
                cond = f'"{col}" in ({", ".join("?" * len(values))})' if values else "false"
                conds.append(f"({cond}) is not true" if negate else cond)
                args.extend(values)
        select = ", ".join(f'"{c}"' for c in cols) if cols else "*"
        sql = (f"select {select} from {self.namespace}.{table}"
               + (f" where {' and '.join(conds)}" if conds else ""))
        with self._duckdb() as con:
            exists = con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                                 "table_name = ?", [self.namespace, table]).fetchone()[0]
            if not exists:
                return None
            return con.execute(sql, args).df()


def table_resources(s: Settings) -> dict:
    """``io_manager`` and ``tables`` (the reader) of the configured store."""
    if s.table_store == "iceberg":
        props = s.iceberg_catalog
        return {"io_manager": AdperfIcebergIOManager(catalog_properties=props, namespace=SCHEMA),
                "tables": TableStore(store="iceberg", catalog_properties=props, namespace=SCHEMA)}
    return {
        # every table: a first partition with no rows (a day without purchases) still creates the table
        "io_manager": AdperfDuckDBIOManager(database=str(s.duckdb_path), schema=SCHEMA),
        "tables": TableStore(store="duckdb", duckdb_path=str(s.duckdb_path), namespace=SCHEMA),
    }
