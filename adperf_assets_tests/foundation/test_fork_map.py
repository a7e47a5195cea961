"""fork_map: a range run's days shared with forked children, the results as the serial loop's."""

import multiprocessing as mp
import os
import time

import pytest

from adperf_assets.fork_map import WorkerError, day_workers, fork_map


def _square_with_pid(x):
    return x * x, os.getpid()


def test_results_in_order_and_computed_in_every_worker():
    got = fork_map(_square_with_pid, range(11), workers=3)
    assert [v for v, _ in got] == [x * x for x in range(11)]
    pids = [p for _, p in got]
    assert len(set(pids)) == 3 and pids[0] == os.getpid()  # the first share is this process's
    assert pids == [pids[i % 3] for i in range(11)]  # dealt round-robin
    assert mp.active_children() == []


def test_each_process_carries_its_own_state():
    seen = []

    def running_count(x):  # what a closure keeps from one item to the next is its process's own
        seen.append(x)
        return tuple(seen)

    assert fork_map(running_count, range(6), workers=2) == [(0,), (1,), (0, 2), (1, 3), (0, 2, 4), (1, 3, 5)]


def test_one_worker_or_one_item_stays_in_this_process():
    me = os.getpid()
    assert {p for _, p in fork_map(_square_with_pid, range(5), workers=1)} == {me}
    assert {p for _, p in fork_map(_square_with_pid, [3], workers=4)} == {me}
    assert fork_map(_square_with_pid, [], workers=4) == []


def _fails_on_seven(x):
    if x == 7:
        raise KeyError(f"no rows for day {x}")
    return x


def test_a_workers_exception_is_raised_with_its_traceback():
    with pytest.raises(WorkerError, match=r"(?s)day worker 1 of 2 failed.*_fails_on_seven.*no rows for day 7"):
        fork_map(_fails_on_seven, range(10), workers=2)  # 7 is the child's (round-robin: 1, 3, 5, 7, 9)
    assert mp.active_children() == []


def _fails_at_once_or_sleeps(x):
    if x == 7:
        raise KeyError(f"no rows for day {x}")
    time.sleep(60)


def test_the_parents_exception_is_raised_and_its_children_stopped():
    t = time.monotonic()
    with pytest.raises(KeyError, match="no rows for day 7"):
        fork_map(_fails_at_once_or_sleeps, [7, 1], workers=2)  # 7 is the parent's, 1 the sleeping child's
    assert mp.active_children() == [] and time.monotonic() - t < 30


def _dies(x):
    if x == 1:
        os._exit(3)
    return x


def test_a_worker_that_dies_is_named():
    with pytest.raises(WorkerError, match="day worker 1 of 2 died \\(exit code 3\\)"):
        fork_map(_dies, range(4), workers=2)


def test_a_result_that_does_not_pickle_is_an_error():
    with pytest.raises(WorkerError, match="(?s)failed.*pickle"):
        fork_map(lambda x: (lambda: x), range(4), workers=2)


def test_day_workers_from_the_environment(monkeypatch):
    monkeypatch.delenv("ADPERF_DAY_WORKERS", raising=False)
    monkeypatch.delenv("ADPERF_EXECUTOR", raising=False)
    assert day_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("ADPERF_EXECUTOR", "multiprocess")  # its steps already share the cores
    assert day_workers() == 1
    monkeypatch.setenv("ADPERF_DAY_WORKERS", "3")
    assert day_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("ADPERF_DAY_WORKERS", bad)
        with pytest.raises(ValueError, match="ADPERF_DAY_WORKERS"):
            day_workers()
