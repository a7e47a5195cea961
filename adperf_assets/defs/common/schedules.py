"""Morning refreshes of a source: one run over the trailing window of report days, which networks
and app stores revise (late conversions, billing corrections, refunds)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

# Dagster's run tags for one run over a range of partitions (what `dagster asset materialize
# --partition-range` and single-run backfills set); RunRequest takes no range argument of its own.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def trailing_partition_range(today: date, days: int, partitions: dg.DailyPartitionsDefinition) -> tuple[str, str] | None:
    """Partition keys [today - days, today - 1], clipped to the partitions that exist; None if empty."""
    if days < 1:
        raise ValueError(f"the trailing window needs at least one day, got {days}")
    first = max(today - timedelta(days=days), partitions.start.date())
    last = today - timedelta(days=1)
    if partitions.end is not None:
        last = min(last, partitions.end.date() - timedelta(days=1))
    if last < first:
        return None
    return first.isoformat(), last.isoformat()


def report_today(when: datetime | None, report_tz: str) -> date:
    """The report zone's calendar day at ``when`` (now if None)."""
    tz = ZoneInfo(report_tz)
    return (when.astimezone(tz) if when is not None else datetime.now(tz)).date()


def trailing_refresh_schedule(name: str, job, cron: str, days: int, report_tz: str,
                              partitions: dg.DailyPartitionsDefinition, what: str) -> dg.ScheduleDefinition:
    """``<name>_trailing_refresh_schedule``: each morning one run of ``job`` over the last ``days`` report
    days (it starts running)."""

    @dg.schedule(name=f"{name}_trailing_refresh_schedule", job=job, cron_schedule=cron, execution_timezone=report_tz,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Each morning, one run {what} for the last {days} report days.")
    def _schedule(context: dg.ScheduleEvaluationContext):
        today = report_today(context.scheduled_execution_time, report_tz)
        window = trailing_partition_range(today, days, partitions)
        if window is None:
            return dg.SkipReason(f"no {name} partitions in the {days} days before {today}")
        first, last = window
        return dg.RunRequest(run_key=f"{name}_trailing_{first}_{last}",
                             tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last,
                                   "adperf/trigger": f"{name}_trailing_refresh"})

    return _schedule
