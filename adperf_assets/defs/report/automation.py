"""When the day's report runs, and by when the sources and the report must be fresh.

``roas_report_job`` (the report, the LTV chain it needs, the scored calls, the budget actions and the
Slack steps) carries a declarative automation condition: a report day of the last
``report_sensor_lookback_days`` is requested once that day's partition of every source input is
materialized and its blocking checks passed on it, and again when a source of the day is materialized again (a lookback of 0 turns this off). Dagster's
``default_automation_condition_sensor`` evaluates it (it starts STOPPED: a job's condition can only be
given to that sensor through public APIs). Freshness policies give the sources and the report their
morning deadlines. Details: README, "Automation".
"""

from datetime import timedelta
from functools import reduce
from operator import and_, or_

import dagster as dg

from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()
SOURCE_GROUPS = ("spend", "revenue", "attribution")
REPORT = dg.AssetKey("roas_report")
SLACK_ASSETS = [dg.AssetKey("roas_report_slack"), dg.AssetKey("roas_milestones_slack")]
#: Read by the Slack message (how often the calls were right), so part of the report run; and the day's
#: budget actions (a dry run unless configured otherwise), planned from the report and the back-test.
BACKTEST = dg.AssetKey("decision_backtest")
ACTIONS = dg.AssetKey("budget_actions")
SOURCES = dg.AssetSelection.groups(*SOURCE_GROUPS)
#: The sources the report job reads (``source_inputs`` of the graph; a test keeps the two equal).
#: Listed, not derived, because the job's condition is built when this module is imported, before
#: the asset graph exists.
REPORT_SOURCE_INPUTS = [dg.AssetKey(k) for k in
                        ("ad_spend", "behavior_value", "installs", "payments_snapshot", "user_segments")]


# ------------------------------------------------------------------------------ the report run
def report_selection() -> dg.AssetSelection:
    """The report, every non-source asset it needs (the LTV chain), and the Slack steps."""
    needed = (dg.AssetSelection.assets(REPORT).upstream() - SOURCES).required_multi_asset_neighbors()
    return needed | dg.AssetSelection.assets(BACKTEST, ACTIONS, *SLACK_ASSETS)


def source_inputs(asset_graph, job_keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Assets outside the report job that its assets read (the sources of a report day)."""
    out = set()
    for key in job_keys:
        out |= {p for p in asset_graph.get(key).parent_keys if p not in job_keys}
    return out


def _same_day(key: dg.AssetKey, condition: dg.AutomationCondition) -> dg.AutomationCondition:
    """``condition`` on the report day's own partition of ``key``.

    Evaluated from the job, which has no partition mappings, so day D of the job is day D of
    ``key`` — not the trailing window (up to 400 days) the job's assets read from it.
    """
    return dg.AutomationCondition.asset_matches(key, condition)


def report_day_condition(lookback_days: int = _settings.report_sensor_lookback_days,
                         sources: list[dg.AssetKey] = REPORT_SOURCE_INPUTS) -> dg.AutomationCondition:
    """True for a report day (a partition of the job) when the job should run for it."""
    AC = dg.AutomationCondition
    # A check run on the day alone records a result for the day (passed / failed). A run over a range
    # of days (backfill, trailing refresh) records one result for the whole range, and Dagster leaves
    # each day of it "skipped" when the run succeeded, "execution failed" when it failed (a failed
    # blocking check fails the run). So: an execution on the day's latest materialization that
    # neither failed nor is still running. A materialization without its checks has none and waits —
    # except where the day's last check execution was such a range result: Dagster keeps it "skipped"
    # after a later runless or range materialization without checks (the schedules always run the checks).
    check_ok = (~AC.missing() & ~AC.in_progress() & ~AC.check_failed() & ~AC.execution_failed()) \
        .with_label("run on the latest materialization, not failed")
    source_ready = (~AC.missing() & AC.all_checks_match(check_ok, blocking_only=True)) \
        .with_label("materialized, blocking checks passed")
    inputs_ready = reduce(and_, [_same_day(k, source_ready) for k in sources]).with_label("day's sources ready")
    changed = reduce(or_, [_same_day(REPORT, AC.missing().newly_true().with_label("report newly missing")),
                           *[_same_day(k, AC.newly_updated()) for k in sources]]).with_label("report missing or a source updated")
    handled = (AC.newly_requested() | _same_day(REPORT, AC.newly_updated())).with_label("requested or report updated")
    return (
        AC.in_latest_time_window(timedelta(days=lookback_days))
        & changed.since(handled).with_label("not handled since")
        & inputs_ready
        # no run of the day under way (Dagster also requires a job's condition to look at its roots)
        & AC.all_job_root_assets_match(~AC.in_progress())
        & ~_same_day(REPORT, AC.in_progress()).with_label("report in progress")
    ).with_label("report day ready")


roas_report_job = dg.define_asset_job(
    "roas_report_job",
    selection=report_selection(),
    partitions_def=daily_partitions,
    description="The day's LTV estimates, ROAS report (with its blocking checks), the scored calls, the budget "
                "actions (dry run by default) and Slack messages.",
    automation_condition=report_day_condition() if _settings.report_sensor_lookback_days > 0 else None,
)


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


