"""deploy/dagster.yaml on a real PostgreSQL: runs, materializations and schedule/sensor ticks are stored there."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg2
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._time import get_current_datetime

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.revenue.assets import match_sessions, payments_snapshot
from adperf_assets.defs.resources import build_resources
from adperf_assets_tests.revenue import pg_server

pytestmark = pytest.mark.postgres

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DAY = "2025-07-15"


def _create_database(server: pg_server.PgServer, name: str) -> str:
    admin = psycopg2.connect(**server.dsn("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    return f"postgresql+psycopg2://{pg_server.USER}:{pg_server.PASSWORD}@127.0.0.1:{server.port}/{name}"


def _count(server: pg_server.PgServer, database: str, sql: str) -> int:
    con = psycopg2.connect(**server.dsn(database))
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return int(cur.fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def pg_home(postgres_server, tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME holding deploy/dagster.yaml, its DAGSTER_PG_URL a fresh database."""
    url = _create_database(postgres_server, "dagster")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    # the code server the daemon starts imports adperf_assets.definitions (sample mode; ticks read no data)
    monkeypatch.setenv("ADPERF_HOME", str(tmp_path / "adperf_home"))
    return home


def test_the_deploy_instance_stores_runs_and_materializations_in_postgres(pg_home, postgres_server, fresh_home):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    with dg.DagsterInstance.from_config(str(pg_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = dg.materialize([fx_rates, payments_snapshot, match_sessions], partition_key=DAY,
                                instance=instance, resources=build_resources(fresh_home))
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.status == DagsterRunStatus.SUCCESS
        for key in (["raw", "fx_rates"], ["payments_snapshot"], ["match_sessions"]):
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == {DAY}
        # the rows really are in PostgreSQL (read with a separate connection, not through Dagster)
        assert _count(postgres_server, "dagster", f"select count(*) from runs where run_id = '{result.run_id}'") == 1
        assert _count(postgres_server, "dagster",
                      f"select count(*) from event_logs where run_id = '{result.run_id}' "
                      f"and dagster_event_type = 'ASSET_MATERIALIZATION'") == 3
    # a second instance (another process in production) sees the same history
    with dg.DagsterInstance.from_config(str(pg_home)) as again:
        assert again.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS


def _location(context):
    return next(iter(context.create_request_context().get_code_location_entries().values())).code_location


@pytest.mark.slow
def test_a_schedule_tick_queues_its_run_in_postgres(pg_home, postgres_server):
    """The daemon's scheduler, with the real workspace.yaml, records a tick and queues the
    trailing spend refresh run in PostgreSQL (the queued run coordinator holds it for the daemon)."""
    from dagster._scheduler.scheduler import launch_scheduled_runs

    tz = ZoneInfo("Asia/Seoul")
    before = datetime(2025, 7, 15, 6, 30, tzinfo=tz)
    with dg.DagsterInstance.from_config(str(pg_home)) as instance:
        with freeze_time(before):
            with create_test_daemon_workspace_context(
                WorkspaceFileTarget(paths=[str(DEPLOY / "workspace.yaml")]), instance,
            ) as context:
                location = _location(context)
                assert location is not None, "deploy/workspace.yaml did not load adperf_assets.definitions"
                repo = next(iter(location.get_repositories().values()))
                schedule = repo.get_schedule("spend_trailing_refresh_schedule")
                # it starts RUNNING (declared in code): the daemon's first pass records its start, no tick is due
                list(launch_scheduled_runs(context, logging.getLogger("test"), get_current_datetime(), {}))
                with freeze_time(before + timedelta(hours=1)):  # past 07:00 Seoul: one tick is due
                    list(launch_scheduled_runs(context, logging.getLogger("test"), get_current_datetime(), {}))
                ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
        assert [t.status for t in ticks] == [TickStatus.SUCCESS], [t.error for t in ticks]
        (run_id,) = ticks[0].run_ids
        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.QUEUED
        assert run.tags[ASSET_PARTITION_RANGE_START_TAG] == "2025-06-17"
        assert run.tags[ASSET_PARTITION_RANGE_END_TAG] == "2025-07-14"
    assert _count(postgres_server, "dagster", "select count(*) from job_ticks where status = 'SUCCESS'") == 1
    assert _count(postgres_server, "dagster", f"select count(*) from runs where run_id = '{run_id}' "
                                              f"and status = 'QUEUED'") == 1


def _sensor_names() -> list[str]:
    """The repository's sensors, Dagster's default automation condition sensor included."""
    from adperf_assets.definitions import defs

    return [s.name for s in defs.get_repository_def().sensor_defs]


@pytest.mark.slow
@pytest.mark.parametrize("sensor_name", _sensor_names())
def test_a_sensor_tick_is_recorded_in_postgres(pg_home, sensor_name):
    """Every sensor of the graph ticks once against PostgreSQL, through the daemon loop that runs it
    (the asset daemon for automation condition sensors, the sensor daemon for the others)."""
    from dagster._daemon.asset_daemon import AssetDaemon
    from dagster._daemon.sensor import execute_sensor_iteration

    with dg.DagsterInstance.from_config(str(pg_home)) as instance:
        with create_test_daemon_workspace_context(
            WorkspaceFileTarget(paths=[str(DEPLOY / "workspace.yaml")]), instance,
        ) as context:
            repo = next(iter(_location(context).get_repositories().values()))
            sensor = repo.get_sensor(sensor_name)
            instance.start_sensor(sensor)
            if sensor.sensor_type.is_handled_by_asset_daemon:
                daemon = AssetDaemon(settings=instance.get_auto_materialize_settings(), pre_sensor_interval_seconds=0)
                daemon._run_iteration_impl(context, threadpool_executor=None, amp_tick_futures={},  # noqa: SLF001
                                           debug_crash_flags={})
            else:
                list(execute_sensor_iteration(context, logging.getLogger("test"), None, None))
            ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
    assert len(ticks) == 1
    assert ticks[0].status in (TickStatus.SUCCESS, TickStatus.SKIPPED), ticks[0].error
