"""benchmarks/backfill.py --lanes 2: the lane split never lets the upstream lane read the downstream one,
and the memory of runs alive at once is summed."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def backfill():
    if str(BENCH) not in sys.path:  # as when run as a script: its folder's modules import
        sys.path.insert(0, str(BENCH))
    import backfill

    return backfill


@pytest.fixture(scope="module")
def graph():
    from adperf_assets.definitions import defs

    return defs.resolve_asset_graph()


def test_the_upstream_lane_reads_nothing_of_the_downstream_one(backfill, graph):
    up, down = backfill.lane_split()
    keys = {k.to_user_string() for k in graph.toposorted_asset_keys if graph.get(k).is_materializable}
    assert set(up) | set(down) == keys and not set(up) & set(down)
    assert set(backfill.DOWNSTREAM_ROOTS) <= set(down)
    for k in up:
        parents = {p.to_user_string() for p in graph.get(backfill.dg_key(k)).parent_keys}
        assert not parents & set(down), k
    # the assets that read their own earlier runs' rows stay in one lane, in day order
    assert {"cohort_ltv_backtest", "budget_actions", "roas_milestones_slack"} <= set(down)


def test_a_split_through_a_multi_asset_is_refused(backfill):
    with pytest.raises(ValueError, match="multi-asset"):
        backfill.lane_split(("btyd_cohort_ltv",))  # user_ltv's step also writes it


def test_the_peak_rss_of_runs_alive_at_once_is_their_sum():
    sys.path.insert(0, str(BENCH))
    import bench_common as bc

    code = "b = bytearray(200 * 2**20); b[::4096] = b'\\x01' * len(b[::4096]); import time; time.sleep(3)"
    with bc.RssSum(interval=0.05) as tracker:
        procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
        for p in procs:
            tracker.add(p.pid)
        time.sleep(2)
        for p in procs:
            p.wait()
            tracker.remove(p.pid)
    assert tracker.peak_gib() > 2 * 200 / 1024


def test_the_benchmark_runs_keep_no_step_outputs(tmp_path):
    sys.path.insert(0, str(BENCH))
    import bench_common as bc
    import dagster as dg

    @dg.asset
    def big() -> list:
        return [0] * 1000

    with bc.no_output_capture():
        result = dg.materialize([big], resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))})
    assert result.success
    with pytest.raises(Exception):
        result.output_for_node("big")  # a deployment's run keeps none either
    assert dg.materialize([big], resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))}
                          ).output_for_node("big") == [0] * 1000  # outside it, materialize keeps them


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_benchmark_instance_stores_the_run_events(kind, monkeypatch, tmp_path):
    sys.path.insert(0, str(BENCH))
    import bench_common as bc
    import dagster as dg

    @dg.asset
    def small() -> int:
        return 1

    monkeypatch.setenv("ADPERF_BENCH_INSTANCE", kind)
    with bc.bench_instance() as instance:
        result = dg.materialize([small], instance=instance,
                                resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))})
        kinds = {e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event}
    assert {"ASSET_MATERIALIZATION", "STEP_SUCCESS"} <= kinds
    monkeypatch.setenv("ADPERF_BENCH_INSTANCE", "sqllite")
    with pytest.raises(ValueError, match="sqllite"), bc.bench_instance():
        pass
