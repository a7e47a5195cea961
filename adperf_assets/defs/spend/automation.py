"""Spend's morning refresh: networks revise recent days, so the last ``spend_trailing_days`` report
days are pulled again in one run and replace the stored days (same rows unless the network changed them)."""

import dagster as dg

from adperf_assets.defs.common.schedules import trailing_refresh_schedule
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()

spend_refresh_job = dg.define_asset_job(
    "spend_refresh_job",
    selection=dg.AssetSelection.assets(["raw", "fx_rates"], *(n.asset_key for n in NETWORKS), "ad_spend"),
    partitions_def=daily_partitions,
    description="Re-pull spend (and the FX rates it converts with) for a window of report days in one run.",
)

spend_trailing_refresh_schedule = trailing_refresh_schedule(
    "spend", spend_refresh_job, _settings.spend_refresh_cron, _settings.spend_trailing_days, _settings.report_timezone, daily_partitions,
    what="re-pulling spend")
