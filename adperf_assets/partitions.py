"""The one daily partitioning every dated asset shares: report-time-zone days."""

from __future__ import annotations

import dagster as dg

from adperf_assets.settings import load_settings

_settings = load_settings()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.start_date.isoformat(),
    end_date=_settings.end_date.isoformat() if _settings.end_date else None,
    timezone=_settings.report_timezone,
    end_offset=0,
)
