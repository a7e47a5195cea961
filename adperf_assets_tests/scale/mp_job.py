"""A two-step job on the executor ``executor_from_env`` picks (reconstructable: module level)."""

import os

import dagster as dg

from adperf_assets.executors import executor_from_env


@dg.op
def left() -> int:
    return os.getpid()


@dg.op
def right() -> int:
    return os.getpid()


@dg.job(executor_def=executor_from_env())
def two_steps():
    left()
    right()
