"""The sample world's ad networks (same interface as the real clients), their revisions, and the
trailing-window arithmetic of the morning schedule. No Dagster runs here: fast."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from adperf_assets.defs.common.schedules import report_today, trailing_partition_range
from adperf_assets.defs.spend.automation import spend_trailing_refresh_schedule
from adperf_assets.partitions import daily_partitions
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.spend.facebook import FacebookAdsSource
from adperf_assets.defs.spend.google_ads import GoogleAdsSource
from adperf_assets.defs.spend.facebook import SampleFacebookAds
from adperf_assets.defs.spend.google_ads import SampleGoogleAds
from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import (
    revise_facebook_rows,
    revise_google_rows,
    revision_factor,
    scale_money,
)

LA, BERLIN, KR = "1000000000000001", "1000000000000002", "1234567890"
FACTORS = [0.86, 0.95, 0.99]


def world_resource(small_settings, path=None) -> SampleWorld:
    s = small_settings
    return SampleWorld(path=str(path or s.world_path), seed=s.sample_seed, start=s.start_date.isoformat(),
                       days=s.sample_days, installs_per_day=s.sample_installs_per_day)


def file_rows(path) -> list[dict]:
    return json.loads(gzip.decompress(path.read_bytes()))


# -- revisions (pure) ----------------------------------------------------------------------
def test_revision_factor_by_days_since():
    d = date(2025, 7, 10)
    assert revision_factor(d, date(2025, 7, 10), FACTORS) is None  # the pull day itself: no finished hour
    assert revision_factor(d, date(2025, 7, 9), FACTORS) is None
    assert [revision_factor(d, d + timedelta(days=k), FACTORS) for k in (1, 2, 3, 4, 30)] == [0.86, 0.95, 0.99, 1.0, 1.0]


def test_money_rounds_half_up_to_the_minor_unit_and_counts_floor():
    assert scale_money(Decimal("0.19"), Decimal("0.86"), "USD") == Decimal("0.16")  # 0.1634
    assert scale_money(Decimal("0.25"), Decimal("0.86"), "EUR") == Decimal("0.22")  # 0.215 -> half up
    assert scale_money(Decimal("419"), Decimal("0.86"), "KRW") == Decimal("360")  # 360.34 won
    row = {"spend": "10.00", "impressions": "29", "clicks": "3", "actions": [
        {"action_type": "mobile_app_install", "value": "1"}, {"action_type": "link_click", "value": "3"}]}
    (out,) = revise_facebook_rows([row], 0.86, "USD")
    assert out["spend"] == "8.60" and out["impressions"] == "24" and out["clicks"] == "2"  # floor(24.94), floor(2.58)
    assert out["actions"] == [{"action_type": "link_click", "value": "2"}]  # 0.86 install -> 0: dropped
    assert row["spend"] == "10.00"  # the input is not modified
    (none_left,) = revise_facebook_rows([{**row, "actions": [{"action_type": "mobile_app_install", "value": "1"}]}],
                                        0.5, "USD")
    assert "actions" not in none_left
    assert revise_facebook_rows([row], 1.0, "USD") == [row]
    g = {"customer.currency_code": "KRW", "metrics.cost_micros": 419_000_000, "metrics.impressions": 55,
         "metrics.clicks": 1, "metrics.conversions": 3.0}
    (gout,) = revise_google_rows([g], 0.95)
    assert gout["metrics.cost_micros"] == 398_000_000  # 398.05 won -> 398
    assert (gout["metrics.impressions"], gout["metrics.clicks"], gout["metrics.conversions"]) == (52, 0, 2.0)


# -- the sample resources --------------------------------------------------------------------
def test_sample_resources_have_the_real_clients_interface(small_settings):
    res = build_resources(small_settings)
    assert isinstance(res["facebook_ads"], SampleFacebookAds) and isinstance(res["facebook_ads"], FacebookAdsSource)
    assert isinstance(res["google_ads"], SampleGoogleAds) and isinstance(res["google_ads"], GoogleAdsSource)
    assert res["facebook_ads"].accounts() == [
        {"account_id": LA, "name": "Matcha US", "currency": "USD", "timezone_name": "America/Los_Angeles"},
        {"account_id": BERLIN, "name": "Matcha EU", "currency": "EUR", "timezone_name": "Europe/Berlin"},
    ]
    assert res["google_ads"].customers() == [
        {"account_id": KR, "name": "Matcha KR", "currency": "KRW", "timezone_name": "Asia/Seoul"}]
    assert SampleFacebookAds(world=res["world"], account_ids=[f"act_{BERLIN}"]).accounts()[0]["account_id"] == BERLIN


def test_final_days_are_the_world_files_and_preliminary_days_are_scaled(small_settings, small_world):
    world = world_resource(small_settings)
    d = date(2025, 7, 10)
    final = SampleFacebookAds(world=world, as_of="2025-07-20").pull_hourly_insights(f"act_{LA}", d, d)
    assert final.rows == file_rows(layout.facebook_insights(small_world, LA, d))
    assert final.requests_made == 1 and final.retries_made == 0

    early = SampleFacebookAds(world=world, as_of="2025-07-11").pull_hourly_insights(LA, d, d).rows
    assert len(early) == len(final.rows)
    for e, f in zip(early, final.rows):
        assert Decimal(e["spend"]) == (Decimal(f["spend"]) * Decimal("0.86")).quantize(Decimal("0.01"), "ROUND_HALF_UP")
        assert int(e["impressions"]) == int(Decimal(f["impressions"]) * Decimal("0.86"))
    # two days, pulled the day after the second: 95 % of the first, 86 % of the second; nothing after
    both = SampleGoogleAds(world=world, as_of="2025-07-11").pull_hourly_rows(KR, date(2025, 7, 9), date(2025, 7, 12))
    by_day: dict[str, int] = {}
    for r in both.rows:
        by_day[r["segments.date"]] = by_day.get(r["segments.date"], 0) + r["metrics.cost_micros"]
    truth = {day: sum(r["metrics.cost_micros"] for r in file_rows(layout.google_rows(small_world, KR, date.fromisoformat(day))))
             for day in ("2025-07-09", "2025-07-10")}
    assert set(by_day) == set(truth) and both.requests_made == 2
    assert by_day["2025-07-09"] / truth["2025-07-09"] == pytest.approx(0.95, abs=0.01)
    assert by_day["2025-07-10"] / truth["2025-07-10"] == pytest.approx(0.86, abs=0.01)


def test_default_as_of_is_today_clipped_to_the_day_after_the_world(small_settings, small_world):
    world = world_resource(small_settings)
    last = world.last_day()  # 2025-08-14: long before today, so "today" is 2025-08-15
    fb = SampleFacebookAds(world=world)
    assert fb.pull_hourly_insights(LA, last, last).rows != file_rows(layout.facebook_insights(small_world, LA, last))
    day = date(2025, 8, 1)
    assert fb.pull_hourly_insights(LA, day, day).rows == file_rows(layout.facebook_insights(small_world, LA, day))


def test_unknown_accounts_and_broken_files_fail_naming_account_and_day(small_settings, small_world, tmp_path):
    world = world_resource(small_settings)
    with pytest.raises(AdsPullError, match="act_999.*not an account of the sample world"):
        SampleFacebookAds(world=world).pull_hourly_insights("999", date(2025, 7, 1), date(2025, 7, 1))
    with pytest.raises(AdsPullError, match="9999999999"):
        SampleGoogleAds(world=world, customer_ids=["999-999-9999"]).customers()
    with pytest.raises(ValueError, match="before since"):
        SampleGoogleAds(world=world).pull_hourly_rows(KR, date(2025, 7, 2), date(2025, 7, 1))

    copy = tmp_path / "world"
    copy.mkdir()
    shutil.copy(small_world / "world.json", copy / "world.json")
    shutil.copytree(small_world / "google_ads", copy / "google_ads")
    bad = layout.google_rows(copy, KR, date(2025, 7, 3))
    bad.write_bytes(gzip.compress(b'[{"customer.id": 1234567890, '))
    g = SampleGoogleAds(world=world_resource(small_settings, copy))
    assert g.pull_hourly_rows(KR, date(2025, 7, 1), date(2025, 7, 2)).rows  # other days still read
    with pytest.raises(AdsPullError, match=r"Google Ads pull for account 1234567890 days 2025-07-01\.\.2025-07-05.*2025-07-03\.json\.gz"):
        g.pull_hourly_rows(KR, date(2025, 7, 1), date(2025, 7, 5))


# -- the trailing window of the morning schedule ----------------------------------------------
def test_trailing_range_is_the_28_days_before_today_clipped_to_the_partitions():
    parts = dg.DailyPartitionsDefinition(start_date="2025-06-01", end_date="2025-08-15", timezone="Asia/Seoul")
    assert trailing_partition_range(date(2025, 8, 10), 28, parts) == ("2025-07-13", "2025-08-09")
    assert trailing_partition_range(date(2025, 6, 10), 28, parts) == ("2025-06-01", "2025-06-09")
    assert trailing_partition_range(date(2025, 9, 1), 28, parts) == ("2025-08-04", "2025-08-14")
    assert trailing_partition_range(date(2025, 6, 1), 28, parts) is None
    with pytest.raises(ValueError):
        trailing_partition_range(date(2025, 8, 10), 0, parts)


def test_the_schedule_uses_the_report_zone_calendar_day():
    # 23:30 UTC on 9 August is already 10 August in Seoul
    assert report_today(datetime(2025, 8, 9, 23, 30, tzinfo=ZoneInfo("UTC")), "Asia/Seoul") == date(2025, 8, 10)
    assert spend_trailing_refresh_schedule.execution_timezone == "Asia/Seoul"
    before = datetime(2025, 6, 1, 7, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    with dg.build_schedule_context(scheduled_execution_time=before) as ctx:
        assert isinstance(spend_trailing_refresh_schedule(ctx), dg.SkipReason)
    assert daily_partitions.start.date() == date(2025, 6, 1)
