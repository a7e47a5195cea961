"""Table-by-table comparison of two table stores (the DuckDB file and an Iceberg catalog)."""

import numpy as np
import pandas as pd

from adperf_assets.defs.common.table_store import TableStore

#: written row by row outside the IO manager (delivery logs, local to a step's home): not asset tables
LOGS = {"slack_milestones_sent", "budget_action_log"}
#: columns that differ by run, not by what was computed (random ids)
PER_RUN = {"budget_actions": ["action_id"]}


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[sorted(frame.columns)].copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(out[c]) or out[c].dtype == object:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        elif pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(float)
    keys = list(out.columns)
    return out.sort_values(keys, na_position="last", kind="mergesort").reset_index(drop=True)


def rows(store: TableStore, table: str, before: pd.Timestamp | None = None) -> pd.DataFrame:
    frame = store.read(table, None).drop(columns=PER_RUN.get(table, []), errors="ignore")
    # the partition column (skan_postbacks: the postbacks' arrival day)
    day = next((c for c in ("report_date", "install_date", "arrival_date") if c in frame.columns), None)
    if before is not None and day:
        frame = frame[pd.to_datetime(frame[day]) < before]
    return _normalised(frame)


def differences(reference: TableStore, other: TableStore, before: pd.Timestamp | None = None) -> dict[str, str]:
    """Per table, why ``other`` differs from ``reference`` (rows before ``before``); {} when equal."""
    names = set(reference.table_names()) - LOGS
    out = {}
    missing = names - set(other.table_names())
    extra = set(other.table_names()) - names - LOGS
    for t in sorted(missing):
        out[t] = "missing"
    for t in sorted(extra):
        out[t] = "not in the reference"
    for t in sorted(names - missing):
        a, b = rows(reference, t, before), rows(other, t, before)
        if list(a.columns) != list(b.columns):
            out[t] = f"columns {sorted(set(a.columns) ^ set(b.columns))}"
            continue
        if len(a) != len(b):
            out[t] = f"{len(a)} vs {len(b)} rows"
            continue
        for c in a.columns:
            x, y = a[c], b[c]
            if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
                same = np.allclose(x.to_numpy(), y.to_numpy(), rtol=1e-12, atol=0, equal_nan=True)
            else:
                same = x.equals(y)
            if not same:
                out[t] = f"column {c} differs"
                break
    return out
