"""Revenue's morning refresh: payments are re-snapshotted and behaviour value re-credited for the
last ``revenue_trailing_days`` report days in one run, so late refunds and chargebacks are netted
onto their purchase day."""

import dagster as dg

from adperf_assets.defs.common.schedules import trailing_refresh_schedule
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()

revenue_refresh_job = dg.define_asset_job(
    "revenue_refresh_job",
    selection=dg.AssetSelection.assets("payments_snapshot", "match_sessions", "behavior_value"),
    partitions_def=daily_partitions,
    description="Re-snapshot payments and re-credit behaviour value for a window of report days in one run.",
)

revenue_trailing_refresh_schedule = trailing_refresh_schedule(
    "revenue", revenue_refresh_job, _settings.sources_cron, _settings.revenue_trailing_days, _settings.report_timezone, daily_partitions,
    what="re-taking payments and behaviour credit")
