"""The spend assets on the sample world: truth to the cent, the real clients through the loopback
fakes, all-or-nothing days, idempotent re-runs, revisions, the trailing refresh and DST days."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import grpc
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.normalize.spend import unified_columns
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.spend.facebook import SampleFacebookAds
from adperf_assets.defs.spend.google_ads import SampleGoogleAds
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.defs.spend.sample_ads import SampleSource
from adperf_assets.sample import layout
from adperf_assets_tests.spend.fake_google_ads import Fault as GoogleFault
from adperf_assets_tests.spend.fake_graph import Fault
from adperf_assets_tests.spend.world_fakes import (
    SPEND,
    SPEND_CHECKS,
    assert_equals_truth,
    real_clients,
    run,
    serve_world,
    table,
    truth,
)

DAY = "2025-07-10"  # a Thursday of the small world
SEOUL = ZoneInfo("Asia/Seoul")


def _md(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == key]
    assert mats, key
    return {k: v.value for k, v in mats[-1].materialization.metadata.items()}


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = result.get_step_failure_events()
    assert failures
    err = failures[0].step_failure_data.error
    return f"{err.message} {failures[0].step_failure_data.user_failure_data.description if failures[0].step_failure_data.user_failure_data else ''}"


# -- truth, checks, metadata --------------------------------------------------------------
@pytest.fixture(scope="module")
def day_run(tmp_path_factory, small_settings):
    """DAY materialized once with the sample resources and every spend check: (settings, result, seconds)."""
    settings = dataclasses.replace(small_settings, home=tmp_path_factory.mktemp("spend_day"),
                                   world_dir=small_settings.world_path)
    t0 = time.perf_counter()
    result = run(build_resources(settings), DAY, assets=[*SPEND, *SPEND_CHECKS])
    return settings, result, time.perf_counter() - t0


def test_ad_spend_for_a_day_equals_the_worlds_truth_to_the_cent(day_run, small_world):
    settings, result, seconds = day_run
    got = table(settings)
    assert list(got.columns) == unified_columns("USD")
    assert_equals_truth(got, small_world, [DAY])
    assert set(got["network"]) == {"facebook", "google_ads", "tiktok", "apple_ads"}
    assert set(got["account_currency"]) == {"USD", "EUR", "KRW", "GBP"}
    assert (got["account_timezone"].isin(["America/Los_Angeles", "Europe/Berlin", "Asia/Seoul", "Europe/London"])).all()

    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {c.name for spec in SPEND_CHECKS for c in spec.check_specs}
    # the networks claim a few installs beyond their clicks (the world's overclaim): only that warning may flag
    failed = {n: c.description for n, c in checks.items() if not c.passed}
    assert set(failed) <= {"ad_spend_installs_within_clicks"}, failed
    assert checks["ad_spend_installs_within_clicks"].severity == dg.AssetCheckSeverity.WARN

    md = _md(result, "ad_spend")
    assert md["dagster/row_count"] == len(got)
    per_net = md["cost_per_network"]
    assert sum(per_net[n]["rows"] for n in ("facebook", "google_ads", "tiktok", "apple_ads")) == len(got)
    assert per_net["google_ads"]["cost_usd"] == pytest.approx(got.loc[got.network == "google_ads", "cost_usd"].sum(), abs=0.01)
    assert md["accounts"] == {"facebook": ["1000000000000001", "1000000000000002"], "google_ads": ["1234567890"],
                              "tiktok": ["7000000000000001"], "apple_ads": ["4000001"]}
    assert md["retries_made"] == 0 and md["fx_carried_forward"] == "none"
    fb = _md(result, "raw/facebook_spend")
    assert fb["accounts_pulled"] == 2 and fb["retries_made"] == 0 and "|" in fb["preview"]
    # both Facebook accounts are behind Seoul: one report day needs two account-local days each
    assert "2025-07-09..2025-07-10" in fb["pulls"]
    assert _md(result, "raw/google_ads_spend")["accounts_pulled"] == 1
    print(f"\nspend: {len(got)} rows for {DAY}, one run of 4 assets + {len(checks)} checks in {seconds:.1f} s")


# -- the real clients end to end -------------------------------------------------------------
def test_real_clients_through_the_loopback_fakes_give_the_same_table(day_run, fresh_home, small_world, graph, google):
    """Same day, REAL FacebookAdsResource / GoogleAdsResource against fakes serving the world's
    rows: the same table as the sample resources; recoverable faults give it again (with
    retries), an unrecoverable one fails the run and leaves the stored day as it was."""
    sample_home = day_run[0]
    expected = table(sample_home)

    fb_ids, g_ids = serve_world(graph, google, small_world, date(2025, 7, 8), date(2025, 7, 11))
    res = {**build_resources(fresh_home), **real_clients(graph, google, fb_ids, g_ids, page_limit=40)}
    with dg.instance_for_test() as instance:
        first = run(res, DAY, instance=instance)
        got = table(fresh_home)
        pd.testing.assert_frame_equal(got, expected)
        assert_equals_truth(got, small_world, [DAY])
        assert _md(first, "raw/facebook_spend")["retries_made"] == 0
        # paging really happened: more than one insights page per account
        assert sum(r.get("route") == "insights" for r in graph.requests) > 2 * len(fb_ids)

        # throttled mid-page, a 5xx, a truncated body, a broken stream: retried, same table
        graph.faults += [Fault("throttle", page=40), Fault("html500", page=80), Fault("truncated", page=120)]
        google.faults.append(GoogleFault(grpc.StatusCode.UNAVAILABLE, after_batches=2, query="FROM ad_group_ad"))
        again = run(res, DAY, instance=instance)
        pd.testing.assert_frame_equal(table(fresh_home), expected)
        assert _md(again, "raw/facebook_spend")["retries_made"] == 3
        assert _md(again, "raw/google_ads_spend")["retries_made"] == 1
        assert _md(again, "ad_spend")["retries_made"] == 4

        # throttling beyond the bound (max_retries=2): the run fails, naming account and days
        graph.faults += [Fault("throttle", route="insights") for _ in range(3)]
        failed = run(res, DAY, instance=instance, raise_on_error=False)
        assert not failed.success
        message = _failure_message(failed)
        assert "Facebook pull for account act_1000000000000001 days 2025-07-09..2025-07-10" in message
        assert "failed after 3 attempt(s)" in message and "code 17" in message
        assert not any(e.asset_key.to_user_string() in ("raw/facebook_spend", "ad_spend")
                       for e in failed.get_asset_materialization_events())
    pd.testing.assert_frame_equal(table(fresh_home), expected)
    pd.testing.assert_frame_equal(table(fresh_home, "facebook_spend"), table(sample_home, "facebook_spend"))


def test_real_clients_over_a_range_use_async_report_jobs(fresh_home, small_world, graph, google):
    days = ["2025-07-11", "2025-07-12", "2025-07-13", "2025-07-14"]  # Fri..Mon: weekend FX carried forward
    fb_ids, g_ids = serve_world(graph, google, small_world, date(2025, 7, 10), date(2025, 7, 14))
    res = {**build_resources(fresh_home), **real_clients(graph, google, fb_ids, g_ids)}
    result = run(res, days[0], days[-1])
    assert sum(r.get("route") == "post" for r in graph.requests) == len(fb_ids)  # one async job per account
    assert_equals_truth(table(fresh_home), small_world, days)
    carried = _md(result, "ad_spend")["fx_carried_forward"]
    assert "2025-07-12 EUR,GBP,KRW at the 2025-07-11 rate" in carried
    assert "2025-07-13 EUR,GBP,KRW at the 2025-07-11 rate" in carried


# -- a day is written whole or not at all --------------------------------------------------
def test_a_failing_sample_pull_leaves_the_stored_day_untouched(fresh_home, small_world, tmp_path):
    world = tmp_path / "world"
    world.mkdir()
    shutil.copy(small_world / "world.json", world / "world.json")
    for part in ("fx", "facebook", "google_ads", "truth"):
        shutil.copytree(small_world / part, world / part)
    settings = dataclasses.replace(fresh_home, world_dir=world)
    with dg.instance_for_test() as instance:
        run(build_resources(settings), DAY, instance=instance)
        before = {n: table(settings, n) for n in ("ad_spend", "facebook_spend", "google_ads_spend")}
        # the Berlin account's file for the second local day breaks (half a gzip stream)
        bad = world / "facebook" / "insights" / "1000000000000002" / f"{DAY}.json.gz"
        bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
        failed = run(build_resources(settings), DAY, instance=instance, raise_on_error=False)
    assert not failed.success
    message = _failure_message(failed)
    assert "act_1000000000000002" in message and f"{DAY}.json.gz" in message
    for name, df in before.items():
        pd.testing.assert_frame_equal(table(settings, name), df)
    copied = truth(small_world, [DAY])
    assert len(before["ad_spend"]) == copied["network"].isin(["facebook", "google_ads"]).sum()  # the parts copied


# -- re-runs, ranges, revisions --------------------------------------------------------------
def test_a_revised_day_is_replaced_by_its_final_numbers(fresh_home, small_world):
    res = build_resources(fresh_home)
    d = date(2025, 7, 10)
    with dg.instance_for_test() as instance:
        prelim = {**res, "facebook_ads": SampleFacebookAds(world=res["world"], as_of="2025-07-11"),
                  "google_ads": SampleGoogleAds(world=res["world"], as_of="2025-07-11")}
        run(prelim, d.isoformat(), instance=instance)
        early = table(fresh_home)
        final = {**res, "facebook_ads": SampleFacebookAds(world=res["world"], as_of="2025-07-20"),
                 "google_ads": SampleGoogleAds(world=res["world"], as_of="2025-07-20")}
        run(final, d.isoformat(), instance=instance)
        late = table(fresh_home)
    want = truth(small_world, [d.isoformat()])
    assert_equals_truth(late, small_world, [d.isoformat()])
    # pulled one day later: the Seoul account's day shows 86 %, LA/Berlin's two local days 86 % / 95 %
    g_early = early[early.network == "google_ads"]["cost_local"].sum()
    g_final = want[want.network == "google_ads"]["cost_local"].sum()
    assert g_early == pytest.approx(0.86 * g_final, rel=0.01) and g_early < g_final
    fb_ratio = early[early.network == "facebook"]["cost_usd"].sum() / want[want.network == "facebook"]["cost_usd"].sum()
    assert 0.86 < fb_ratio < 0.95
    assert early["impressions"].sum() < late["impressions"].sum()
    assert len(early) <= len(late) == len(want)  # replaced, not appended


# -- the trailing refresh ---------------------------------------------------------------------
def test_the_morning_schedule_repulls_the_last_28_days_in_one_run_and_reruns_change_nothing(fresh_home, small_world):
    """One run over [today-28, today-1] equals truth; a day re-run N times gives the identical table."""
    from adperf_assets.defs.spend.automation import spend_refresh_job, spend_trailing_refresh_schedule

    when = datetime(2025, 8, 10, 7, 0, tzinfo=SEOUL)
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
        request = spend_trailing_refresh_schedule(ctx)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2025-07-13"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2025-08-09"

    defs = dg.Definitions(assets=[*SPEND], asset_checks=SPEND_CHECKS, jobs=[spend_refresh_job],
                          schedules=[spend_trailing_refresh_schedule], resources=build_resources(fresh_home))
    job = defs.resolve_job_def("spend_refresh_job")
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=dict(request.tags))
        seconds = time.perf_counter() - t0
        assert result.success and len(instance.get_runs()) == 1
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "raw/fx_rates", "raw/facebook_spend", "raw/google_ads_spend", "raw/tiktok_spend", "raw/apple_ads_spend",
        "raw/cost_import_spend", "ad_spend"}
    days = [d.date().isoformat() for d in pd.date_range("2025-07-13", "2025-08-09")]
    got = table(fresh_home)
    assert sorted(got["report_date"].dt.date.astype(str).unique()) == days
    assert_equals_truth(got, small_world, days)
    failed_checks = [c.check_name for c in result.get_asset_check_evaluations()
                     if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    assert not failed_checks
    print(f"\nspend trailing refresh: 28 days, {len(got)} rows, one run in {seconds:.1f} s")

    # re-running a day of the window (twice) replaces exactly that day with the same rows
    with dg.instance_for_test() as instance:
        for _ in range(2):
            run(build_resources(fresh_home), "2025-07-26", instance=instance)
            pd.testing.assert_frame_equal(table(fresh_home), got)
    pd.testing.assert_frame_equal(table(fresh_home, "google_ads_spend"),
                                  got[got.network == "google_ads"].reset_index(drop=True))


# -- DST through the assets ----------------------------------------------------------------
@pytest.fixture(scope="module")
def dst_settings(tmp_path_factory, small_settings):
    """A two-week world over both fall-back days (Berlin 2025-10-26, Los Angeles 2025-11-02)."""
    from adperf_assets.defs.resources import sample_world

    home = tmp_path_factory.mktemp("dst")
    s = dataclasses.replace(small_settings, home=home, world_dir=home / "world", start_date=date(2025, 10, 25),
                            sample_days=14, sample_installs_per_day=25)
    sample_world(s).root()
    return s


def test_fall_back_days_through_the_assets_equal_truth(dst_settings, tmp_path):
    s = dataclasses.replace(dst_settings, home=tmp_path)
    days = [d.date().isoformat() for d in pd.date_range("2025-10-26", "2025-11-03")]
    run(build_resources(s), days[0], days[-1])  # one run over both fall-back days
    got = table(s)
    m = assert_equals_truth(got, s.world_path, days)
    assert set(m["network"]) == {"facebook", "google_ads", "tiktok"}
    # the input really has the repeated hours: one merged row per ad for local 01:00 (LA) / 02:00 (Berlin)
    for account, day, hour in (("1000000000000001", "2025-11-02", 1), ("1000000000000002", "2025-10-26", 2)):
        rows = json.loads(gzip.decompress(layout.facebook_insights(s.world_path, account, date.fromisoformat(day)).read_bytes()))
        at = [r for r in rows if r["hourly_stats_aggregated_by_advertiser_time_zone"].startswith(f"{hour:02d}:")]
        assert at and len({r["ad_id"] for r in at}) == len(at)


# -- a day without any spend -----------------------------------------------------------------
def test_a_first_day_without_spend_stores_empty_tables(fresh_home, small_world):
    """Pulled on the world's first day itself, the networks have nothing for it yet (the cost files start on
    the second day): the tables are created empty and ad_spend still runs."""
    res = build_resources(fresh_home)
    for n in NETWORKS:
        if isinstance(res[n.resource_key], SampleSource):
            res[n.resource_key] = type(res[n.resource_key])(world=res["world"], as_of="2025-06-01")
    result = run(res, "2025-06-01", assets=[*SPEND, *SPEND_CHECKS])
    assert result.success
    for name in ("facebook_spend", "google_ads_spend", "tiktok_spend", "apple_ads_spend", "cost_import_spend",
                 "ad_spend"):
        assert table(fresh_home, name).empty
    assert list(table(fresh_home).columns) == unified_columns("USD")
    assert all(c.passed for c in result.get_asset_check_evaluations())
