"""What every asset and check shows in the UI: owners, a table of the first rows, a day-range label,
a figure, and a check result that lists the failing rows."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from adperf_assets.defs.common.money import to_stored
from adperf_assets.ltv.plots import to_markdown_image

OWNERS = ["team:marketing-data"]
#: Rows of a failing check (or a preview) shown in the metadata; the count is always given in full.
MAX_LISTED = 20


def table_md(rows: pd.DataFrame, n: int = MAX_LISTED, columns: list[str] | None = None) -> dg.MetadataValue:
    """The first ``n`` rows as a markdown table (dates as YYYY-MM-DD, money named in the reporting currency),
    ``_none_`` when there are none."""
    if rows.empty:
        return dg.MetadataValue.md("_none_")
    shown = rows[[c for c in columns if c in rows.columns]] if columns else rows
    shown = to_stored(shown.head(n).copy())
    for c in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[c]):
            shown[c] = shown[c].dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def days_label(days: list[pd.Timestamp]) -> str:
    """``2026-03-01`` for one day, ``2026-03-01..2026-03-07`` for a run over several."""
    first, last = days[0].date(), days[-1].date()
    return str(first) if first == last else f"{first}..{last}"


def figure_md(fig, alt: str) -> dg.MetadataValue:
    """A matplotlib figure as an inline PNG the UI's markdown renders."""
    return dg.MetadataValue.md(to_markdown_image(fig, alt))


def rows_check_result(bad: pd.DataFrame, what: str, **extra) -> dg.AssetCheckResult:
    """Passed when ``bad`` is empty; else ``len(bad)`` and ``what`` in the description, the rows listed."""
    return dg.AssetCheckResult(passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
                               description=None if bad.empty else f"{len(bad)} {what}",
                               metadata={"failing_rows": len(bad), "rows": table_md(bad), **extra})


def _is_heavy(value) -> bool:
    """A value that describes the run, not one day: previews, tables, figures, JSON, a column schema."""
    return isinstance(value, dg.MarkdownMetadataValue | dg.JsonMetadataValue | dg.TableSchemaMetadataValue)


def output_metadata(context: dg.OutputContext, obj: pd.DataFrame, storage_kind: str) -> None:
    """The IO managers' metadata of a stored table: row counts, storage kind, column schema.

    A range run (a backfill of several days in one run) stores one materialization per day, and Dagster
    copies the run's metadata onto each. So there each day's event gets its own row count
    (``dagster/partition_row_count``, by the asset's ``partition_expr`` column), and the heavy values
    (previews, figures, JSON, the column schema) only the last day's -- the asset's latest materialization,
    where the UI shows them; the other days name that day instead. Before: a 60-day run stored each
    figure 60 times (benchmarks/README.md)."""
    schema = dg.MetadataValue.table_schema(
        dg.TableSchema(columns=[dg.TableColumn(name=str(n), type=str(t)) for n, t in obj.dtypes.items()]))
    keys = list(context.asset_partition_keys) if context.has_asset_partitions else []
    if len(keys) <= 1:
        rows = "dagster/partition_row_count" if context.has_partition_key else "dagster/row_count"
        context.add_output_metadata({rows: len(obj), "dagster/storage_kind": storage_kind,
                                     "dataframe_columns": schema})
        return
    context.add_output_metadata({"dagster/row_count": len(obj), "dagster/storage_kind": storage_kind})
    expr = (context.definition_metadata or {}).get("partition_expr")
    if len(obj) and expr not in obj.columns:
        raise ValueError(f"{context.asset_key.to_user_string()}: a range run's rows need the partition_expr "
                         f"column {expr!r} (columns: {list(obj.columns)})")
    # counted per date, then the few dates formatted as daily partition keys (not each of millions of rows)
    per_day = pd.to_datetime(obj[expr]).value_counts() if len(obj) else pd.Series(dtype="int64")
    per_day.index = pd.DatetimeIndex(per_day.index).strftime("%Y-%m-%d")
    heavy = [k for k, v in context.output_metadata.items() if _is_heavy(v)]
    pointer = dg.MetadataValue.md(f"_on the materialization of {keys[-1]}, this run's last day_")
    step = context.step_context
    for key in keys:
        day = {"dagster/partition_row_count": int(per_day.get(key, 0))}
        if key == keys[-1]:
            day["dataframe_columns"] = schema
        else:
            day.update({k: pointer for k in heavy})
        step.add_asset_metadata(day, asset_key=context.asset_key, partition_key=key)
