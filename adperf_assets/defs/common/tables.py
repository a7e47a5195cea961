"""The asset decorator of a daily table: one partition per report day, stored by the IO manager and
partitioned by its date column; a run may span any number of days (single-run backfills)."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.common.metadata import OWNERS
from adperf_assets.partitions import daily_partitions, single_run


def daily_table(*, group_name: str, dagster_type=None, partition_expr: str = "report_date",
                kinds: tuple[str, ...] = ("pandas", "duckdb"), backfill_policy: dg.BackfillPolicy = single_run,
                **kwargs):
    """``@dg.asset`` for a table of report days (``kwargs``: ``ins``, ``key_prefix``, ``name`` ...)."""
    return dg.asset(group_name=group_name, partitions_def=daily_partitions, backfill_policy=backfill_policy,
                    dagster_type=dagster_type, metadata={"partition_expr": partition_expr}, kinds=set(kinds),
                    owners=OWNERS, **kwargs)
