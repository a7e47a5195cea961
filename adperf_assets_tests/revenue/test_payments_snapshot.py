"""payments_snapshot against the sample world's truth: amounts, late refunds, re-runs, snapshot instant."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.revenue.assets import payments_snapshot
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.app_db import AppDatabase, AppDatabaseError, SampleAppDatabase
from adperf_assets.sample import generate_world, load_manifest
from adperf_assets_tests.revenue.runs import materialize, table

CENT = 0.01


def _world_days(world) -> tuple[str, str]:
    m = load_manifest(world)
    return m["first_day"], m["last_day"]


def _report_day(utc_text: str, tz: str) -> pd.Timestamp:
    t = datetime.fromisoformat(utc_text).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(tz))
    return pd.Timestamp(t.date())


def _payments(world) -> pd.DataFrame:
    con = sqlite3.connect(world / "app.db")
    try:
        return pd.read_sql("select * from payments order by id", con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def whole_world(tmp_path_factory, small_settings):
    """The whole small world snapshotted in one single-run backfill, as of the world's end."""
    s = dataclasses.replace(small_settings, home=tmp_path_factory.mktemp("revenue_whole"),
                            world_dir=small_settings.world_path)
    res = build_resources(s)
    res["app_db"] = SampleAppDatabase(world=res["world"], snapshot_lag_hours=24 * 3650)
    first, last = _world_days(s.world_path)
    result = materialize(res, [fx_rates, payments_snapshot], first, last)
    return s, table(s, "payments_snapshot"), result


def test_whole_world_gross_equals_truth_within_cents(whole_world):
    s, snap, _ = whole_world
    truth = pd.read_parquet(s.world_path / "truth" / "purchases.parquet")
    expected = truth.groupby(["report_date", "user_id"])["gross_usd"].sum()
    got = snap.groupby(["report_date", "user_id"])["gross_usd"].sum()
    assert len(expected) > 300
    assert got.index.equals(expected.index)
    assert (got - expected).abs().max() <= CENT
    assert abs(got.sum() - expected.sum()) <= CENT * 5
    assert (snap["purchases"].sum(), snap["fx_rate"].notna().all()) == (len(truth), True)


def test_whole_world_refunds_are_netted_onto_the_purchase_day(whole_world):
    s, snap, _ = whole_world
    tz = load_manifest(s.world_path)["report_timezone"]
    pay = _payments(s.world_path)
    purchases = pay[pay["kind"] == "purchase"].set_index("id")
    reversed_ids = pay.loc[pay["kind"] != "purchase", "refers_to_payment_id"].astype(int)
    assert len(reversed_ids) > 10
    # truth: every purchase is worth gross_usd; a reversed one is worth nothing net
    truth = pd.read_parquet(s.world_path / "truth" / "purchases.parquet").set_index(["report_date", "user_id"])
    expected = truth["gross_usd"].copy()
    for pid in reversed_ids:
        row = purchases.loc[pid]
        expected.loc[(_report_day(row["created_at"], tz), row["user_id"])] = 0.0
    got = snap.groupby(["report_date", "user_id"])["net_usd"].sum()
    assert (got - expected.sort_index()).abs().max() <= CENT
    assert snap["refunds"].sum() == len(reversed_ids)
    assert snap["chargebacks"].sum() == (pay["kind"] == "chargeback").sum()
    refunded = snap[snap["refunds"] > 0]
    assert (refunded["net_local"].abs() < 1e-9).all()  # one purchase per user-day, fully refunded
    assert ((snap["net_local"] - (snap["gross_local"] - snap["refunded_local"])).abs() < 1e-9).all()


def test_whole_world_snapshot_instant_is_clipped_to_the_world_end(whole_world):
    s, snap, result = whole_world
    m = load_manifest(s.world_path)
    end = (datetime.fromisoformat(m["last_day"]) + timedelta(days=1)).replace(tzinfo=ZoneInfo(m["report_timezone"]))
    end_utc = pd.Timestamp(end.astimezone(ZoneInfo("UTC")).replace(tzinfo=None))
    assert (snap["snapshot_at"] == end_utc).all()
    mat = result.get_asset_materialization_events()
    assert {e.materialization.metadata["snapshot_at_utc"].value for e in mat if e.asset_key.path[-1] == "payments_snapshot"} == {str(end_utc)}


def _late_refund(world, tz: str, min_gap_days: int = 2):
    """A refund that arrived at least ``min_gap_days`` report days after its purchase and more than
    6 h into its own report day (so the day-before snapshot, taken 6 h after that day, misses it)."""
    pay = _payments(world)
    purchases = pay[pay["kind"] == "purchase"].set_index("id")
    for _, r in pay[pay["kind"] != "purchase"].iterrows():
        p = purchases.loc[int(r["refers_to_payment_id"])]
        d, rd = _report_day(p["created_at"], tz), _report_day(r["created_at"], tz)
        local = datetime.fromisoformat(r["created_at"]).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(tz))
        if (rd - d).days >= min_gap_days and local.hour >= 7:
            return p, r, d, rd
    raise AssertionError("the world has no late refund")


def test_late_refund_lands_on_the_original_day_only_when_the_later_resnapshot_runs(fresh_home):
    tz = load_manifest(fresh_home.world_path)["report_timezone"]
    purchase, refund, d, rd = _late_refund(fresh_home.world_path, tz)
    res = build_resources(fresh_home)
    user = int(purchase["user_id"])
    day = lambda: table(fresh_home, "payments_snapshot", f"where report_date = '{d.date()}' and user_id = {user}")

    with dg.instance_for_test() as instance:
        materialize(res, [fx_rates, payments_snapshot], str(d.date()), instance=instance)
        before = day()
        assert (before["refunds"].sum(), before["purchases"].sum()) == (0, 1)
        assert before["net_usd"].iloc[0] == pytest.approx(before["gross_usd"].iloc[0]) and before["gross_usd"].iloc[0] > 0

        # the trailing re-snapshot up to the day before the refund arrived: still not known
        materialize(res, [fx_rates, payments_snapshot], str(d.date()), str((rd - timedelta(days=1)).date()),
                    instance=instance)
        assert day()["refunds"].sum() == 0

        # the re-snapshot that reaches the refund's day nets it onto the purchase's day
        materialize(res, [fx_rates, payments_snapshot], str(d.date()), str(rd.date()), instance=instance)
        after = day()
    assert after["refunds"].sum() == 1
    assert after["chargebacks"].sum() == int(refund["kind"] == "chargeback")
    assert after["refunded_local"].iloc[0] == pytest.approx(-float(refund["amount"]))
    assert abs(after["net_usd"].iloc[0]) < 1e-9 and after["gross_usd"].iloc[0] == pytest.approx(before["gross_usd"].iloc[0])
    # and the refund's own day shows no negative revenue for it
    own = table(fresh_home, "payments_snapshot", f"where report_date = '{rd.date()}' and user_id = {user}")
    assert (own["net_usd"] >= 0).all()


def test_rerunning_a_day_or_a_window_gives_identical_tables(fresh_home):
    res = build_resources(fresh_home)
    snaps = []
    with dg.instance_for_test() as instance:
        materialize(res, [fx_rates, payments_snapshot], "2025-07-09", "2025-07-11", instance=instance)
        outside = table(fresh_home, "payments_snapshot", "where report_date <> '2025-07-10' order by all")
        for _ in range(3):
            materialize(res, [fx_rates, payments_snapshot], "2025-07-10", instance=instance)
            snaps.append(table(fresh_home, "payments_snapshot", "order by all"))
        windows = []
        for _ in range(2):
            materialize(res, [fx_rates, payments_snapshot], "2025-07-05", "2025-07-08", instance=instance)
            windows.append(table(fresh_home, "payments_snapshot", "order by all"))
    pd.testing.assert_frame_equal(snaps[0], snaps[1])
    pd.testing.assert_frame_equal(snaps[0], snaps[2])
    pd.testing.assert_frame_equal(windows[0], windows[1])
    day = snaps[0][snaps[0]["report_date"] == "2025-07-10"]
    assert len(day) > 0 and not day.duplicated(["user_id", "store", "currency"]).any()
    # re-running one day left the other days of the earlier window as they were
    pd.testing.assert_frame_equal(snaps[0][snaps[0]["report_date"] != "2025-07-10"].reset_index(drop=True),
                                  outside.reset_index(drop=True))
    assert set(windows[0]["report_date"].dt.strftime("%Y-%m-%d")) >= {"2025-07-05", "2025-07-09", "2025-07-11"}


def test_a_day_without_purchases_writes_no_rows(tmp_path, small_settings):
    # the small world has purchases every day: a world of 10 installs a day has days without any
    world = generate_world(tmp_path / "world", seed=7, days=45, installs_per_day=10)
    s = dataclasses.replace(small_settings, home=tmp_path / "home", world_dir=world, sample_days=45,
                            sample_installs_per_day=10)
    tz = load_manifest(world)["report_timezone"]
    bought = {_report_day(t, tz) for t in _payments(world)["created_at"]}
    full = max(d for d in bought if d <= pd.Timestamp("2025-07-10")).strftime("%Y-%m-%d")  # a day with purchases
    empty = next(d for d in pd.date_range("2025-06-01", periods=45) if d not in bought).strftime("%Y-%m-%d")
    res = build_resources(s)
    materialize(res, [fx_rates, payments_snapshot], full)
    kept = table(s, "payments_snapshot")
    assert len(kept) > 0
    result = materialize(res, [fx_rates, payments_snapshot], empty)
    assert result.success
    assert len(table(s, "payments_snapshot", f"where report_date = '{empty}'")) == 0
    pd.testing.assert_frame_equal(table(s, "payments_snapshot"), kept)


def test_sample_snapshot_instant_is_window_end_plus_lag_clipped_to_world_end(small_settings):
    db = SampleAppDatabase(world=build_resources(small_settings)["world"], snapshot_lag_hours=6)
    world_end = db.world_end_utc()
    assert world_end == datetime(2025, 8, 14, 15, 0)  # 2025-08-15 00:00 Asia/Seoul
    assert db.snapshot_instant(datetime(2025, 7, 1, 15)) == datetime(2025, 7, 1, 21)
    assert db.snapshot_instant(datetime(2025, 8, 14, 12)) == world_end
    assert db.snapshot_instant(world_end) == world_end
    assert db.masked_url() == f"sqlite:///{small_settings.world_path / 'app.db'}"


def test_live_database_snapshot_is_taken_now():
    db = AppDatabase(url="sqlite://")
    now = datetime.utcnow().replace(microsecond=0)
    assert abs((db.snapshot_instant(datetime(2020, 1, 1)) - now).total_seconds()) < 5


def test_the_password_in_a_url_never_shows():
    db = AppDatabase(url="postgresql+psycopg2://app:s3cr3t-pw@127.0.0.1:1/app", connect_timeout_s=2)
    assert db.masked_url() == "postgresql+psycopg2://app:***@127.0.0.1:1/app"
    with pytest.raises(AppDatabaseError) as err:
        db.purchases_and_reversals(datetime(2025, 7, 1), datetime(2025, 7, 2), datetime(2025, 7, 2))
    text = str(err.value)
    assert "s3cr3t-pw" not in text and "***" in text and err.value.__cause__ is None
    assert err.value.__suppress_context__
    bad = AppDatabase(url="postgresql://app:s3cr3t-pw@host:notaport/app")
    with pytest.raises(AppDatabaseError) as err:
        bad.purchases_and_reversals(datetime(2025, 7, 1), datetime(2025, 7, 2), datetime(2025, 7, 2))
    assert "s3cr3t-pw" not in str(err.value)
    assert "s3cr3t-pw" not in bad.masked_url()


def test_reader_returns_window_rows_with_reversals_up_to_as_of(small_world):
    db = AppDatabase(url=f"sqlite:///{small_world / 'app.db'}")
    pay = _payments(small_world)
    start, end = datetime(2025, 6, 10), datetime(2025, 6, 20)
    as_of = datetime(2025, 7, 1)
    p, r = db.purchases_and_reversals(start, end, as_of)
    ts = pd.to_datetime(pay["created_at"])
    exp_p = pay[(pay["kind"] == "purchase") & (ts >= start) & (ts < end)]
    assert p["payment_id"].tolist() == exp_p["id"].tolist()
    assert p["created_at"].dtype == "datetime64[ns]" and p["amount"].dtype == "float64"
    exp_r = pay[(pay["kind"] != "purchase") & (ts <= as_of) & pay["refers_to_payment_id"].isin(exp_p["id"])]
    assert r["payment_id"].tolist() == exp_r["id"].tolist() and len(exp_r) > 0
    # a purchase at exactly the window's start is in, one at its end is out (no text/format slip)
    t0 = pd.Timestamp(exp_p["created_at"].iloc[0]).to_pydatetime()
    p2, _ = db.purchases_and_reversals(t0, t0 + timedelta(seconds=1), as_of)
    p3, _ = db.purchases_and_reversals(t0 - timedelta(hours=1), t0, as_of)
    assert exp_p["id"].iloc[0] in p2["payment_id"].tolist() and exp_p["id"].iloc[0] not in p3["payment_id"].tolist()
