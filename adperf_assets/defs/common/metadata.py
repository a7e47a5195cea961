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
