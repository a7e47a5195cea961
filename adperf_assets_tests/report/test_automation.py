"""The report sensor on instances with and without a day's inputs, the morning schedules, and freshness."""

import asyncio
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
from adperf_assets.definitions import defs
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS

# 10:00 in Seoul on 2025-07-13: report days up to 07-12 exist
NOW = datetime(2025, 7, 13, 1, 0, tzinfo=timezone.utc)
SENSOR = defs.get_sensor_def("roas_report_sensor")


def tick(instance):
    with freeze_time(NOW):
        return SENSOR.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))


def test_the_report_job_and_its_sources():
    graph = defs.resolve_asset_graph()
    job_keys = set(ra.report_selection().resolve(graph))
    assert {dg.AssetKey("roas_report"), *ra.SLACK_ASSETS} <= job_keys
    assert not job_keys & set(ra.SOURCES.resolve(graph))  # sources are never re-run by the report
    sources = ra.source_inputs(graph, job_keys)
    assert {dg.AssetKey(k) for k in ("ad_spend", "installs", "user_segments", "behavior_value")} <= sources
    assert sources <= {dg.AssetKey.from_user_string(k) for k in runs.SOURCES}
    job = defs.resolve_job_def("roas_report_job")
    assert {"roas_report_roas_report_cost_matches_ad_spend", "roas_report_slack"} <= set(job.graph.node_dict)


def test_no_inputs_no_run():
    with dg.instance_for_test() as instance:
        data = tick(instance)
    assert data.run_requests == []
    assert "2025-07-12: waiting" in data.skip_message and "ad_spend not materialized" in data.skip_message


def test_sensor_requests_days_whose_inputs_and_blocking_checks_are_in(report_sources, report_instance):
    inst = report_instance
    data = tick(inst)
    assert [r.partition_key for r in data.run_requests] == REPORT_DAYS
    assert all(r.run_key.startswith(f"roas_report_{r.partition_key}_") for r in data.run_requests)

    # a day whose report is newer than its inputs is not requested again
    inst.report_runless_asset_event(dg.AssetMaterialization(asset_key="roas_report", partition=REPORT_DAYS[1]))
    assert [r.partition_key for r in tick(inst).run_requests] == [REPORT_DAYS[0], REPORT_DAYS[2]]

    # a failed blocking check on the day's latest materialization holds that day back
    spend = dg.AssetKey("ad_spend")
    rec = inst.fetch_materializations(dg.AssetRecordsFilter(asset_key=spend, asset_partitions=[REPORT_DAYS[2]]),
                                      limit=1).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=rec.storage_id, run_id=rec.run_id,
                                                           timestamp=rec.timestamp)
    inst.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=spend, check_name="ad_spend_fx_present", passed=False, partition=REPORT_DAYS[2],
        target_materialization_data=target))
    data = tick(inst)
    assert [r.partition_key for r in data.run_requests] == [REPORT_DAYS[0]]
    first = data.run_requests[0].run_key
    assert tick(inst).run_requests[0].run_key == first  # same state, same run key: requested once

    # a source written again (runless, without its checks): the day waits for its checks to pass
    inst.report_runless_asset_event(dg.AssetMaterialization(asset_key="installs", partition=REPORT_DAYS[0]))
    data = tick(inst)
    assert data.run_requests == []
    assert f"{REPORT_DAYS[0]}: waiting — installs: check installs_not_in_future not run on the latest " \
           f"materialization" in data.skip_message
    assert f"{REPORT_DAYS[2]}: waiting — ad_spend: check ad_spend_fx_present failed" in data.skip_message
    assert f"{REPORT_DAYS[1]}: report is newer than its inputs" in data.skip_message


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
