"""The asset tables in Apache Iceberg (``ADPERF_TABLE_STORE=iceberg``): a SQL catalog (PostgreSQL, or
SQLite to try it out) and a warehouse on a shared path or object store, so steps on different
machines share nothing local.

Our own IO manager over PyIceberg rather than dagster-iceberg's: its handler reads
``context.partition_key`` and fails on the multi-partition runs every daily asset here makes
(single-run backfills). A run's window of days is replaced in one commit (delete + append in one
transaction), so a reader sees the old days or the new ones, never half; a lost commit race is
retried on the refreshed table. More: docs/dagster_layer.md.
"""

from __future__ import annotations

import functools
import json
import random
import time
import warnings
from collections.abc import Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    NotEqualTo,
    NotIn,
    Or,
)
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DateType

#: retries of a commit that lost a race with another writer of the same table
COMMIT_ATTEMPTS = 12
#: table properties of every table: fewer manifests as daily commits pile up
TABLE_PROPERTIES = {"commit.manifest-merge.enabled": "true"}


@functools.cache
def _catalog(frozen: str) -> Catalog:
    props = json.loads(frozen)
    return load_catalog("adperf", **props)


def catalog(properties: Mapping[str, str], namespace: str) -> Catalog:
    """The catalog (one per process and configuration), with ``namespace`` created if missing."""
    cat = _catalog(json.dumps(dict(properties), sort_keys=True))
    try:
        cat.create_namespace_if_not_exists(namespace)
    except NamespaceAlreadyExistsError:  # created by another process between the check and the create
        pass
    return cat


def load(cat: Catalog, namespace: str, table: str) -> Table | None:
    try:
        return cat.load_table((namespace, table))
    except NoSuchTableError:
        return None


# ------------------------------------------------------------------ frames <-> Arrow
def to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    """The frame as Arrow in types Iceberg (v2) stores: timestamps in microseconds, categories as their
    values, untyped (all-null / empty object) columns as strings."""
    frame = frame.reset_index(drop=True)
    try:
        data = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{table}: a column mixes types and cannot be stored ({exc})") from None
    fields = []
    for f in data.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", tz=t.tz)
        if pa.types.is_timestamp(t) and t.tz is not None and t.tz.upper() not in ("UTC", "+00:00"):
            t = pa.timestamp("us", tz="UTC")
        if pa.types.is_null(t):
            t = pa.string()
        if pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return data.cast(pa.schema(fields), safe=False)


def to_frame(data: pa.Table) -> pd.DataFrame:
    """Arrow as the DuckDB store returns it: timestamps in ns, dates as datetime64[us]."""
    out = data.to_pandas(date_as_object=False, coerce_temporal_nanoseconds=True)
    for f in data.schema:
        if pa.types.is_date(f.type):
            out[f.name] = out[f.name].astype("datetime64[us]")
    return out


def _bound(field_type, value: pd.Timestamp):
    return value.date().isoformat() if isinstance(field_type, DateType) else value.isoformat()


def window_filter(tbl: Table, column: str, start: pd.Timestamp, end: pd.Timestamp) -> BooleanExpression:
    """``start <= column < end`` in the column's own type (DATE or TIMESTAMP)."""
    field = tbl.schema().find_field(column)
    return And(GreaterThanOrEqual(column, _bound(field.field_type, start)),
               LessThan(column, _bound(field.field_type, end)))


def structured_filter(equal: Mapping | None = None, not_equal: Mapping | None = None) -> BooleanExpression:
    """``column == value`` / ``column in [values]`` (and their negations) as one Iceberg expression."""
    expr: BooleanExpression = AlwaysTrue()
    for col, v in (equal or {}).items():
        expr = And(expr, In(col, list(v)) if isinstance(v, list | tuple | set) else EqualTo(col, v))
    for col, v in (not_equal or {}).items():
        # "is distinct from": nulls are kept, as pandas' != keeps them
        expr = And(expr, Or(IsNull(col), NotIn(col, list(v)) if isinstance(v, list | tuple | set)
                            else NotEqualTo(col, v)))
    return expr


# ------------------------------------------------------------------ write
def _create(cat: Catalog, namespace: str, table: str, schema: pa.Schema, partition_expr: str | None) -> Table:
    try:
        tx = cat.create_table_transaction((namespace, table), schema=schema, properties=TABLE_PROPERTIES)
        if partition_expr:
            with tx.update_spec() as spec:
                spec.add_field(partition_expr, DayTransform(), f"{partition_expr}_day")
        tx.commit_transaction()
    except (TableAlreadyExistsError, CommitFailedException):
        pass  # another step created it first: write into theirs
    return cat.load_table((namespace, table))


def _evolve(tbl: Table, data: pa.Table) -> tuple[Table, list[str], list[str]]:
    """Add the frame's new columns to the table; returns it with (added, no longer written) columns."""
    stored = {f.name for f in tbl.schema().fields}
    added = [f.name for f in data.schema if f.name not in stored]
    if added:
        with tbl.update_schema() as update:
            update.union_by_name(pa.schema([data.schema.field(c) for c in added]))
        tbl = tbl.refresh()
    gone = [c for c in stored if c not in data.schema.names]
    return tbl, added, gone


def _conform(tbl: Table, data: pa.Table, table: str) -> pa.Table:
    """The frame in the table's column order and types; a stored column it lacks is null."""
    target = tbl.schema().as_arrow()
    cols = []
    for f in target:
        if f.name in data.schema.names:
            col = data.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueError(f"{table}: column {f.name!r} is stored as {f.type} but the asset wrote "
                                     f"{col.type} that does not convert ({exc})") from None
            cols.append(col)
        else:
            cols.append(pa.nulls(len(data), f.type))
    return pa.Table.from_arrays(cols, schema=target)


def write(cat: Catalog, namespace: str, table: str, frame: pd.DataFrame, partition_expr: str | None = None,
          window: tuple[pd.Timestamp, pd.Timestamp] | None = None, log=None) -> None:
    """Replace ``window`` ([start, end) of ``partition_expr``; the whole table without one) by ``frame``
    in one commit, creating the table (partitioned by day) or adding new columns first."""
    if window is not None:
        day = pd.to_datetime(frame[partition_expr])
        outside = frame[(day < window[0]) | (day >= window[1]) | day.isna()]
        if len(outside):
            raise ValueError(f"{table}: {len(outside)} row(s) have {partition_expr} outside the run's window "
                             f"[{window[0].date()}, {window[1].date()}), e.g. {outside[partition_expr].head(3).tolist()}; "
                             "they would never be replaced by a rerun")
    data = to_arrow(frame, table)
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        tbl = load(cat, namespace, table) or _create(cat, namespace, table, data.schema,
                                                     partition_expr if window is not None else None)
        try:
            tbl, added, gone = _evolve(tbl, data)
            where = window_filter(tbl, partition_expr, *window) if window is not None else AlwaysTrue()
            with warnings.catch_warnings():  # a first write of a window has nothing to delete
                warnings.filterwarnings("ignore", message="Delete operation did not match any records")
                tbl.overwrite(_conform(tbl, data, table), overwrite_filter=where)
        except CommitFailedException as exc:
            if attempt == COMMIT_ATTEMPTS:
                raise
            if log:
                log.info(f"{namespace}.{table}: commit lost a race ({exc}); retry {attempt}")
            time.sleep(random.uniform(0.05, 0.5) * attempt)
            continue
        if log and added:
            log.warning(f"{table}: added column(s) {', '.join(added)}; rows stored before hold NULL there "
                        "until their partitions are materialized again")
        if log and gone:
            log.warning(f"{table}: column(s) {', '.join(gone)} are no longer written; the new rows hold NULL there")
        return


# ------------------------------------------------------------------ read
def read(cat: Catalog, namespace: str, table: str, columns: Sequence[str] | None = None,
         partition_expr: str = "report_date", window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
         equal: Mapping | None = None, not_equal: Mapping | None = None) -> pd.DataFrame | None:
    """Rows of ``window`` (all without one) matching the filters, only ``columns`` (Iceberg prunes the
    other days' files and reads only those columns); None when the table does not exist."""
    tbl = load(cat, namespace, table)
    if tbl is None:
        return None
    where = structured_filter(equal, not_equal)
    if window is not None:
        where = And(where, window_filter(tbl, partition_expr, *window))
    fields = tuple(columns) if columns else ("*",)
    stored = {f.name for f in tbl.schema().fields}
    missing = [c for c in columns or [] if c not in stored]
    if missing:
        raise ValueError(f"{namespace}.{table} has no column(s) {missing}")
    data = tbl.scan(row_filter=where, selected_fields=fields).to_arrow()
    if partition_expr in data.schema.names and data.num_rows:
        # files come in manifest order: day order (each day's rows as written) makes a load, and the
        # floating-point sums over it, the same whatever order the days were committed in
        data = data.take(pa.compute.sort_indices(data, sort_keys=[(partition_expr, "ascending")]))
    return to_frame(data)

