"""The store's file kept open between a run's connects: free after the run, after an idle second, and for
another process while a step computes."""

import subprocess
import sys
import time

import dagster as dg
import duckdb
import pandas as pd
import pytest

from adperf_assets.defs.common import duckdb_kept
from adperf_assets.defs.common.io_manager import AdperfDuckDBIOManager
from adperf_assets.defs.common.log_db import LogDatabase
from adperf_assets.defs.common.table_store import TableStore

CONFIG = {"custom_user_agent": "dagster"}
PARTS = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-10")


def _other_process_writes(path) -> subprocess.CompletedProcess:
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "c.execute('create table if not exists other(x int)'); c.execute('insert into other values (1)')")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "t.duckdb")
    yield path
    duckdb_kept.release(path)


def test_a_run_keeps_the_file_open_and_frees_it_at_its_end(db, monkeypatch):
    monkeypatch.setattr(duckdb_kept, "IDLE_SECONDS", 60.0)  # only the teardown can close it here
    seen = {}

    @dg.asset(partitions_def=PARTS, metadata={"partition_expr": "report_date"})
    def t(context) -> pd.DataFrame:
        return pd.DataFrame({"report_date": pd.to_datetime([context.partition_key]), "x": [1.0]})

    @dg.asset(partitions_def=PARTS, metadata={"partition_expr": "report_date"})
    def u(t: pd.DataFrame, tables: TableStore, log: LogDatabase) -> pd.DataFrame:
        seen["kept"] = duckdb_kept.is_kept(db)
        seen["rows"] = len(tables.read("t", None))
        duckdb_kept.release(db)  # the delivery log's own connect keeps the file open again
        with log.get_connection() as con:
            con.execute("create table if not exists sent(x int)")
        seen["log kept"] = duckdb_kept.is_kept(db)
        return t

    result = dg.materialize([t, u], partition_key="2025-01-02", resources={
        "io_manager": AdperfDuckDBIOManager(database=db, schema="analytics"), "tables": TableStore(duckdb_path=db),
        "log": LogDatabase(database=db)})
    assert result.success and seen == {"kept": True, "rows": 1, "log kept": True}
    assert not duckdb_kept.is_kept(db)
    with LogDatabase(database=db).get_connection() as con:  # outside a run nothing is kept
        assert not duckdb_kept.is_kept(db)
    # any configuration may open the file after the run, read-only too
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("select count(*) from analytics.u").fetchone() == (1,)


def test_another_process_writes_while_a_step_computes(db, monkeypatch):
    monkeypatch.setattr(duckdb_kept, "IDLE_SECONDS", 0.1)
    done = {}

    @dg.asset(partitions_def=PARTS, metadata={"partition_expr": "report_date"})
    def t(context) -> pd.DataFrame:
        return pd.DataFrame({"report_date": pd.to_datetime([context.partition_key]), "x": [1.0]})

    @dg.asset(partitions_def=PARTS, metadata={"partition_expr": "report_date"})
    def u(t: pd.DataFrame) -> pd.DataFrame:
        deadline = time.monotonic() + 30
        while duckdb_kept.is_kept(db) and time.monotonic() < deadline:  # the input's connect, kept a while
            time.sleep(0.05)
        done["other"] = _other_process_writes(db)
        return t

    result = dg.materialize([t, u], partition_key="2025-01-02",
                            resources={"io_manager": AdperfDuckDBIOManager(database=db, schema="analytics")})
    assert result.success
    assert done["other"].returncode == 0, done["other"].stderr
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("select count(*) from other").fetchone() == (1,)


def test_a_connection_outside_a_run_keeps_nothing(db):
    TableStore(duckdb_path=db).table_names()
    assert not duckdb_kept.is_kept(db)


def test_idle_expiry_and_a_later_connect_that_kept_it_longer(db, monkeypatch):
    monkeypatch.setattr(duckdb_kept, "IDLE_SECONDS", 30.0)
    duckdb_kept.keep_open(db, CONFIG)
    first = duckdb_kept._kept[db][2]
    duckdb_kept.keep_open(db, CONFIG)
    duckdb_kept._expire(db, first)  # the first connect's timer, firing after the second connect
    assert duckdb_kept.is_kept(db)
    duckdb_kept._expire(db, duckdb_kept._kept[db][2])
    assert not duckdb_kept.is_kept(db)
    assert _other_process_writes(db).returncode == 0


def test_another_configuration_reopens_it(db):
    duckdb_kept.keep_open(db, CONFIG)
    other = {"custom_user_agent": "dagster", "threads": "1"}
    duckdb_kept.keep_open(db, other)
    with duckdb.connect(database=db, read_only=False, config=other) as con:
        assert con.execute("select 1").fetchone() == (1,)


def test_a_file_another_process_holds_is_not_kept(db):
    duckdb.connect(db).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        duckdb_kept.keep_open(db, CONFIG)
        assert not duckdb_kept.is_kept(db)
    finally:
        holder.kill()
        holder.wait()
