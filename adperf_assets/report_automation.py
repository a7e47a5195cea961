"""Orchestration of the daily report: morning source refreshes, the sensor that materializes the
report when a day's inputs are ready, and freshness policies on the sources.

Each morning (report time zone) the sources are refreshed by schedules — spend by
``spend_trailing_refresh_schedule`` (``automation.py``), and here:

- ``revenue_trailing_refresh_schedule``: ``payments_snapshot``, ``match_sessions``,
  ``behavior_value`` re-taken for the last ``ADPERF_REVENUE_TRAILING_DAYS`` (28) days in ONE run, so
  refunds and chargebacks that arrived late are netted onto their purchase day and re-credited;
- ``attribution_daily_schedule``: ``installs`` and ``user_segments`` of yesterday.

No blind cron for the report: ``roas_report_sensor`` looks at the last few report days and
requests ``roas_report_job`` (the report, the non-source assets it needs — the LTV chain — and
the Slack steps) for day D when every *source* input of that job (an asset outside it that it
reads: ad_spend, installs, user_segments, behavior_value, payments_snapshot, ...) has partition D
materialized and every *blocking* check of that partition has passed on its latest
materialization. It requests D again when a source of D is re-materialized later (the trailing
refreshes); the run key names the newest source materialization, so a state is requested once.

Freshness: every source asset (groups spend, revenue, attribution) gets a
``FreshnessPolicy.cron`` — materialized in the 24 hours before ``ADPERF_SOURCES_DEADLINE_HOUR``
(default 9) o'clock in the report time zone — and ``roas_report`` one with
``ADPERF_REPORT_DEADLINE_HOUR`` (default 10). Dagster's freshness daemon (on by default in 1.13)
evaluates them; stale assets show in the UI and emit freshness events.
"""

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dagster._time import get_current_datetime

from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import load_settings

SOURCE_GROUPS = ("spend", "revenue", "attribution")
REVENUE_TRAILING_DAYS = int(os.environ.get("ADPERF_REVENUE_TRAILING_DAYS", "28"))
SOURCES_CRON = os.environ.get("ADPERF_SOURCES_CRON", "0 6 * * *")
SOURCES_DEADLINE_HOUR = int(os.environ.get("ADPERF_SOURCES_DEADLINE_HOUR", "9"))
REPORT_DEADLINE_HOUR = int(os.environ.get("ADPERF_REPORT_DEADLINE_HOUR", "10"))
SENSOR_LOOKBACK_DAYS = int(os.environ.get("ADPERF_REPORT_SENSOR_LOOKBACK_DAYS", "3"))
REPORT = dg.AssetKey("roas_report")
SLACK_ASSETS = [dg.AssetKey("roas_report_slack"), dg.AssetKey("roas_milestones_slack")]
SOURCES = dg.AssetSelection.groups(*SOURCE_GROUPS)


def _tz() -> str:
    return load_settings().report_timezone


# ------------------------------------------------------------------------------ morning sources
revenue_refresh_job = dg.define_asset_job(
    "revenue_refresh_job",
    selection=dg.AssetSelection.assets("payments_snapshot", "match_sessions", "behavior_value"),
    partitions_def=daily_partitions,
    description="Re-snapshot payments and re-credit behaviour value for a window of report days in one run.",
)

attribution_daily_job = dg.define_asset_job(
    "attribution_daily_job",
    selection=dg.AssetSelection.assets("installs", "user_segments"),
    partitions_def=daily_partitions,
    description="Yesterday's installs (MMP export) and user segments.",
)


@dg.schedule(name="revenue_trailing_refresh_schedule", job=revenue_refresh_job, cron_schedule=SOURCES_CRON,
             execution_timezone=_tz(),
             description=f"Each morning, one run re-taking payments and behaviour credit for the last "
                         f"{REVENUE_TRAILING_DAYS} report days.")
def revenue_trailing_refresh_schedule(context: dg.ScheduleEvaluationContext):
    from adperf_assets.automation import report_today, trailing_partition_range

    today = report_today(context.scheduled_execution_time, _tz())
    window = trailing_partition_range(today, REVENUE_TRAILING_DAYS, daily_partitions)
    if window is None:
        return dg.SkipReason(f"no revenue partitions in the {REVENUE_TRAILING_DAYS} days before {today}")
    first, last = window
    return dg.RunRequest(run_key=f"revenue_trailing_{first}_{last}",
                         tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
                               "adperf/trigger": "revenue_trailing_refresh"})


@dg.schedule(name="attribution_daily_schedule", job=attribution_daily_job, cron_schedule=SOURCES_CRON,
             execution_timezone=_tz(), description="Each morning, yesterday's installs and user segments.")
def attribution_daily_schedule(context: dg.ScheduleEvaluationContext):
    from adperf_assets.automation import report_today, trailing_partition_range

    today = report_today(context.scheduled_execution_time, _tz())
    window = trailing_partition_range(today, 1, daily_partitions)
    if window is None:
        return dg.SkipReason(f"no attribution partition for the day before {today}")
    return dg.RunRequest(run_key=f"attribution_{window[1]}", partition_key=window[1],
                         tags={"adperf/trigger": "attribution_daily"})


# ------------------------------------------------------------------------------ the report run
def report_selection() -> dg.AssetSelection:
    """The report, every non-source asset it needs (the LTV chain), and the Slack steps."""
    needed = (dg.AssetSelection.assets(REPORT).upstream() - SOURCES).required_multi_asset_neighbors()
    return needed | dg.AssetSelection.assets(*SLACK_ASSETS)


roas_report_job = dg.define_asset_job(
    "roas_report_job",
    selection=report_selection(),
    partitions_def=daily_partitions,
    description="The day's LTV estimates, ROAS report (with its blocking checks) and Slack messages.",
)


@dataclass
class DayReadiness:
    """Whether report day ``day`` can run: its source partitions and their blocking checks."""

    day: str
    waiting: list[str] = field(default_factory=list)  # human-readable reasons
    newest_source_storage_id: int = 0
    report_storage_id: int | None = None

    @property
    def ready(self) -> bool:
        return not self.waiting

    @property
    def up_to_date(self) -> bool:
        return self.report_storage_id is not None and self.report_storage_id > self.newest_source_storage_id


def source_inputs(asset_graph, job_keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Assets outside the report job that its assets read (the sources of a report day)."""
    out = set()
    for key in job_keys:
        out |= {p for p in asset_graph.get(key).parent_keys if p not in job_keys}
    return out


def _latest_materialization_id(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                              limit=1).records
    return records[0].storage_id if records else None


def day_readiness(instance: dg.DagsterInstance, asset_graph, job_keys: set[dg.AssetKey], day: str) -> DayReadiness:
    state = DayReadiness(day)
    for key in sorted(source_inputs(asset_graph, job_keys), key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        mat = _latest_materialization_id(instance, key, day)
        if mat is None:
            state.waiting.append(f"{name} not materialized")
            continue
        state.newest_source_storage_id = max(state.newest_source_storage_id, mat)
        blocking = [c for c in asset_graph.get_check_keys_for_assets({key}) if asset_graph.get_check_spec(c).blocking]
        if not blocking:
            continue
        infos = {i.check_key: i for i in instance.event_log_storage.get_asset_check_partition_info(
            blocking, partition_keys=[day])}
        for check_key in sorted(blocking, key=lambda c: c.name):
            info = infos.get(check_key)
            if info is None or info.latest_target_materialization_storage_id != mat:
                state.waiting.append(f"{name}: check {check_key.name} not run on the latest materialization")
            elif info.latest_execution_status != AssetCheckExecutionRecordStatus.SUCCEEDED:
                state.waiting.append(f"{name}: check {check_key.name} {info.latest_execution_status.value.lower()}")
    state.report_storage_id = _latest_materialization_id(instance, REPORT, day)
    return state


def candidate_days(now: datetime, lookback: int = SENSOR_LOOKBACK_DAYS) -> list[str]:
    """The last ``lookback`` complete report days (partitions that exist at ``now``), oldest first."""
    keys = daily_partitions.get_partition_keys(current_time=now)
    return list(keys[-lookback:]) if lookback > 0 else []


@dg.sensor(name="roas_report_sensor", job=roas_report_job, minimum_interval_seconds=300,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests the report of a day once all of that day's source inputs are materialized and "
                       "their blocking checks passed (again when a source of the day is refreshed).")
def roas_report_sensor(context: dg.SensorEvaluationContext):
    repo = context.repository_def
    asset_graph = repo.asset_graph
    job_keys = set(report_selection().resolve(asset_graph))
    now = get_current_datetime()
    requests, notes = [], []
    for day in candidate_days(now):
        state = day_readiness(context.instance, asset_graph, job_keys, day)
        if not state.ready:
            notes.append(f"{day}: waiting — " + "; ".join(state.waiting[:6])
                         + (f" (+{len(state.waiting) - 6} more)" if len(state.waiting) > 6 else ""))
            continue
        if state.up_to_date:
            notes.append(f"{day}: report is newer than its inputs")
            continue
        requests.append(dg.RunRequest(run_key=f"roas_report_{day}_{state.newest_source_storage_id}",
                                      partition_key=day, tags={"adperf/trigger": "roas_report_sensor"}))
    for note in notes:
        context.log.info(note)
    if not requests:
        return dg.SkipReason(" | ".join(notes) or "no report days yet")
    return dg.SensorResult(run_requests=requests)


# ------------------------------------------------------------------------------ freshness
def source_freshness_policy(deadline_hour: int = SOURCES_DEADLINE_HOUR) -> dg.FreshnessPolicy:
    """Materialized within the 24 hours before ``deadline_hour``:00 (report time zone) each day."""
    if not 0 <= deadline_hour <= 23:
        raise ValueError(f"freshness deadline hour {deadline_hour} is not an hour of the day (0-23)")
    return dg.FreshnessPolicy.cron(deadline_cron=f"0 {deadline_hour} * * *", lower_bound_delta=timedelta(hours=24),
                                   timezone=_tz())


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the sources' and the report's freshness policies (kept where an asset has its own)."""
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: spec if spec.freshness_policy else dg.apply_freshness_policy(spec, source_freshness_policy()),
        selection=SOURCES)
    return defs.map_resolved_asset_specs(
        func=lambda spec: spec if spec.freshness_policy else dg.apply_freshness_policy(
            spec, source_freshness_policy(REPORT_DEADLINE_HOUR)),
        selection=dg.AssetSelection.assets(REPORT))


jobs = [revenue_refresh_job, attribution_daily_job, roas_report_job]
schedules = [revenue_trailing_refresh_schedule, attribution_daily_schedule]
sensors = [roas_report_sensor]
