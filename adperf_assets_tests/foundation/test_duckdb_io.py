"""The project's DuckDB IO manager: empty partitions, schema changes between releases, by-name inserts."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from adperf_assets.defs.common.io_manager import AdperfDuckDBIOManager

PARTS = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-10")


def _write(path, frame_of_day, day):
    """Materialize one day of an asset ``t`` whose output ``frame_of_day(day)`` gives."""

    @dg.asset(name="t", partitions_def=PARTS, metadata={"partition_expr": "report_date"})
    def t(context) -> pd.DataFrame:
        return frame_of_day(context.partition_key)

    result = dg.materialize([t], partition_key=day,
                            resources={"io_manager": AdperfDuckDBIOManager(database=str(path), schema="analytics")})
    assert result.success


def _table(path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from analytics.t order by report_date, ad_id").df()


def _day(day, **cols):
    return pd.DataFrame({"report_date": pd.to_datetime([day, day]), "ad_id": ["a1", "a2"], **cols})


@pytest.fixture
def db(tmp_path):
    return tmp_path / "t.duckdb"


def test_an_empty_first_day_creates_a_typed_table(db):
    _write(db, lambda d: _day(d, cost_usd=[1.0, 2.0]).iloc[0:0], "2025-01-01")
    assert _table(db).empty
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 't'").fetchall())
    assert types["ad_id"] == "VARCHAR" and types["cost_usd"] == "DOUBLE"
    _write(db, lambda d: _day(d, cost_usd=[1.0, 2.0]), "2025-01-02")
    assert _table(db)["cost_usd"].tolist() == [1.0, 2.0]


def test_a_new_column_is_added_and_a_dropped_one_holds_null(db):
    _write(db, lambda d: _day(d, cost_usd=[1.0, 2.0], clicks=[10, 20]), "2025-01-01")
    # the next release writes installs and no longer writes clicks
    _write(db, lambda d: _day(d, cost_usd=[3.0, 4.0], installs=[5, 6]), "2025-01-02")
    t = _table(db)
    assert list(t.columns) == ["report_date", "ad_id", "cost_usd", "clicks", "installs"]
    first, second = t[t["report_date"] == "2025-01-01"], t[t["report_date"] == "2025-01-02"]
    assert first["clicks"].tolist() == [10, 20] and first["installs"].isna().all()
    assert second["installs"].tolist() == [5, 6] and second["clicks"].isna().all()
    assert t["cost_usd"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_columns_are_matched_by_name_not_position(db):
    _write(db, lambda d: _day(d, cost_usd=[1.0, 2.0], return_usd=[0.5, 0.25]), "2025-01-01")
    _write(db, lambda d: _day(d, return_usd=[7.0, 8.0], cost_usd=[3.0, 4.0]), "2025-01-02")  # same columns, swapped
    t = _table(db)
    second = t[t["report_date"] == pd.Timestamp("2025-01-02")]
    assert second["cost_usd"].tolist() == [3.0, 4.0] and second["return_usd"].tolist() == [7.0, 8.0]


def test_rerunning_a_day_replaces_exactly_that_day(db):
    _write(db, lambda d: _day(d, cost_usd=[1.0, 2.0]), "2025-01-01")
    _write(db, lambda d: _day(d, cost_usd=[3.0, 4.0]), "2025-01-02")
    _write(db, lambda d: _day(d, cost_usd=[9.0, 9.5]).iloc[:1], "2025-01-01")
    assert _table(db)["cost_usd"].tolist() == [9.0, 3.0, 4.0]


def test_a_range_run_counts_each_days_rows_and_stores_the_figure_once(db):
    """A 3-day run: every day's materialization has its own row count; only the last day's (the asset's latest,
    which the UI shows) carries the figure, the preview and the column schema; the others name that day."""
    import matplotlib.pyplot as plt
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from adperf_assets.defs.common.metadata import figure_md, table_md

    @dg.asset(name="t", partitions_def=PARTS, metadata={"partition_expr": "report_date"},
              backfill_policy=dg.BackfillPolicy.single_run())
    def t(context) -> dg.Output[pd.DataFrame]:
        days = ["2025-01-02"] * 3 + ["2025-01-04"]  # 2025-01-03 has no rows
        out = pd.DataFrame({"report_date": pd.to_datetime(days), "ad_id": ["a1", "a2", "a3", "a1"]})
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        return dg.Output(out, metadata={"plot": figure_md(fig, "a line"), "preview": table_md(out), "days": 3})

    with dg.instance_for_test() as instance:
        result = dg.materialize([t], instance=instance, resources={
            "io_manager": AdperfDuckDBIOManager(database=str(db), schema="analytics")},
            tags={ASSET_PARTITION_RANGE_START_TAG: "2025-01-02", ASSET_PARTITION_RANGE_END_TAG: "2025-01-04"})
        assert result.success
        mats = {m.partition: m.metadata for m in result.asset_materializations_for_node("t")}
    assert sorted(mats) == ["2025-01-02", "2025-01-03", "2025-01-04"]
    assert {p: m["dagster/partition_row_count"].value for p, m in mats.items()} == {
        "2025-01-02": 3, "2025-01-03": 0, "2025-01-04": 1}
    assert all(m["dagster/row_count"].value == 4 and m["days"].value == 3 for m in mats.values())
    with_figure = [p for p, m in mats.items() if "data:image/png;base64," in m["plot"].value]
    assert with_figure == ["2025-01-04"]
    assert "a3" in mats["2025-01-04"]["preview"].value and "dataframe_columns" in mats["2025-01-04"]
    for p in ("2025-01-02", "2025-01-03"):
        assert "2025-01-04" in mats[p]["plot"].value and "a3" not in mats[p]["preview"].value
        assert "dataframe_columns" not in mats[p]
