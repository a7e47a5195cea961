"""The cost-import sensor: a file (re)written for days older than the morning refresh's window asks for a
run of exactly those days; an unchanged folder asks for nothing."""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from adperf_assets.defs.common.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, report_today
from adperf_assets.defs.spend.automation import cost_import_backfill_job, cost_import_sensor
from adperf_assets.defs.spend.cost_import import CostImportFolder
from adperf_assets.definitions import defs
from adperf_assets.normalize.cost_import import HEADER
from adperf_assets.settings import current_settings


class Ticks:
    """Successive sensor evaluations over one folder, keeping the cursor."""

    def __init__(self, folder):
        self.folder, self.cursor = folder, None

    def __call__(self) -> list[dg.RunRequest]:
        ctx = dg.build_sensor_context(cursor=self.cursor, resources={"cost_import": CostImportFolder(directory=str(self.folder))})
        result = cost_import_sensor(ctx)
        assert isinstance(result, dg.SensorResult), result
        self.cursor = result.cursor
        return list(result.run_requests or [])


def write(folder, name: str, body: str = "", bump_s: int = 0) -> None:
    path = folder / name
    path.write_text(",".join(HEADER) + "\n" + body)
    if bump_s:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_s * 10**9))


def ranges(requests: list[dg.RunRequest]) -> list[tuple[str, str, str]]:
    return [(r.tags["adperf/cost_file"], r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG])
            for r in requests]


def test_a_file_60_days_back_requests_exactly_its_days_and_a_quiet_tick_nothing(tmp_path):
    s = current_settings()
    today = report_today(None, s.report_timezone)
    old, recent = today - timedelta(days=60), today - timedelta(days=3)
    write(tmp_path, f"applovin_int_{today - timedelta(days=90)}.csv")  # there before the sensor: not re-run
    tick = Ticks(tmp_path)
    assert tick() == []

    write(tmp_path, f"applovin_int_{old}.csv")
    write(tmp_path, f"applovin_int_{recent}.csv")  # the morning refresh re-reads it anyway
    spanning = f"unity_{today - timedelta(days=32)}_{today - timedelta(days=20)}.csv"
    write(tmp_path, spanning)
    first = tick()
    boundary = today - timedelta(days=s.spend_trailing_days + 1)  # the newest day the refresh no longer reads
    assert ranges(first) == [(f"applovin_int_{old}.csv", old.isoformat(), old.isoformat()),
                             (spanning, (today - timedelta(days=32)).isoformat(), boundary.isoformat())]
    assert all(r.job_name is None or r.job_name == "cost_import_backfill_job" for r in first)
    assert tick() == []  # nothing changed

    write(tmp_path, f"applovin_int_{old}.csv", "corrected\n", bump_s=5)  # the network sends the day again
    again = tick()
    assert ranges(again) == [(f"applovin_int_{old}.csv", old.isoformat(), old.isoformat())]
    assert again[0].run_key != first[0].run_key
    assert tick() == []


def test_a_bad_name_is_reported_not_requested(tmp_path):
    tick = Ticks(tmp_path)
    tick()
    write(tmp_path, "applovin-int.csv")
    assert tick() == []


def test_the_job_reimports_the_cost_and_the_report_not_slack_or_actions():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in cost_import_backfill_job.selection.resolve(graph)}
    assert keys == {"raw/cost_import_spend", "ad_spend", "roas_report"}
    assert {s.name for s in defs.get_repository_def().sensor_defs} >= {"cost_import_sensor"}
