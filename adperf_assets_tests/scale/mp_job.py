"""A two-step job on the executor ``executor_from_env`` picks (reconstructable: module level)."""

import os
import sys

import dagster as dg

from adperf_assets.executors import executor_from_env


def _process() -> dict:
    """The step's process, its parent, and whether the definitions were imported before the step (the
    fork server's preload: a spawned step imports only this module)."""
    return {"pid": os.getpid(), "ppid": os.getppid(), "preloaded": "adperf_assets.definitions" in sys.modules}


@dg.op
def left() -> dict:
    return _process()


@dg.op
def right() -> dict:
    return _process()


@dg.job(executor_def=executor_from_env())
def two_steps():
    left()
    right()
