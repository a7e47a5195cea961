"""Each shared table's schema, declared once as a dagster-pandas DataFrame type.

Assets use these as their output type (``@dg.asset(dagster_type=...)``), so a missing column,
a wrong dtype, a null id or a negative cost fails at the asset boundary with the column named.
One module per domain; ``table_columns`` gives the column list for tests and SQL.
"""

from __future__ import annotations

import warnings

from dagster import BetaWarning
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import ColumnDTypeFnConstraint, NonNullableColumnConstraint
from pandas.api.types import is_datetime64_dtype

# dagster-pandas marks its column API beta; we pin the minor version, so the notice is noise.
warnings.filterwarnings("ignore", category=BetaWarning, module=r"dagster_pandas\..*")
warnings.filterwarnings("ignore", category=BetaWarning, module=r"adperf_assets\.schemas.*")

# Shorthands so each schema reads as a column list.
def date_col(name: str, nullable: bool = False) -> PandasColumn:
    """A naive datetime64 column of any resolution (pandas 2 yields s/us/ns depending on the source)."""
    constraints = [ColumnDTypeFnConstraint(is_datetime64_dtype)]
    if not nullable:
        constraints.append(NonNullableColumnConstraint())
    return PandasColumn(name=name, constraints=constraints)


def str_col(name: str, nullable: bool = False, **kw) -> PandasColumn:
    return PandasColumn.string_column(name, non_nullable=not nullable, **kw)


def int_col(name: str, min_value: int | None = 0, nullable: bool = False, **kw) -> PandasColumn:
    lo = float("-inf") if min_value is None else min_value
    return PandasColumn.integer_column(name, min_value=lo, non_nullable=not nullable, **kw)


def float_col(name: str, min_value: float | None = None, max_value: float | None = None, nullable: bool = False, **kw) -> PandasColumn:
    return PandasColumn.float_column(
        name,
        min_value=float("-inf") if min_value is None else min_value,
        max_value=float("inf") if max_value is None else max_value,
        non_nullable=not nullable,
        **kw,
    )


def bool_col(name: str, **kw) -> PandasColumn:
    return PandasColumn.boolean_column(name, non_nullable=True, **kw)


def frame_type(name: str, description: str, columns: list[PandasColumn]):
    t = create_dagster_pandas_dataframe_type(name=name, description=description, columns=columns)
    t.column_names = [c.name for c in columns]  # handy for tests and SQL
    return t


def table_columns(frame) -> list[str]:
    return list(frame.column_names)
