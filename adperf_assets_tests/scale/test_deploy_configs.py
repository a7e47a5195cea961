"""The deploy/ files parse against the schemas of the Dagster pieces they configure (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.load import location_origins_from_yaml_paths

from adperf_assets.executors import PRELOAD, celery_config, executor_from_env, multiprocess_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster-k8s.yaml"])
def test_instance_files_follow_the_instance_schema(name):
    config, custom_class = dagster_instance_config(str(DEPLOY), name)
    assert custom_class is None
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # secrets only by reference: no URL with a password in the files
    assert "://" not in "".join(l.split("#")[0] for l in (DEPLOY / name).read_text().splitlines())


def test_k8s_run_launcher_config_is_valid(monkeypatch):
    from dagster_k8s import K8sRunLauncher

    monkeypatch.setenv("DAGSTER_K8S_NAMESPACE", "adperf")
    monkeypatch.setenv("ADPERF_IMAGE", "registry.example/adperf:1")
    launcher = yaml.safe_load((DEPLOY / "dagster-k8s.yaml").read_text())["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    assert result.value["job_namespace"] == "adperf"
    assert result.value["job_image"] == "registry.example/adperf:1"
    assert "ADPERF_EXECUTOR=k8s" in result.value["env_vars"]
    # the tables in Iceberg (pods share nothing local); the catalog URL only from the Secret
    assert "ADPERF_TABLE_STORE=iceberg" in result.value["env_vars"]
    assert "DAGSTER_EVENT_BATCH_SIZE=1000" in result.value["env_vars"]
    assert "ADPERF_ICEBERG_WAREHOUSE" in result.value["env_vars"]
    assert not any(v.startswith("ADPERF_ICEBERG_CATALOG_URI") for v in result.value["env_vars"])


def test_celery_file_is_what_the_worker_cli_reads(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://broker:6379/1")
    worker = get_validated_config(str(DEPLOY / "dagster-celery.yaml"))
    assert (worker["broker"], worker["backend"]) == ("redis://broker:6379/0", "redis://broker:6379/1")
    assert worker["config_source"]["task_acks_late"] is True
    assert celery_config() == yaml.safe_load((DEPLOY / "dagster-celery.yaml").read_text())["execution"]["config"]


def test_workspace_loads_the_one_code_location():
    (origin,) = location_origins_from_yaml_paths([str(DEPLOY / "workspace.yaml")])
    assert origin.location_name == "adperf_assets"
    assert origin.loadable_target_origin.module_name == "adperf_assets.definitions"


@pytest.mark.parametrize("name, executor", [("", "in_process"), ("multiprocess", "multiprocess"),
                                            ("in_process", "in_process"), ("celery", "celery"), ("K8s", "k8s")])
def test_executor_by_name(name, executor, monkeypatch):
    monkeypatch.setenv("ADPERF_EXECUTOR", name)
    assert executor_from_env().name == executor


def test_executor_settings_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="ADPERF_EXECUTOR='ray' is not one of"):
        executor_from_env("ray")
    monkeypatch.setenv("ADPERF_MAX_CONCURRENT", "two")
    with pytest.raises(ValueError, match="ADPERF_MAX_CONCURRENT='two' is not an integer"):
        executor_from_env("multiprocess")
    monkeypatch.setenv("ADPERF_CELERY_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match="no Celery config at"):
        executor_from_env("celery")


def test_multiprocess_executor_forks_steps_from_a_server_with_the_definitions(monkeypatch):
    """Steps are forked from a server that imported the definitions once (spawn: a fresh interpreter per
    step); ``ADPERF_START_METHOD=spawn`` restores Dagster's default, and a typo is an error."""
    from dagster._core.definitions.executor_definition import _core_multiprocess_executor_creation

    monkeypatch.delenv("ADPERF_START_METHOD", raising=False)
    monkeypatch.setenv("ADPERF_MAX_CONCURRENT", "2")
    config = multiprocess_config()
    assert config == {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": [PRELOAD]}}}
    assert PRELOAD == "adperf_assets.definitions"
    executor = _core_multiprocess_executor_creation({**config, "retries": {"enabled": {}}})
    assert (executor._start_method, executor._explicit_forkserver_preload) == ("forkserver", [PRELOAD])
    monkeypatch.setenv("ADPERF_START_METHOD", "Spawn")
    assert multiprocess_config()["start_method"] == {"spawn": {}}
    monkeypatch.setenv("ADPERF_START_METHOD", "fork")
    with pytest.raises(ValueError, match="ADPERF_START_METHOD='fork' is not one of: forkserver, spawn"):
        executor_from_env("multiprocess")


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_multiprocess_executor_runs_a_job_in_processes(method, tmp_path, monkeypatch):
    """The multiprocess executor really runs steps in child processes with the configured cap: forked from
    the one server that imported the definitions, or (spawn) fresh children of the run process."""
    import importlib

    from adperf_assets_tests.scale import mp_job

    monkeypatch.setenv("ADPERF_EXECUTOR", "multiprocess")
    monkeypatch.setenv("ADPERF_MAX_CONCURRENT", "2")
    monkeypatch.setenv("ADPERF_START_METHOD", method)
    importlib.reload(mp_job)  # the job's executor reads the environment when its module is imported
    job = dg.reconstructable(mp_job.two_steps)
    type(job).get_definition.cache_clear()  # Dagster caches the job (and its repository) an earlier case built
    type(job).get_repository_definition.cache_clear()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with dg.execute_job(job, instance=instance) as result:
            assert result.success
            steps = [result.output_for_node(n) for n in ("left", "right")]
    me = mp_job.os.getpid()
    assert len({s["pid"] for s in steps}) == 2 and me not in {s["pid"] for s in steps}
    parents = {s["ppid"] for s in steps}
    if method == "forkserver":
        assert len(parents) == 1 and me not in parents and all(s["preloaded"] for s in steps)
    else:
        assert parents == {me} and not any(s["preloaded"] for s in steps)
