"""Spend's morning refresh: networks revise recent days, so the last ``spend_trailing_days`` report
days are pulled again in one run and replace the stored days (same rows unless the network changed them)."""

import dagster as dg

from adperf_assets.defs.common.schedules import trailing_refresh
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()

spend_refresh_job = dg.define_asset_job(
    "spend_refresh_job",
    selection=dg.AssetSelection.assets(["raw", "fx_rates"], ["raw", "facebook_spend"], ["raw", "google_ads_spend"],
                                       "ad_spend"),
    partitions_def=daily_partitions,
    description="Re-pull spend (and the FX rates it converts with) for a window of report days in one run.",
)


@dg.schedule(name="spend_trailing_refresh_schedule", job=spend_refresh_job, cron_schedule=_settings.spend_refresh_cron,
             execution_timezone=_settings.report_timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
             description=f"Each morning, one run re-pulling spend for the last {_settings.spend_trailing_days} "
                         f"report days.")
def spend_trailing_refresh_schedule(context: dg.ScheduleEvaluationContext):
    return trailing_refresh(context, "spend", _settings.spend_trailing_days, _settings.report_timezone,
                            daily_partitions)
