"""Each shared table's schema, declared once as a dagster-pandas DataFrame type.

Assets use these as their output type (``@dg.asset(dagster_type=...)``), so a missing column,
a wrong dtype, a null id or a negative cost fails at the asset boundary with the column named.
One module per domain; ``table_columns`` gives the column list for tests and SQL.
"""

from __future__ import annotations

import warnings

import pandas as pd

import dagster as dg
from dagster import BetaWarning
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import ColumnDTypeFnConstraint, NonNullableColumnConstraint
from pandas.api.types import is_datetime64_dtype

from adperf_assets.defs.common.money import stored_name, to_stored

# dagster-pandas marks its column API beta; we pin the minor version, so the notice is noise.
warnings.filterwarnings("ignore", category=BetaWarning, module=r"dagster_pandas\..*")
warnings.filterwarnings("ignore", category=BetaWarning, module=r"adperf_assets\.schemas.*")

# Shorthands so each schema reads as a column list.
def date_col(name: str, nullable: bool = False) -> PandasColumn:
    """A naive datetime64 column of any resolution (pandas 2 yields s/us/ns depending on the source)."""
    constraints = [ColumnDTypeFnConstraint(is_datetime64_dtype)]
    if not nullable:
        constraints.append(NonNullableColumnConstraint())
    return _typed(PandasColumn(name=name, constraints=constraints), "datetime64[ns]")


def str_col(name: str, nullable: bool = False, **kw) -> PandasColumn:
    return _typed(PandasColumn.string_column(name, non_nullable=not nullable, **kw), "object")


def int_col(name: str, min_value: int | None = 0, nullable: bool = False, **kw) -> PandasColumn:
    lo = float("-inf") if min_value is None else min_value
    return _typed(PandasColumn.integer_column(name, min_value=lo, non_nullable=not nullable, **kw), "int64")


def float_col(name: str, min_value: float | None = None, max_value: float | None = None, nullable: bool = False, **kw) -> PandasColumn:
    return _typed(PandasColumn.float_column(
        name,
        min_value=float("-inf") if min_value is None else min_value,
        max_value=float("inf") if max_value is None else max_value,
        non_nullable=not nullable,
        **kw,
    ), "float64")


def bool_col(name: str, **kw) -> PandasColumn:
    return _typed(PandasColumn.boolean_column(name, non_nullable=True, **kw), "bool")


def _typed(column: PandasColumn, dtype: str) -> PandasColumn:
    column.empty_dtype = dtype  # what an empty frame of this schema holds in the column
    return column


def frame_type(name: str, description: str, columns: list[PandasColumn]):
    """The table's type, declared with the math's column names; it checks (and the UI shows) the columns
    as stored, money named in the reporting currency (``defs/common/money.py``)."""
    canonical = [c.name for c in columns]
    for c in columns:
        c.name = stored_name(c.name)
    stored = create_dagster_pandas_dataframe_type(name=name, description=description, columns=columns)
    t = dg.DagsterType(
        name=name, description=description, typing_type=pd.DataFrame,
        type_check_fn=lambda context, value: stored.type_check(
            context, to_stored(value) if isinstance(value, pd.DataFrame) else value),
    )
    t.column_names = canonical  # as the math and the tests name them
    t.empty_dtypes = {n: getattr(c, "empty_dtype", "object") for n, c in zip(canonical, columns)}
    return t


def table_columns(frame) -> list[str]:
    return list(frame.column_names)


def empty_frame(frame) -> pd.DataFrame:
    """A zero-row frame of a schema with the right dtypes (a day with no rows passes its type check)."""
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in frame.empty_dtypes.items()})
