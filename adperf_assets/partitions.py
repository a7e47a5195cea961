"""The one daily partitioning every dated asset shares: report-time-zone days."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from adperf_assets.settings import current_settings

_settings = current_settings()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.start_date.isoformat(),
    end_date=_settings.end_date.isoformat() if _settings.end_date else None,
    timezone=_settings.report_timezone,
    end_offset=0,
)

# Every daily asset accepts a window of days in one run, so a backfill of N days is one run
# (`dagster asset materialize --partition-range A...B`) instead of N.
single_run = dg.BackfillPolicy.single_run()


def capped(days: int, cap: int | None = None) -> int:
    """``days``, or ``ADPERF_WINDOW_CAP_DAYS`` when that is set and shorter (benchmarks only: full
    windows after a short warm-up; docs/ltv_btyd.md)."""
    cap = _settings.window_cap_days if cap is None else cap
    return min(days, cap) if cap else days


def trailing(days: int) -> dg.TimeWindowPartitionMapping:
    """Upstream partitions [D - days + 1, D] for partition D (clipped at the first partition): the
    bounded window a day reads, so a day's work never grows with the whole history."""
    return dg.TimeWindowPartitionMapping(start_offset=-(capped(days) - 1), allow_nonexistent_upstream_partitions=True)


def window_days(context) -> list[pd.Timestamp]:
    """The report days (naive midnights) of the run's partition window, oldest first."""
    w = context.partition_time_window
    start = pd.Timestamp(w.start).tz_localize(None)
    end = pd.Timestamp(w.end).tz_localize(None)
    return list(pd.date_range(start, end, freq="D", inclusive="left"))
