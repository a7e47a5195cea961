"""The whole graph on the Iceberg store with a PostgreSQL catalog, as separate machines would run it:
every step in its own process with its own empty working directory and ADPERF_HOME, sharing only the
catalog URL and the warehouse; and two runs of different days at once. Both must give the tables the
DuckDB store gives (compared table by table)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from adperf_assets.defs.common import iceberg_store
from adperf_assets.defs.common.table_store import TableStore
from adperf_assets_tests.conftest import SMALL
from adperf_assets_tests.scale.tables import LOGS, differences

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
# the pooled BTYD fit and the retention fits need four weeks of history before a checked day
HISTORY = ("2025-06-17", "2025-07-14")
DAY, NEXT = "2025-07-15", "2025-07-16"


def _env(home: Path, world: Path, **extra: str) -> dict:
    """A step's environment: its own home; the outside world (the sample sources and the sample ad
    networks' state, ADPERF_SAMPLE_STATE_DIR) and, in ``extra``, the catalog and warehouse are shared."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADPERF_", "DAGSTER_", "PYICEBERG_"))}
    env.update({"PYTHONPATH": str(ROOT), "ADPERF_HOME": str(home), "ADPERF_WORLD": str(world),
                "ADPERF_SAMPLE_DAYS": str(SMALL["days"]), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(SMALL["installs_per_day"]),
                "PYTHONWARNINGS": "ignore", **extra})
    return env


def _start(first: str, last: str, env: dict, cwd: Path, select: str = "") -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "adperf_assets_tests.scale.graph_step", first, last]
    return subprocess.Popen(args + (["--select", select] if select else []), cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(first: str, last: str, env: dict, cwd: Path, select: str = "") -> None:
    p = _start(first, last, env, cwd, select)
    _, err = p.communicate(timeout=1800)
    assert p.returncode == 0, f"{select or 'graph'} {first}..{last}:\n{err[-4000:]}"


@pytest.fixture(scope="module")
def duckdb_reference(tmp_path_factory, small_settings) -> TableStore:
    """History, DAY and NEXT of the whole graph on the DuckDB store, one run after the other."""
    base = tmp_path_factory.mktemp("duckdb_reference")
    env = _env(base / "home", small_settings.world_path, ADPERF_TABLE_STORE="duckdb")
    for first, last in (HISTORY, (DAY, DAY), (NEXT, NEXT)):
        _run(first, last, env, base)
    return TableStore(store="duckdb", duckdb_path=str(base / "home" / "adperf.duckdb"))


def _lake(postgres_server, tmp_path: Path, name: str) -> dict:
    import psycopg2

    con = psycopg2.connect(**postgres_server.dsn("postgres"))
    con.autocommit = True
    con.cursor().execute(f"create database {name}")
    con.close()
    return {"ADPERF_TABLE_STORE": "iceberg", "ADPERF_ICEBERG_CATALOG_URI": postgres_server.url(name),
            "ADPERF_ICEBERG_WAREHOUSE": str(tmp_path / "warehouse")}


def _store(lake: dict) -> TableStore:
    return TableStore(store="iceberg", catalog_properties={
        "type": "sql", "uri": lake["ADPERF_ICEBERG_CATALOG_URI"],
        "warehouse": Path(lake["ADPERF_ICEBERG_WAREHOUSE"]).as_uri()})


def _steps() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "adperf_assets_tests.scale.graph_step", "--list-steps"], cwd=ROOT,
                         env=_env(ROOT, ROOT), capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_every_step_in_its_own_process_and_home_gives_the_duckdb_tables(tmp_path, postgres_server, small_settings,
                                                                        duckdb_reference):
    lake = {**_lake(postgres_server, tmp_path, "lake_isolated"), "ADPERF_SAMPLE_STATE_DIR": str(tmp_path / "networks")}
    world = small_settings.world_path
    _run(*HISTORY, _env(tmp_path / "history_home", world, **lake), tmp_path / "history_cwd")
    steps = _steps()
    assert len(steps) > 20
    for i, step in enumerate(steps):  # as one pod per step: nothing local survives a step
        home, cwd = tmp_path / f"step{i}" / "home", tmp_path / f"step{i}" / "cwd"
        _run(DAY, DAY, _env(home, world, **lake), cwd, select=step)
    local = {i: TableStore(store="duckdb", duckdb_path=str(db)).table_names()
             for i in range(len(steps)) if (db := tmp_path / f"step{i}" / "home" / "adperf.duckdb").exists()}
    assert {i: set(n) - LOGS for i, n in local.items()} == {i: set() for i in local}  # no asset table stayed local
    assert differences(duckdb_reference, _store(lake), before=pd.Timestamp(NEXT)) == {}


def _snapshots(lake: dict) -> dict[str, list[int]]:
    """Per table, its snapshots' commit times (ms since the epoch)."""
    cat = iceberg_store.catalog(_store(lake).catalog_properties, "analytics")
    return {t[-1]: [s.timestamp_ms for s in cat.load_table(t).snapshots()] for t in cat.list_tables("analytics")}


def test_two_days_at_once_then_a_rerun_give_the_sequential_tables(tmp_path, postgres_server, small_settings,
                                                                 duckdb_reference):
    """Each day reads every earlier day (trailing windows), so two days never computed before cannot run
    independently on any store; the race tested is two whole-graph runs of different days committing to
    the same tables at once (DAY and NEXT, both stored before), then a third run of DAY."""
    lake = {**_lake(postgres_server, tmp_path, "lake_concurrent"), "ADPERF_SAMPLE_STATE_DIR": str(tmp_path / "networks")}
    world = small_settings.world_path
    env = _env(tmp_path / "home", world, **lake)
    for first, last in (HISTORY, (DAY, DAY), (NEXT, NEXT)):
        _run(first, last, env, tmp_path / "cwd")
    assert differences(duckdb_reference, _store(lake)) == {}
    t0 = time.time() * 1000
    procs = [_start(d, d, _env(tmp_path / f"home_{d}", world, **lake), tmp_path / f"cwd_{d}") for d in (DAY, NEXT)]
    for p in procs:
        _, err = p.communicate(timeout=1800)
        assert p.returncode == 0, err[-4000:]
    # both runs committed to every table (a day's rows replaced: a delete and an append snapshot each)
    new = {t: sum(ms >= t0 for ms in times) for t, times in _snapshots(lake).items()}
    assert {t: n >= 2 for t, n in new.items()} == {t: True for t in new}, new
    assert differences(duckdb_reference, _store(lake)) == {}
    _run(DAY, DAY, _env(tmp_path / "home_third", world, **lake), tmp_path / "cwd_third")
    assert differences(duckdb_reference, _store(lake)) == {}
