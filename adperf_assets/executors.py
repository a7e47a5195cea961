"""Which executor runs the steps of a run, chosen by ``ADPERF_EXECUTOR`` (configuration, not code).

More: docs/dagster_layer.md."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")
DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"


def celery_config(path: str | os.PathLike | None = None) -> dict:
    """The ``execution.config`` block of the Celery file (the form ``dagster-celery worker -y`` reads)."""
    p = Path(path or os.environ.get("ADPERF_CELERY_CONFIG", "") or DEPLOY_DIR / "dagster-celery.yaml")
    if not p.exists():
        raise FileNotFoundError(f"ADPERF_EXECUTOR=celery: no Celery config at {p} (set ADPERF_CELERY_CONFIG)")
    doc = yaml.safe_load(p.read_text()) or {}
    config = (doc.get("execution") or {}).get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{p}: expected an 'execution: config:' block with the Celery executor settings")
    return config


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def executor_from_env(name: str | None = None) -> dg.ExecutorDefinition:
    """The executor ``name`` (default ``ADPERF_EXECUTOR``, else in_process) with its settings.

    In process by default: on one small machine a process per step costs more than it parallelises
    (the daily run's figures: benchmarks/README.md, "The product's executor")."""
    chosen = (name if name is not None else os.environ.get("ADPERF_EXECUTOR", "")).strip().lower() or "in_process"
    if chosen not in EXECUTORS:
        raise ValueError(f"ADPERF_EXECUTOR={chosen!r} is not one of: {', '.join(EXECUTORS)}")
    if chosen == "in_process":
        return dg.in_process_executor
    if chosen == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(), name="celery")
    if chosen == "k8s":
        from dagster_k8s import k8s_job_executor

        config = {}
        if _int_env("ADPERF_K8S_MAX_CONCURRENT", 0) > 0:
            config["max_concurrent"] = _int_env("ADPERF_K8S_MAX_CONCURRENT", 0)
        return k8s_job_executor.configured(config, name="k8s")
    return dg.multiprocess_executor.configured(multiprocess_config(), name="multiprocess")


#: The module a step process needs: with ``forkserver`` the fork server imports it once per run and
#: every step process is forked from it, instead of a fresh interpreter importing dagster, pandas and
#: the whole graph per step (``spawn``, Dagster's default). The server imports only: no DuckDB
#: connection or resource is opened before the fork.
PRELOAD = "adperf_assets.definitions"
START_METHODS = ("forkserver", "spawn")


def multiprocess_config() -> dict:
    """The multiprocess executor's config from ``ADPERF_MAX_CONCURRENT`` and ``ADPERF_START_METHOD``."""
    method = os.environ.get("ADPERF_START_METHOD", "").strip().lower() or "forkserver"
    if method not in START_METHODS:
        raise ValueError(f"ADPERF_START_METHOD={method!r} is not one of: {', '.join(START_METHODS)}")
    return {"max_concurrent": _int_env("ADPERF_MAX_CONCURRENT", 0),
            "start_method": {"forkserver": {"preload_modules": [PRELOAD]}} if method == "forkserver" else {"spawn": {}}}
