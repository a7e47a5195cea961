"""When the day's report runs, and by when the sources and the report must be fresh.

``roas_report_sensor`` requests ``roas_report_job`` (the report, the LTV chain it needs, the Slack
steps) for a report day once every source input of that day is materialized and its blocking checks
passed, and again when a source of the day is refreshed; freshness policies give the sources and the
report their morning deadlines. Details: README, "Automation".
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from dagster._time import get_current_datetime

from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()
SOURCE_GROUPS = ("spend", "revenue", "attribution")
REPORT = dg.AssetKey("roas_report")
SLACK_ASSETS = [dg.AssetKey("roas_report_slack"), dg.AssetKey("roas_milestones_slack")]
SOURCES = dg.AssetSelection.groups(*SOURCE_GROUPS)


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


def _latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str):
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                              limit=1).records
    return records[0] if records else None


def _check_outcome(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, day: str, mat_id: int,
                   mat_run_id: str, run_evaluations: dict) -> str | None:
    """'passed', 'failed' or None (not evaluated) for the check on the day's latest materialization.

    A one-day run evaluates a partitioned check for its partition; a single run over a range of
    days (backfill, trailing refresh) evaluates it once for the whole range, without a partition —
    that evaluation, in the run that wrote the day, counts for the day.
    """
    infos = instance.event_log_storage.get_asset_check_partition_info([check_key], partition_keys=[day])
    info = infos[0] if infos else None
    if info is not None and info.latest_target_materialization_storage_id == mat_id:
        if info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED:
            return "passed"
        if info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED:
            return "failed"
    if mat_run_id not in run_evaluations:
        run_evaluations[mat_run_id] = {}
        for entry in instance.all_logs(mat_run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            ev = entry.dagster_event.event_specific_data
            run_evaluations[mat_run_id][ev.asset_check_key] = ev
    ev = run_evaluations[mat_run_id].get(check_key)
    if ev is None or ev.partition not in (None, day):
        return None
    return "passed" if ev.passed else "failed"


def day_readiness(instance: dg.DagsterInstance, asset_graph, job_keys: set[dg.AssetKey], day: str) -> DayReadiness:
    state = DayReadiness(day)
    run_evaluations: dict = {}
    for key in sorted(source_inputs(asset_graph, job_keys), key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        record = _latest_materialization(instance, key, day)
        if record is None:
            state.waiting.append(f"{name} not materialized")
            continue
        state.newest_source_storage_id = max(state.newest_source_storage_id, record.storage_id)
        blocking = [c for c in asset_graph.get_check_keys_for_assets({key}) if asset_graph.get_check_spec(c).blocking]
        for check_key in sorted(blocking, key=lambda c: c.name):
            outcome = _check_outcome(instance, check_key, day, record.storage_id, record.run_id, run_evaluations)
            if outcome is None:
                state.waiting.append(f"{name}: check {check_key.name} not run on the latest materialization")
            elif outcome == "failed":
                state.waiting.append(f"{name}: check {check_key.name} failed")
    report = _latest_materialization(instance, REPORT, day)
    state.report_storage_id = report.storage_id if report else None
    return state


def candidate_days(now: datetime, lookback: int = _settings.report_sensor_lookback_days) -> list[str]:
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
def source_freshness_policy(deadline_hour: int = _settings.sources_deadline_hour) -> dg.FreshnessPolicy:
    """Materialized within the 24 hours before ``deadline_hour``:00 (report time zone) each day."""
    if not 0 <= deadline_hour <= 23:
        raise ValueError(f"freshness deadline hour {deadline_hour} is not an hour of the day (0-23)")
    return dg.FreshnessPolicy.cron(deadline_cron=f"0 {deadline_hour} * * *", lower_bound_delta=timedelta(hours=24),
                                   timezone=_settings.report_timezone)


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the sources' and the report's freshness policies (kept where an asset has its own)."""
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: spec if spec.freshness_policy else dg.apply_freshness_policy(spec, source_freshness_policy()),
        selection=SOURCES)
    return defs.map_resolved_asset_specs(
        func=lambda spec: spec if spec.freshness_policy else dg.apply_freshness_policy(
            spec, source_freshness_policy(_settings.report_deadline_hour)),
        selection=dg.AssetSelection.assets(REPORT))


