"""The Iceberg table store (ADPERF_TABLE_STORE=iceberg) and the one reader of stored rows on both stores:
reruns and ranges replace their days, new columns, empty days, bad rows, commit races, killed writers."""


import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.common.table_store import table_resources
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.partitions import window_days
from adperf_assets.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
STORES = ("duckdb", "iceberg")


def _resources(home: Path, store: str, uri: str = "", warehouse: str = "") -> dict:
    s = dataclasses.replace(load_settings(), home=home, table_store=store, iceberg_catalog_uri=uri,
                            iceberg_warehouse=warehouse)
    home.mkdir(parents=True, exist_ok=True)
    return table_resources(s)


def _run(assets, res, first: str, last: str | None = None) -> None:
    with dg.instance_for_test() as instance:
        if last is None:
            result = dg.materialize(assets, partition_key=first, resources=res, instance=instance)
        else:
            result = dg.materialize(assets, resources=res, instance=instance, tags={
                ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
    assert result.success


def _versioned(value: dict):
    """``spend``: per day two campaigns costing value["cost"], plus the columns in value["extra"]."""

    @daily_table(group_name="t")
    def spend(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = window_days(context)
        out = pd.DataFrame({"report_date": np.repeat(np.array(days, dtype="datetime64[ns]"), 2),
                            "campaign_id": ["c1", "c2"] * len(days), "cost_usd": [value["cost"]] * (2 * len(days))})
        for c in value.get("extra", []):
            out[c] = 7
        return out.drop(columns=value.get("drop", []))

    return spend


@pytest.mark.parametrize("store", STORES)
def test_a_rerun_or_a_range_replaces_exactly_its_days(tmp_path, store):
    res = _resources(tmp_path, store)
    v = {"cost": 1.0}
    spend = _versioned(v)
    _run([spend], res, "2025-07-01", "2025-07-04")
    v["cost"] = 2.0
    _run([spend], res, "2025-07-02")                       # one day again
    v["cost"] = 3.0
    _run([spend], res, "2025-07-03", "2025-07-04")         # a range again
    rows = res["tables"].read("spend", ["report_date", "campaign_id", "cost_usd"])
    per_day = rows.groupby(rows["report_date"].dt.date.astype(str))["cost_usd"].agg(["size", "max"])
    assert per_day.to_dict("index") == {"2025-07-01": {"size": 2, "max": 1.0}, "2025-07-02": {"size": 2, "max": 2.0},
                                        "2025-07-03": {"size": 2, "max": 3.0}, "2025-07-04": {"size": 2, "max": 3.0}}


@pytest.mark.parametrize("store", STORES)
def test_the_reader_gives_the_same_rows_on_both_stores(tmp_path, store):
    """Columns, a [first, before) window, equality / isin and "is distinct from" (nulls kept)."""
    res = _resources(tmp_path, store)

    @daily_table(group_name="t")
    def fits(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = window_days(context)
        n = len(days)
        return pd.DataFrame({"report_date": np.repeat(np.array(days, dtype="datetime64[ns]"), 4),
                             "user_id": np.tile([1, 2, 3, 4], n).astype("int64"),
                             "model": ["pooled", "no_fit", None, "segment"] * n,
                             "ltv_30d_usd": np.arange(4 * n, dtype=float)})

    _run([fits], res, "2025-07-01", "2025-07-05")
    read = res["tables"].read
    assert read("missing_table", ["report_date"]) is None
    got = read("fits", ["report_date", "user_id", "model"], pd.Timestamp("2025-07-02"), pd.Timestamp("2025-07-04"),
               not_equal={"model": "no_fit"})
    assert list(got.columns) == ["report_date", "user_id", "model"]
    got = got.sort_values(["report_date", "user_id"]).reset_index(drop=True)
    assert got["report_date"].dt.date.astype(str).tolist() == ["2025-07-02"] * 3 + ["2025-07-03"] * 3
    assert got["user_id"].tolist() == [1, 3, 4, 1, 3, 4]                  # the null model is kept
    assert got["model"].isna().sum() == 2
    pick = read("fits", ["user_id", "ltv_30d_usd"], equal={"user_id": [2, 4], "model": "segment"})
    assert sorted(pick["user_id"]) == [4] * 5
    assert sorted(pick["ltv_30d_usd"]) == [3.0, 7.0, 11.0, 15.0, 19.0]
    assert read("fits", None, before=pd.Timestamp("2025-07-02")).shape == (4, 4)
    with pytest.raises(Exception, match="user_id_day|not found|no column|Cannot find"):
        read("fits", ["user_id"], first=pd.Timestamp("2025-07-02"), day_column="user_id_day")


def test_a_new_column_reads_null_in_older_days_and_a_dropped_one_null_in_newer(tmp_path):
    res = _resources(tmp_path, "iceberg")
    _run([_versioned({"cost": 1.0})], res, "2025-07-01")
    _run([_versioned({"cost": 1.0, "extra": ["clicks"]})], res, "2025-07-02")
    _run([_versioned({"cost": 1.0, "extra": ["clicks"], "drop": ["campaign_id"]})], res, "2025-07-03")
    rows = res["tables"].read("spend", None).sort_values(["report_date", "campaign_id"])
    day = rows["report_date"].dt.date.astype(str)
    assert rows.loc[day == "2025-07-01", "clicks"].isna().all()
    assert (rows.loc[day == "2025-07-02", "clicks"] == 7).all()
    assert rows.loc[day == "2025-07-03", "campaign_id"].isna().all()
    assert rows.loc[day != "2025-07-03", "campaign_id"].notna().all()
    assert len(rows) == 6


def test_an_empty_day_creates_the_table_and_clears_a_stored_day(tmp_path):
    res = _resources(tmp_path, "iceberg")
    state = {"rows": 0}

    @daily_table(group_name="t")
    def purchases(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = window_days(context)
        n = state["rows"]
        return pd.DataFrame({"report_date": pd.Series([days[0]] * n, dtype="datetime64[ns]"),
                             "user_id": pd.Series(["u"] * n, dtype=object), "net_usd": [1.5] * n})

    _run([purchases], res, "2025-07-01")                   # no rows, object column: still a table
    assert res["tables"].read("purchases", None).empty
    state["rows"] = 3
    _run([purchases], res, "2025-07-02")
    assert len(res["tables"].read("purchases", ["user_id"])) == 3
    state["rows"] = 0
    _run([purchases], res, "2025-07-02")                   # the day became empty
    assert res["tables"].read("purchases", ["user_id"]).empty


def test_rows_outside_the_runs_days_are_refused(tmp_path):
    res = _resources(tmp_path, "iceberg")

    @daily_table(group_name="t")
    def stray(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = window_days(context)[0]
        return pd.DataFrame({"report_date": [day, day + pd.Timedelta(days=1)], "x": [1, 2]})

    with dg.instance_for_test() as instance, pytest.raises(ValueError, match=r"stray: 1 row\(s\) have report_date "
                                                                             r"outside the run's window"):
        dg.materialize([stray], partition_key="2025-07-01", resources=res, instance=instance)


def test_money_columns_are_stored_in_the_reporting_currency(tmp_path):
    s = dataclasses.replace(load_settings(), home=tmp_path, table_store="iceberg", report_currency="EUR")
    tmp_path.mkdir(exist_ok=True)
    from unittest import mock

    with mock.patch("adperf_assets.defs.common.money.current_settings", return_value=s):
        res = table_resources(s)
        _run([_versioned({"cost": 4.0})], res, "2025-07-01")
        from adperf_assets.defs.common import iceberg_store

        cat = iceberg_store.catalog(s.iceberg_catalog, "analytics")
        assert "cost_eur" in [f.name for f in cat.load_table(("analytics", "spend")).schema().fields]
        assert res["tables"].read("spend", ["cost_usd"])["cost_usd"].tolist() == [4.0, 4.0]


def _writer(uri: str, warehouse: str, first: str, last: str, rows: int, value: float, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "adperf_assets_tests.scale.iceberg_writer", uri, warehouse,
                             first, last, str(rows), str(value), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _toy_rows(uri: str, warehouse: str) -> pd.DataFrame:
    from adperf_assets.defs.common.table_store import TableStore

    return TableStore(store="iceberg", catalog_properties={"type": "sql", "uri": uri, "warehouse": warehouse}).read(
        "toy", ["report_date", "user_id", "net_usd"])


def test_a_writer_killed_before_its_commit_leaves_the_previous_day_readable(tmp_path):
    uri, wh = f"sqlite:///{tmp_path}/catalog.db", (tmp_path / "wh").as_uri()
    first = _writer(uri, wh, "2025-07-01", "2025-07-02", 5000, 1.0)
    assert first.wait(120) == 0, first.stdout.read()
    killed = _writer(uri, wh, "2025-07-02", "2025-07-02", 9000, 2.0, "--die-before-commit")
    assert killed.wait(120) == -9, killed.stdout.read()
    assert len(list((tmp_path / "wh").rglob("*.parquet"))) >= 3  # its data file was written, never committed
    rows = _toy_rows(uri, wh)
    assert rows.groupby(rows["report_date"].dt.date.astype(str)).size().to_dict() == {"2025-07-01": 5000,
                                                                                   "2025-07-02": 5000}
    assert (rows["net_usd"] == 1.0).all()


@pytest.mark.postgres
def test_writers_racing_into_a_new_table_all_land_once(tmp_path, postgres_server):
    """Four processes released at the same instant write four days (one a 2-day range) into a table that
    does not exist yet, in a PostgreSQL catalog; then one reruns its day."""
    import psycopg2

    con = psycopg2.connect(**postgres_server.dsn("postgres"))
    con.autocommit = True
    con.cursor().execute("create database lake_race")
    con.close()
    uri, wh = postgres_server.url("lake_race"), (tmp_path / "wh").as_uri()
    start = time.time() + 8  # after the children's imports
    windows = [("2025-07-01", "2025-07-01"), ("2025-07-02", "2025-07-03"), ("2025-07-04", "2025-07-04"),
               ("2025-07-05", "2025-07-05")]
    procs = [_writer(uri, wh, a, b, 20000, 1.0, "--start-at", str(start)) for a, b in windows]
    for p in procs:
        assert p.wait(300) == 0, p.stdout.read()
    rerun = _writer(uri, wh, "2025-07-03", "2025-07-03", 20000, 2.0)
    assert rerun.wait(120) == 0, rerun.stdout.read()
    rows = _toy_rows(uri, wh)
    per_day = rows.groupby(rows["report_date"].dt.date.astype(str))
    assert per_day.size().to_dict() == {f"2025-07-0{d}": 20000 for d in range(1, 6)}
    assert per_day["user_id"].nunique().to_dict() == {f"2025-07-0{d}": 20000 for d in range(1, 6)}
    assert per_day["net_usd"].max().to_dict() == {**{f"2025-07-0{d}": 1.0 for d in (1, 2, 4, 5)}, "2025-07-03": 2.0}


@pytest.mark.postgres
def test_the_delivery_logs_in_the_catalogs_postgresql_behave_as_in_duckdb(tmp_path, postgres_server):
    """A milestone is claimed once whichever machine claims it; the action log reads back alike."""
    import psycopg2

    from adperf_assets.defs.actions import log as action_log
    from adperf_assets.defs.common.log_db import log_database
    from adperf_assets.defs.report.assets import claim, sent_log, settle

    con = psycopg2.connect(**postgres_server.dsn("postgres"))
    con.autocommit = True
    con.cursor().execute("create database lake_logs")
    con.close()
    shared = log_database(str(tmp_path / "unused.duckdb"), postgres_server.url("lake_logs"))
    local = log_database(str(tmp_path / "local.duckdb"), "")
    assert shared.url and not local.url
    row = pd.Series({"network": "facebook", "ad_id": "a1", "milestone": 7, "report_date": "2025-07-15",
                     "first_spend_date": "2025-07-09"})
    for db in (shared, local):
        assert claim(db, row) is True
        assert claim(db, row) is False                          # another run (pod) holds it
        settle(db, row, "outbox/x.json")
        assert claim(db, row) is False
        assert claim(db, pd.Series({**row, "milestone": 14})) is True
        settle(db, pd.Series({**row, "milestone": 14}), None)  # a failed post releases its claim
        assert claim(db, pd.Series({**row, "milestone": 14})) is True
    a, b = sent_log(shared), sent_log(local)
    assert a[["network", "ad_id", "milestone", "status", "destination"]].to_dict("records") == \
        b[["network", "ad_id", "milestone", "status", "destination"]].to_dict("records")
    assert str(a["report_date"].dtype).startswith("datetime64") and str(b["report_date"].dtype).startswith("datetime64")
    rec = {"report_date": "2025-07-15", "mode": "dry_run", "outcome": "skipped", "network": "facebook",
           "object_id": "c1", "budget_before": 10.0, "budget_after": float("nan"), "days_live": 3, "precision": 0.5}
    ids = {db.url or "duckdb": action_log.append(db, rec) for db in (shared, local)}
    assert len(set(ids.values())) == 2
    pg, dd = action_log.read(shared, "2025-07-15"), action_log.read(local, "2025-07-15")
    cols = ["mode", "outcome", "network", "object_id", "budget_before", "days_live", "precision"]
    assert pg[cols].to_dict("records") == dd[cols].to_dict("records")
    assert pg["budget_after"].isna().all() and dd["budget_after"].isna().all()
    assert action_log.read(shared, "2025-07-16").empty


def test_table_store_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("ADPERF_HOME", str(tmp_path))
    monkeypatch.delenv("ADPERF_TABLE_STORE", raising=False)
    s = load_settings()
    assert s.table_store == "duckdb"
    assert type(_resources(tmp_path / "d", "duckdb")["io_manager"]).__name__ == "AdperfDuckDBIOManager"
    assert s.iceberg_catalog == {"type": "sql", "uri": f"sqlite:///{tmp_path}/iceberg_catalog.db",
                                 "warehouse": (tmp_path / "warehouse").as_uri()}
    monkeypatch.setenv("ADPERF_TABLE_STORE", "Iceberg")
    monkeypatch.setenv("ADPERF_ICEBERG_CATALOG_URI", "postgresql+psycopg2://u:p@db:5432/lake")
    monkeypatch.setenv("ADPERF_ICEBERG_WAREHOUSE", "s3://bucket/warehouse")
    monkeypatch.setenv("ADPERF_ICEBERG_PROPERTIES", '{"s3.region": "eu-west-1"}')
    s = load_settings()
    assert s.table_store == "iceberg"
    assert s.iceberg_catalog == {"type": "sql", "uri": "postgresql+psycopg2://u:p@db:5432/lake",
                                 "warehouse": "s3://bucket/warehouse", "s3.region": "eu-west-1"}
    assert type(table_resources(s)["io_manager"]).__name__ == "AdperfIcebergIOManager"
    monkeypatch.setenv("ADPERF_TABLE_STORE", "parquet")
    with pytest.raises(ValueError, match="ADPERF_TABLE_STORE='parquet': must be one of duckdb, iceberg"):
        load_settings()
    monkeypatch.setenv("ADPERF_TABLE_STORE", "iceberg")
    monkeypatch.setenv("ADPERF_ICEBERG_PROPERTIES", "[1]")
    with pytest.raises(ValueError, match="ADPERF_ICEBERG_PROPERTIES must be a JSON object"):
        load_settings()
