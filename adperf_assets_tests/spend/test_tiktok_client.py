"""The real TikTokAdsResource (official SDK) against a fake Marketing API on 127.0.0.1: advertiser
zone and currency, paging, rate-limit answers, report days, revisions, the API version setting."""

from __future__ import annotations

import dataclasses
from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pytest

from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.resources import DUCKDB_SCHEMA, build_resources
from adperf_assets.defs.spend.assets import _by_name
from adperf_assets.defs.spend.registry import network
from adperf_assets.defs.spend.tiktok import DEFAULT_API_VERSION, TikTokAdsResource, tiktok_hourly
from adperf_assets.normalize.spend import SpendInputError
from adperf_assets.settings import load_settings
from adperf_assets_tests.spend.fake_tiktok import TOKEN, Fault, FakeTikTok, report_row
from adperf_assets_tests.spend.world_fakes import KEY, run, serve_tiktok_world, table, truth

ADV = "7000000000000001"
LONDON = {"name": "Studio UK", "currency": "GBP", "timezone": "Europe/London"}


@pytest.fixture(scope="module")
def tiktok_server():
    server = FakeTikTok().start()
    yield server
    server.stop()


@pytest.fixture
def tiktok(tiktok_server):
    tiktok_server.clear()
    tiktok_server.advertisers[ADV] = dict(LONDON)
    tiktok_server.rows[ADV] = [
        report_row(f"ad{a}", f"{d} {h:02d}:00:00", f"{1 + h / 100:.2f}", campaign=f"c{a % 2}", ad_group=f"g{a}")
        for d in ("2025-07-09", "2025-07-10", "2025-07-11") for h in range(24) for a in range(3)
    ]
    return tiktok_server


def resource(fake: FakeTikTok, fake_clock=None, **overrides) -> TikTokAdsResource:
    kw = dict(access_token=TOKEN, advertiser_ids=[ADV], host=fake.url, page_size=10, min_request_interval_s=0.0,
              max_retries=3, backoff_base_s=1.0, backoff_max_s=8.0, request_timeout_s=5.0)
    kw.update(overrides)
    r = TikTokAdsResource(**kw)
    return r.with_clock(fake_clock.sleep, fake_clock.clock) if fake_clock else r


def test_accounts_are_the_advertisers_zone_and_currency(tiktok, fake_clock):
    assert resource(tiktok, fake_clock).accounts() == [
        {"account_id": ADV, "name": "Studio UK", "currency": "GBP", "timezone_name": "Europe/London"}]
    req = tiktok.requests[0]
    assert req["path"] == f"/open_api/{DEFAULT_API_VERSION}/advertiser/info/" and req["token"] == TOKEN


def test_every_page_of_every_day(tiktok, fake_clock):
    pull = resource(tiktok, fake_clock).pull_rows(ADV, date(2025, 7, 9), date(2025, 7, 10))
    assert len(pull.rows) == 2 * 24 * 3
    got = sorted((r["dimensions"]["stat_time_hour"], r["dimensions"]["ad_id"]) for r in pull.rows)
    want = sorted((r["dimensions"]["stat_time_hour"], r["dimensions"]["ad_id"]) for r in tiktok.rows[ADV][:144])
    assert got == want
    reports = [r for r in tiktok.requests if r["route"] == "report"]
    assert len(reports) == pull.requests_made == 2 * 8  # 72 rows a day, 10 a page
    assert {r["params"]["page"] for r in reports} == {str(p) for p in range(1, 9)}
    assert all(r["params"]["start_date"] == r["params"]["end_date"] for r in reports)
    assert reports[0]["params"]["dimensions"] == '["ad_id", "stat_time_hour"]'
    assert pull.rows[0]["advertiser_id"] == ADV and pull.retries_made == 0


def test_rate_limit_answers_are_retried_with_backoff(tiktok, fake_clock):
    tiktok.faults += [Fault("code", code=40100, page=2), Fault("http", status=429, retry_after="7", page=3),
                      Fault("code", code=50000, page=4), Fault("broken", page=5)]
    pull = resource(tiktok, fake_clock).pull_rows(ADV, date(2025, 7, 10), date(2025, 7, 10))
    assert len(pull.rows) == 72 and len({(r["dimensions"]["stat_time_hour"], r["dimensions"]["ad_id"])
                                         for r in pull.rows}) == 72
    assert pull.retries_made == 4 and pull.requests_made == 8 + 4
    assert 7.0 in fake_clock.sleeps  # the 429's Retry-After beats the 1-2 s backoff
    assert all(0.5 <= s <= 8.0 for s in fake_clock.sleeps)


def test_throttling_beyond_the_bound_fails_the_pull_naming_code_and_days(tiktok, fake_clock):
    tiktok.faults += [Fault("code", code=40100) for _ in range(4)]
    with pytest.raises(AdsPullError) as err:
        resource(tiktok, fake_clock).pull_rows(ADV, date(2025, 7, 10), date(2025, 7, 10))
    msg = str(err.value)
    assert f"TikTok pull for account {ADV} day 2025-07-10 failed after 4 attempt(s)" in msg and "40100" in msg


def test_a_bad_token_is_not_retried(tiktok, fake_clock):
    with pytest.raises(AdsPullError) as err:
        resource(tiktok, fake_clock, access_token="wrong").pull_rows(ADV, date(2025, 7, 10), date(2025, 7, 10))
    assert "after 1 attempt(s)" in str(err.value) and "40105" in str(err.value)
    assert fake_clock.sleeps == []


def test_the_api_version_setting_changes_the_path(tiktok_server, fake_clock, monkeypatch, tmp_path):
    monkeypatch.setenv("ADPERF_HOME", str(tmp_path))
    monkeypatch.setenv("ADPERF_TIKTOK_API_VERSION", "v1.2")
    s = dataclasses.replace(load_settings(), real_sources=frozenset({"tiktok"}))
    assert network("tiktok").real(s).api_version == "v1.2"
    older = FakeTikTok(api_version="v1.2").start()
    try:
        older.advertisers[ADV] = dict(LONDON)
        assert resource(older, fake_clock, api_version="v1.2").accounts()[0]["currency"] == "GBP"
        assert older.requests[0]["path"] == "/open_api/v1.2/advertiser/info/"
    finally:
        older.stop()


def test_rows_of_an_unknown_advertiser_or_a_bad_hour_are_named():
    acc = [{"account_id": ADV, "name": "x", "currency": "GBP", "timezone_name": "Europe/London"}]
    with pytest.raises(SpendInputError, match="row 0: advertiser 99 is not in the accounts list"):
        tiktok_hourly([{**report_row("a", "2025-07-10 01:00:00", "1.00"), "advertiser_id": "99"}], acc)
    with pytest.raises(SpendInputError, match="row 1: field 'stat_time_hour' is not an hour"):
        tiktok_hourly([{**report_row("a", h, "1.00"), "advertiser_id": ADV}
                       for h in ("2025-07-10 01:00:00", "2025-07-10")], acc)
    with pytest.raises(SpendInputError, match="row 0: field 'spend' is not a decimal"):
        tiktok_hourly([{**report_row("a", "2025-07-10 01:00:00", "-"), "advertiser_id": ADV}], acc)


def test_london_hours_land_in_seoul_report_days_and_revisions_replace_the_day(tiktok, fresh_home):
    """Report zone Asia/Seoul (+8 h from London in summer): London 07-09 16:00 .. 07-10 15:00 is report
    day 07-10; GBP converted at that day's rate. A re-pull with revised numbers replaces the day."""
    settings = fresh_home
    assert settings.report_timezone == "Asia/Seoul"
    res = {**build_resources(settings), "tiktok_ads": resource(tiktok, max_retries=1, backoff_base_s=0.01)}
    asset = _by_name["tiktok_spend"]
    with dg.instance_for_test() as instance:
        run(res, "2025-07-10", assets=[fx_rates, asset], instance=instance)
        first = table(settings, "tiktok_spend")
        assert set(first["report_date"].dt.date.astype(str)) == {"2025-07-10"}
        assert len(first) == 3 and set(first["account_currency"]) == {"GBP"}
        assert set(first["account_timezone"]) == {"Europe/London"}
        want = sum(1 + h / 100 for h in range(16, 24)) + sum(1 + h / 100 for h in range(0, 16))
        assert first["cost_local"].tolist() == pytest.approx([want] * 3)
        con = duckdb.connect(str(settings.duckdb_path), read_only=True)
        rates = con.sql(f"select * from {DUCKDB_SCHEMA}.fx_rates").df()
        con.close()
        gbp = rates[(rates["currency"] == "GBP") & (rates["report_date"] == pd.Timestamp("2025-07-10"))]
        usd = rates[(rates["currency"] == "USD") & (rates["report_date"] == pd.Timestamp("2025-07-10"))]
        rate = float(usd["eur_rate"].iloc[0]) / float(gbp["eur_rate"].iloc[0])
        assert first["cost_usd"].tolist() == pytest.approx([round(want * rate, 2)] * 3, abs=0.006)
        assert set(first["objective"]) == {"APP_PROMOTION"} and set(first["ad_group_id"]) == {"g0", "g1", "g2"}

        for r in tiktok.rows[ADV]:  # the network revises: every hour +10 %
            r["metrics"]["spend"] = f"{float(r['metrics']['spend']) * 1.1:.2f}"
        run(res, "2025-07-10", assets=[fx_rates, asset], instance=instance)
        second = table(settings, "tiktok_spend")
    assert len(second) == 3
    assert second["cost_local"].sum() == pytest.approx(first["cost_local"].sum() * 1.1, rel=1e-3)


def test_the_worlds_advertiser_through_the_fake_equals_the_sample_and_truth(tiktok_server, fresh_home, small_world):
    """The sample world's TikTok rows served by the fake, pulled by the real client: the same table as the
    sample resource, equal to the world's truth to the cent."""
    tiktok_server.clear()
    ids = serve_tiktok_world(tiktok_server, small_world, date(2025, 7, 8), date(2025, 7, 12))
    asset = _by_name["tiktok_spend"]
    days = ("2025-07-10", "2025-07-11")
    sample = run(build_resources(fresh_home), days[0], days[1], assets=[fx_rates, asset])
    assert sample.success
    want = table(fresh_home, "tiktok_spend")
    assert len(want) > 5 and set(want["account_currency"]) == {"GBP"}
    real = {**build_resources(fresh_home),
            "tiktok_ads": resource(tiktok_server, advertiser_ids=ids, page_size=50, max_retries=1, backoff_base_s=0.01)}
    run(real, days[0], days[1], assets=[fx_rates, asset])
    got = table(fresh_home, "tiktok_spend")
    pd.testing.assert_frame_equal(got, want)
    assert sum(r["route"] == "report" for r in tiktok_server.requests) > 4  # pages of several local days
    t = truth(small_world, list(days))
    t = t[t["network"] == "tiktok"]
    m = got.merge(t, on=KEY, how="outer", suffixes=("", "_truth"), indicator=True)
    assert (m["_merge"] == "both").all() and len(m) == len(got)
    assert (m["cost_local"] - m["cost_local_truth"]).abs().max() < 1e-6
    assert (m["cost_usd"] - m["cost_usd_truth"]).abs().max() <= 0.005 + 1e-9
    assert (m["impressions"] == m["impressions_truth"]).all() and (m["installs"] == m["network_installs"]).all()
