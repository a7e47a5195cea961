"""Attribution's morning run: yesterday's installs (the MMP export) and user segments."""

import dagster as dg

from adperf_assets.defs.common.schedules import report_today, trailing_partition_range
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()

attribution_daily_job = dg.define_asset_job(
    "attribution_daily_job",
    selection=dg.AssetSelection.assets("installs", "user_segments"),
    partitions_def=daily_partitions,
    description="Yesterday's installs (MMP export) and user segments.",
)


@dg.schedule(name="attribution_daily_schedule", job=attribution_daily_job, cron_schedule=_settings.sources_cron,
             execution_timezone=_settings.report_timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Each morning, yesterday's installs and user segments.")
def attribution_daily_schedule(context: dg.ScheduleEvaluationContext):
    today = report_today(context.scheduled_execution_time, _settings.report_timezone)
    window = trailing_partition_range(today, 1, daily_partitions)
    if window is None:
        return dg.SkipReason(f"no attribution partition for the day before {today}")
    return dg.RunRequest(run_key=f"attribution_{window[1]}", partition_key=window[1],
                         tags={"adperf/trigger": "attribution_daily"})
