"""Jobs, schedules and sensors of adperf (``definitions.py`` takes ``jobs``, ``schedules``, ``sensors``).

Spend: networks revise recent days (late conversions, billing corrections), so every morning
the last ``SPEND_TRAILING_DAYS`` report days (default 28, env ``ADPERF_SPEND_TRAILING_DAYS``) are
pulled again in ONE run over partitions [today - N, today - 1] (the spend assets are
single-run backfillable) and replace the stored days. Re-pulling a day gives the same rows
unless the network changed them.
"""

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.assets.fx import fx_rates
from adperf_assets.assets.spend import ad_spend, facebook_spend, google_ads_spend
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import load_settings

SPEND_TRAILING_DAYS = int(os.environ.get("ADPERF_SPEND_TRAILING_DAYS", "28"))
#: Local time (report zone) of the morning refresh: yesterday is over everywhere we report.
SPEND_REFRESH_CRON = os.environ.get("ADPERF_SPEND_REFRESH_CRON", "0 7 * * *")

spend_refresh_job = dg.define_asset_job(
    "spend_refresh_job",
    selection=dg.AssetSelection.assets(fx_rates, facebook_spend, google_ads_spend, ad_spend),
    partitions_def=daily_partitions,
    description="Re-pull spend (and the FX rates it converts with) for a window of report days in one run.",
)


def trailing_partition_range(today: date, days: int, partitions: dg.DailyPartitionsDefinition) -> tuple[str, str] | None:
    """Partition keys [today - days, today - 1], clipped to the partitions that exist; None if empty."""
    if days < 1:
        raise ValueError(f"the trailing window needs at least one day, got {days}")
    first = today - timedelta(days=days)
    last = today - timedelta(days=1)
    first = max(first, partitions.start.date())
    if partitions.end is not None:
        last = min(last, partitions.end.date() - timedelta(days=1))
    if last < first:
        return None
    return first.isoformat(), last.isoformat()


def report_today(when: datetime | None, report_tz: str) -> date:
    """The report zone's calendar day at ``when`` (now if None)."""
    tz = ZoneInfo(report_tz)
    return (when.astimezone(tz) if when is not None else datetime.now(tz)).date()


@dg.schedule(
    name="spend_trailing_refresh_schedule",
    job=spend_refresh_job,
    cron_schedule=SPEND_REFRESH_CRON,
    execution_timezone=load_settings().report_timezone,
    description=f"Each morning, one run re-pulling spend for the last {SPEND_TRAILING_DAYS} report days.",
)
def spend_trailing_refresh_schedule(context: dg.ScheduleEvaluationContext):
    today = report_today(context.scheduled_execution_time, load_settings().report_timezone)
    window = trailing_partition_range(today, SPEND_TRAILING_DAYS, daily_partitions)
    if window is None:
        return dg.SkipReason(f"no spend partitions in the {SPEND_TRAILING_DAYS} days before {today}")
    first, last = window
    return dg.RunRequest(
        run_key=f"spend_trailing_{first}_{last}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
              "adperf/trigger": "spend_trailing_refresh"},
    )


# the other sources' morning schedules, the report's sensor and freshness: adperf_assets.report_automation
from adperf_assets import report_automation  # noqa: E402  (it imports helpers above lazily)

jobs = [spend_refresh_job, *report_automation.jobs]
schedules = [spend_trailing_refresh_schedule, *report_automation.schedules]
sensors: list = [*report_automation.sensors]
