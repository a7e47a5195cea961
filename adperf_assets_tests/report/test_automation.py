"""The report job's automation condition on instances with and without a day's inputs, the morning
schedules, and freshness."""

import asyncio
import dataclasses
import shutil
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import CronFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.test_utils import freeze_time

from adperf_assets.defs.report import automation as ra
from adperf_assets.defs.resources import build_resources
from adperf_assets.definitions import defs
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS

# 10:00 in Seoul on 2025-07-13: report days up to 07-12 exist
NOW = datetime(2025, 7, 13, 1, 0, tzinfo=timezone.utc)
JOB = dg.AssetJobKey("roas_report_job")


class Ticks:
    """Successive evaluations of the definitions' automation conditions (what the automation
    sensor does on each tick), keeping the cursor between them."""

    def __init__(self, instance):
        self.instance, self.cursor = instance, None

    def __call__(self) -> list[str]:
        """The report days the tick requests a run of ``roas_report_job`` for."""
        result = dg.evaluate_automation_conditions(defs=defs, instance=self.instance, evaluation_time=NOW,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        assert {r.key for r in result.results if r.true_subset.size} <= {JOB}  # only the job is automated
        return sorted(k for r in result.results if r.key == JOB for k in r.true_subset.expensively_compute_partition_keys())


def test_the_report_job_and_its_sources():
    graph = defs.resolve_asset_graph()
    job_keys = set(ra.report_selection().resolve(graph))
    assert {dg.AssetKey("roas_report"), *ra.SLACK_ASSETS} <= job_keys
    assert not job_keys & set(ra.SOURCES.resolve(graph))  # sources are never re-run by the report
    sources = ra.source_inputs(graph, job_keys)
    assert sources == set(ra.REPORT_SOURCE_INPUTS)  # the condition waits for exactly the sources the job reads
    assert {dg.AssetKey(k) for k in ("ad_spend", "installs", "user_segments", "behavior_value")} <= sources
    assert sources <= {dg.AssetKey.from_user_string(k) for k in runs.SOURCES}
    job = defs.resolve_job_def("roas_report_job")
    assert {"roas_report_roas_report_cost_matches_ad_spend", "roas_report_slack"} <= set(job.graph.node_dict)
    # the job's condition is hosted by Dagster's automation sensor; the only hand-written one re-imports old cost files
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert set(sensors) == {"default_automation_condition_sensor", "cost_import_sensor"}
    assert sensors["default_automation_condition_sensor"].asset_job_keys == {JOB}


def test_no_inputs_no_run():
    with dg.instance_for_test() as instance:
        tick = Ticks(instance)
        assert tick() == []
        assert tick() == []


def _checks(instance, key: dg.AssetKey, day: str, *, passed: bool, only: str | None = None):
    """Runless evaluations of ``key``'s blocking checks on its latest materialization of ``day``."""
    graph = defs.resolve_asset_graph()
    rec = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]),
                                          limit=1).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=rec.storage_id, run_id=rec.run_id,
                                                           timestamp=rec.timestamp)
    for check in graph.get_check_keys_for_assets({key}):
        if graph.get_check_spec(check).blocking and only in (None, check.name):
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=key, check_name=check.name, passed=passed, partition=day, target_materialization_data=target))


def test_a_day_waits_for_its_own_sources_and_their_checks():
    """Old partitions of a trailing window nobody materialized do not hold a day back; the day's own
    partition of every source, with its blocking checks passed, does."""
    day = REPORT_DAYS[-1]
    with dg.instance_for_test() as instance:
        tick = Ticks(instance)
        assert tick() == []
        for key in ra.REPORT_SOURCE_INPUTS:  # only the day itself, none of the 400 days before it
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))
        assert tick() == []  # materialized, checks not run yet
        for key in ra.REPORT_SOURCE_INPUTS[1:]:
            _checks(instance, key, day, passed=True)
        assert tick() == []  # ad_spend's checks still missing
        _checks(instance, ra.REPORT_SOURCE_INPUTS[0], day, passed=True)
        assert tick() == [day]
        assert tick() == []  # requested once
        # a source of the day written again without its checks: the day waits for them
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="installs", partition=day))
        assert tick() == []


def test_days_whose_inputs_and_blocking_checks_are_in(report_sources, report_instance, tmp_path):
    inst = report_instance
    # a day whose report is newer than its inputs is not requested
    inst.report_runless_asset_event(dg.AssetMaterialization(asset_key="roas_report", partition=REPORT_DAYS[1]))
    # a failed blocking check on the day's latest materialization holds that day back
    _checks(inst, dg.AssetKey("ad_spend"), REPORT_DAYS[2], passed=False, only="ad_spend_fx_present")
    tick = Ticks(inst)
    assert tick() == [REPORT_DAYS[0]]  # sources of the three days from one backfill run, checks passed
    assert tick() == []  # same state: not requested again

    # a source of a day written again, in a run with its checks: the day is requested again, once
    settings = dataclasses.replace(report_sources, home=tmp_path / "home")
    settings.home.mkdir()
    shutil.copy(report_sources.duckdb_path, settings.duckdb_path)
    assert runs.materialize(["installs"], build_resources(settings), REPORT_DAYS[1], instance=inst).success
    assert tick() == [REPORT_DAYS[1]]
    assert tick() == []
    # the report's own partition is written: handled, nothing more
    inst.report_runless_asset_event(dg.AssetMaterialization(asset_key="roas_report", partition=REPORT_DAYS[0]))
    assert tick() == []


def test_morning_schedules_request_the_trailing_window_and_yesterday():
    when = datetime(2025, 9, 1, 6, 0, tzinfo=timezone.utc)
    ctx = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    rev = defs.get_schedule_def("revenue_trailing_refresh_schedule").evaluate_tick(ctx).run_requests[0]
    assert rev.tags[ASSET_PARTITION_RANGE_START_TAG] == "2025-08-04"
    assert rev.tags[ASSET_PARTITION_RANGE_END_TAG] == "2025-08-31"
    att = defs.get_schedule_def("attribution_daily_schedule").evaluate_tick(ctx).run_requests[0]
    assert att.partition_key == "2025-08-31"
    assert defs.get_schedule_def("revenue_trailing_refresh_schedule").execution_timezone == "Asia/Seoul"


def test_every_source_has_a_freshness_deadline_in_the_report_zone():
    graph = defs.resolve_asset_graph()
    for key in ra.SOURCES.resolve(graph):
        policy = graph.get(key).freshness_policy
        assert policy is not None, key
        assert (policy.deadline_cron, policy.timezone) == ("0 9 * * *", "Asia/Seoul")
        assert policy.lower_bound_delta == timedelta(hours=24)
    assert graph.get(dg.AssetKey("roas_report")).freshness_policy.deadline_cron == "0 10 * * *"
    with pytest.raises(ValueError, match="hour of the day"):
        ra.source_freshness_policy(24)


def test_freshness_is_evaluated_against_the_deadline():
    """Dagster's evaluator (what the freshness daemon runs) on a materialization at 07:30 Seoul."""
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("installs"))
    seoul = lambda d, h, m=0: datetime(2025, 7, d, h, m, tzinfo=timezone(timedelta(hours=9)))  # noqa: E731

    def state(instance, at):
        with freeze_time(at):
            return asyncio.run(CronFreshnessPolicyEvaluator().evaluate_freshness(LoadingContextForTest(instance), node))

    with dg.instance_for_test() as instance:
        assert state(instance, seoul(12, 10)) == FreshnessState.UNKNOWN  # never materialized
        with freeze_time(seoul(12, 7, 30)):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="installs", partition="2025-07-11"))
        assert state(instance, seoul(12, 10)) == FreshnessState.PASS  # before the 09:00 deadline
        assert state(instance, seoul(13, 8)) == FreshnessState.PASS  # still today's window (09:00 of the 12th)
        assert state(instance, seoul(13, 9, 30)) == FreshnessState.FAIL  # nothing new by 09:00 on the 13th
