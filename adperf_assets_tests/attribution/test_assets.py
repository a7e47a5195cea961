"""``installs`` and ``user_segments`` materialized on the sample world, checked against its truth."""

from __future__ import annotations

import glob
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pandas as pd
import pytest

from adperf_assets.defs.attribution.assets import installs, user_segments
from adperf_assets.defs.attribution.checks import (
    installs_not_in_future,
    installs_unattributed_share,
    installs_user_ids_unique,
)
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.attribution.mmp import AppsFlyerPullApi
from adperf_assets.sample import layout
from adperf_assets_tests.attribution.fake_appsflyer import TOKEN

CHECKS = [installs_user_ids_unique, installs_not_in_future, installs_unattributed_share]
FIRST, LAST = "2025-06-01", "2025-08-14"  # the small world's report days


def run(home, mmp="appsflyer", partition=None, first=FIRST, last=LAST, resources=None, **config):
    tags = None if partition else {"dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last}
    return dg.materialize(
        [installs, user_segments, *CHECKS],
        resources=resources or build_resources(home),
        partition_key=partition, tags=tags,
        run_config=dg.RunConfig(ops={"installs": {"config": {"mmp": mmp, **config}}}),
    )


def per_ad_day(df: pd.DataFrame, day_col: str) -> pd.Series:
    paid = df[(df["ad_id"] != "")]
    return paid.groupby([paid[day_col].astype("datetime64[ns]"), "ad_id"]).size().sort_index()


def mmp_view(users: pd.DataFrame, world, mmp: str) -> pd.DataFrame:
    """The world's truth as the MMP shows it: iOS users of paid media who denied ATT tracking have no ad
    (AppsFlyer: media source ``restricted``, still paid; Adjust: ``Organic``; docs/skan.md)."""
    from adperf_assets.sample.manifest import world_config
    from adperf_assets.sample.skan import consent

    out = users.copy()
    hidden = (~consent(world_config(world), users) & (out["acquisition"] == "paid")).to_numpy()
    for c in ("campaign_id", "ad_group_id", "ad_id"):
        out.loc[hidden, c] = ""
    out.loc[hidden, "network"] = "restricted" if mmp == "appsflyer" else "organic"
    if mmp == "adjust":
        out.loc[hidden, "acquisition"] = "organic"
    return out


@pytest.fixture(scope="module")
def world_users(small_world) -> pd.DataFrame:
    return pd.read_parquet(layout.truth(small_world, "users"))


@pytest.fixture(scope="module")
def truth(world_users, small_world) -> pd.DataFrame:
    """The truth as AppsFlyer (the default MMP) shows it."""
    return mmp_view(world_users, small_world, "appsflyer")


@pytest.mark.parametrize("mmp", ["appsflyer", "adjust"])
def test_attributed_installs_per_ad_per_day_equal_truth(fresh_home, world_users, small_world, mmp):
    truth = mmp_view(world_users, small_world, mmp)
    result = run(fresh_home, mmp)
    assert result.success
    got = result.output_for_node("installs")
    # the done-means: attributed installs per ad per day, exactly
    want = per_ad_day(truth, "cohort_date")
    pd.testing.assert_series_equal(per_ad_day(got, "install_date"), want, check_names=False)
    assert want.sum() > 1500  # paid iOS users who denied ATT tracking show no ad
    # and every user: day, attribution, network, ids, platform, country
    m = truth.merge(got, on="user_id", how="outer", suffixes=("_truth", ""), indicator=True)
    assert (m["_merge"] == "both").all(), m["_merge"].value_counts()
    assert (m["install_date"] == m["cohort_date"]).all()
    assert (m["attribution"] == m["acquisition"]).all()
    for c in ("network", "ad_id", "ad_group_id", "platform", "country"):
        assert (m[c] == m[f"{c}_truth"]).all(), c
    assert got["user_id"].is_unique and (got["mmp"] == mmp).all()
    counts = got["attribution"].value_counts().to_dict()
    assert counts == truth["acquisition"].value_counts().to_dict()
    assert counts["organic"] > 1000 and counts["unattributed"] > 20
    # metadata reports the unattributed users by id
    meta = result.asset_materializations_for_node("installs")[0].metadata
    assert meta["unattributed"].value == counts["unattributed"]
    listed = {int(x) for x in meta["unattributed_user_ids"].value.split(", ")}
    assert listed == set(truth.loc[truth["acquisition"] == "unattributed", "user_id"])
    assert meta["later_rows_ignored"].value > 50  # the world's reinstalls were seen and not counted
    # segments: emulator flag from the app DB's device fields equals the world's truth
    seg = result.output_for_node("user_segments").merge(truth[["user_id", "is_emulator"]], on="user_id",
                                                        suffixes=("", "_truth"))
    assert len(seg) == len(truth)
    assert (seg["is_emulator"] == seg["is_emulator_truth"]).all()
    assert seg["is_emulator"].sum() > 50
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["installs_user_ids_unique"].passed and checks["installs_not_in_future"].passed
    assert checks["installs_unattributed_share"].passed


def test_one_day_partition_is_stored_and_rerun_replaces_it(fresh_home, truth):
    day = "2025-07-01"
    for _ in range(2):
        assert run(fresh_home, partition=day).success
    with duckdb.connect(str(fresh_home.duckdb_path), read_only=True) as con:
        stored = con.execute("select * from analytics.installs").df()
        segs = con.execute("select count(*) from analytics.user_segments").fetchone()[0]
    assert set(stored["install_date"].astype("datetime64[ns]")) == {pd.Timestamp(day)}
    want = truth[truth["cohort_date"] == pd.Timestamp(day)]
    assert len(stored) == len(want) == segs
    pd.testing.assert_series_equal(per_ad_day(stored, "install_date"), per_ad_day(want, "cohort_date"),
                                   check_names=False)


def test_the_pull_api_resource_gives_the_same_installs(fresh_home, small_world, af):
    """The world's AppsFlyer CSVs served by the fake Pull API (one app id per store) → same table."""
    for report in ("installs_report", "organic_installs_report"):
        files = sorted(glob.glob(str(layout.appsflyer_report(small_world, report, datetime(2000, 1, 1)).parent / "*.csv")))
        rows = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
        for app_id, part in rows.groupby("App ID"):
            af.rows[(app_id, report)] = part.reset_index(drop=True)
    res = build_resources(fresh_home)
    res["appsflyer"] = AppsFlyerPullApi(api_token=TOKEN, app_ids=["com.matcha.app,id1500000001"], base_url=af.url)
    day = "2025-07-15"
    via_api = run(fresh_home, partition=day, resources=res).output_for_node("installs")
    via_files = run(fresh_home, partition=day).output_for_node("installs")
    pd.testing.assert_frame_equal(via_api, via_files)
    assert len(via_api) > 40
    # one request per app x report, for the day plus the 30-day look-back and the sign-up tolerance
    assert len(af.requests) == 4
    assert {r["params"]["from"] for r in af.requests} == {"2025-06-14 15:00:00"}
    assert {r["params"]["to"] for r in af.requests} == {"2025-07-15 16:00:00"}


def test_reattribution_last_changes_ads_only_for_reattributed_users(fresh_home):
    first = run(fresh_home, first="2025-06-01", last="2025-06-30").output_for_node("installs").set_index("user_id")
    last = run(fresh_home, first="2025-06-01", last="2025-06-30",
               reattribution="last").output_for_node("installs").set_index("user_id")
    assert first.index.equals(last.index)
    assert (first["install_time_utc"] == last["install_time_utc"]).all()
    moved = first["ad_id"] != last["ad_id"]
    assert 0 < moved.sum() < 0.05 * len(first)
    assert last.loc[moved, "is_reinstall"].all()


def test_bad_config_is_a_clear_error(fresh_home):
    with pytest.raises(Exception, match="mmp='branch'; choose one of appsflyer, adjust"):
        run(fresh_home, mmp="branch", partition="2025-07-01")


def frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"install_date": [pd.Timestamp("2025-07-01")] * n, "install_time_utc": [pd.Timestamp("2025-06-30 20:00")] * n,
            "attribution": ["paid"] * n}
    return pd.DataFrame({**base, **cols})


def test_checks_fail_on_duplicates_future_times_and_many_unattributed():
    dup = installs_user_ids_unique(installs=frame(user_id=[1, 2, 2]))
    assert not dup.passed and dup.metadata["duplicate_users"].value == 1
    assert installs_user_ids_unique(installs=frame(user_id=[1, 2, 3])).passed
    future = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=2)
    bad = installs_not_in_future(installs=frame(user_id=[1, 2], install_time_utc=[pd.Timestamp("2025-06-30"),
                                                                                  pd.Timestamp(future)]))
    assert not bad.passed and bad.metadata["future_installs"].value == 1
    una = installs_unattributed_share(installs=frame(user_id=list(range(10)),
                                                     attribution=["unattributed"] + ["paid"] * 9))
    assert not una.passed and una.severity == dg.AssetCheckSeverity.WARN
    assert una.metadata["share"].value == pytest.approx(0.1)


def test_checks_against_ad_spend_pass_on_the_world(fresh_home):
    from adperf_assets.defs.fx.assets import fx_rates
    from adperf_assets.defs.spend.assets import ad_spend, network_spend_assets
    from adperf_assets.defs.attribution.checks import installs_ad_ids_known_in_spend, installs_match_network_installs

    result = dg.materialize(
        [fx_rates, *network_spend_assets, ad_spend, installs, installs_ad_ids_known_in_spend,
         installs_match_network_installs],
        resources=build_resources(fresh_home),
        tags={"dagster/asset_partition_range_start": "2025-07-01", "dagster/asset_partition_range_end": "2025-07-07"},
    )
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    known = checks["installs_ad_ids_known_in_spend"]
    assert known.passed and known.metadata["share"].value == 0.0 and known.metadata["paid_installs"].value > 150
    match = checks["installs_match_network_installs"]
    assert match.passed and match.metadata["flagged_ad_days"].value == 0
    assert 1.0 < match.metadata["network_over_mmp"].value < 1.3  # networks over-claim a little


def test_ad_spend_checks_warn_on_a_broken_join_and_missing_installs():
    from adperf_assets.defs.attribution.checks import installs_ad_ids_known_in_spend, installs_match_network_installs

    day = pd.Timestamp("2025-07-01")
    inst = frame(user_id=list(range(40)), network=["facebook"] * 40, ad_id=["A"] * 30 + ["Z"] * 10)
    inst["install_date"] = day
    spend = pd.DataFrame({"report_date": [day], "network": ["facebook"], "ad_id": ["A"], "installs": [90.0]})
    known = installs_ad_ids_known_in_spend(installs=inst, ad_spend=spend)
    assert not known.passed and known.metadata["share"].value == pytest.approx(0.25)
    assert known.severity == dg.AssetCheckSeverity.WARN
    match = installs_match_network_installs(installs=inst, ad_spend=spend)
    assert not match.passed and match.metadata["flagged_ad_days"].value == 1  # 90 reported vs 30 attributed
