"""Raw Facebook + Google Ads rows → the unified daily spend table; end to end through the fake APIs."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from adperf_assets.normalize.fx import FxRateError, parse_ecb_csv, rate_on
from adperf_assets.normalize.spend import (
    SpendInputError,
    decimal_to_micros,
    facebook_hourly,
    google_ads_hourly,
    unified_columns,
    unified_spend,
)
from adperf_assets.normalize.timezones import account_days_for_report_day
from adperf_assets.defs.spend.facebook import FacebookAdsResource
from adperf_assets.defs.spend.google_ads import GoogleAdsResource
from adperf_assets_tests.spend.fake_google_ads import FakeCustomer, ad_row
from adperf_assets_tests.spend.fake_graph import TOKEN, insights_row

SEOUL, LA = "Asia/Seoul", "America/Los_Angeles"
ECB = """Date,USD,JPY,KRW,
2026-11-02,1.1600,170.00,1480.00,
2026-10-30,1.1650,171.00,1470.00,
2026-03-09,1.0850,160.10,1452.00,
2026-03-06,1.0800,160.00,1450.00,
2026-03-05,1.0790,159.00,1449.00,
"""
FB_ACCOUNTS = [{"account_id": "42", "name": "US app", "currency": "EUR", "timezone_name": LA}]


@pytest.fixture
def fx() -> pd.DataFrame:
    return parse_ecb_csv(ECB)


def fb_row(day="2026-03-09", hour=5, ad=101, spend="1.25", installs=0, **kw) -> dict:
    return insights_row("42", "US app", "EUR", day=day, hour=hour, ad=ad, spend=spend, impressions=kw.pop("impressions", 10),
                        clicks=kw.pop("clicks", 2), installs=installs, **kw)


def g_row(day="2026-03-09", hour=5, ad=301, cost_micros=1_234_567, conversions=1.0) -> dict:
    return {
        "customer.id": 1234567890, "customer.descriptive_name": "KR app", "customer.currency_code": "KRW",
        "customer.time_zone": SEOUL, "campaign.id": 11, "campaign.name": "camp", "campaign.advertising_channel_type": "MULTI_CHANNEL",
        "ad_group.id": 21, "ad_group.name": "group", "ad_group_ad.ad.id": ad, "ad_group_ad.ad.name": "",
        "segments.date": day, "segments.hour": hour, "metrics.cost_micros": cost_micros, "metrics.impressions": 100,
        "metrics.clicks": 3, "metrics.conversions": conversions,
    }


def unify(fb=(), g=(), fx=None, **kw):
    kw.setdefault("report_tz", SEOUL)
    kw.setdefault("report_currency", "USD")
    return unified_spend(list(fb), list(g), facebook_accounts=FB_ACCOUNTS, fx=fx, **kw)


# -- columns, vocabulary, types ------------------------------------------------------------
def test_columns_vocabulary_and_types(fx):
    out = unify([fb_row(installs=3)], [g_row()], fx=fx).table
    assert list(out.columns) == unified_columns("USD") == [
        "report_date", "network", "account_id", "account_name", "account_timezone", "account_currency", "objective",
        "campaign_id", "campaign_name", "ad_group_id", "ad_group_name", "ad_id", "ad_name", "impressions", "clicks",
        "installs", "cost_local", "cost_usd"]
    fb, g = out.iloc[0], out.iloc[1]
    assert (fb["network"], fb["ad_group_id"], fb["ad_group_name"], fb["ad_id"]) == ("facebook", "10", "adset 10", "101")
    assert (g["network"], g["ad_group_id"], g["ad_id"], g["account_id"]) == ("google_ads", "21", "301", "1234567890")
    assert g["objective"] == "MULTI_CHANNEL" and fb["objective"] == "OUTCOME_APP_PROMOTION"
    assert fb["account_timezone"] == LA and g["account_timezone"] == SEOUL
    assert out["report_date"].dtype == "datetime64[ns]"
    assert out["impressions"].dtype == "int64" and out["cost_usd"].dtype == "float64"
    assert all(isinstance(v, str) for v in out["campaign_id"])


def test_facebook_spend_strings_are_exact(fx):
    rows = [fb_row(day="2026-03-09", hour=h, spend="0.10") for h in range(10, 20)]  # all on Seoul 10 March
    out = unify(rows, fx=fx).table
    assert out["cost_local"].tolist() == [1.0]  # ten times 0.10 is exactly 1.00
    assert list(decimal_to_micros(pd.Series(["14.35", "-0.5", "3", "0.000001"]), "facebook", "spend")) == [
        14_350_000, -500_000, 3_000_000, 1]


def test_google_cost_micros_kept_to_the_micro(fx):
    out = unify(g=[g_row(cost_micros=1_234_567)], fx=fx).table
    assert out["cost_local"].tolist() == [1.234567]
    assert out["cost_usd"].tolist() == [round(1.234567 * 1.085 / 1452.0, 2)]


def test_installs_from_mobile_app_install_and_conversions(fx):
    rows = [fb_row(hour=1, installs=4, clicks=9), fb_row(hour=2, installs=0)]
    out = unify(rows, [g_row(hour=1, conversions=2.5), g_row(hour=2, conversions=0.5)], fx=fx).table
    assert out.set_index("network")["installs"].to_dict() == {"facebook": 4.0, "google_ads": 3.0}


def test_cost_converted_with_the_report_day_rate_and_weekend_flagged(fx):
    # Seoul 8 March (Sunday) <- LA 7 March 07:00..; Seoul 9 March (Monday) <- LA 8 March 08:00..
    rows = [fb_row(day="2026-03-07", hour=10, spend="100.00"), fb_row(day="2026-03-08", hour=10, spend="100.00")]
    res = unify(rows, fx=fx)
    by_day = res.table.set_index("report_date")["cost_usd"].to_dict()
    assert by_day == {pd.Timestamp("2026-03-08"): 108.0, pd.Timestamp("2026-03-09"): 108.5}
    used = res.fx_used.set_index("report_date")
    assert bool(used.loc["2026-03-08", "is_carried_forward"]) and used.loc["2026-03-08", "rate_date"] == pd.Timestamp("2026-03-06")
    assert not bool(used.loc["2026-03-09", "is_carried_forward"])


def test_report_currency_minor_unit(fx):
    out = unify([fb_row(spend="10.00")], fx=fx, report_currency="JPY").table
    assert out["cost_jpy"].tolist() == [round(10 * 160.10)]


def test_report_dates_drop_partial_neighbour_days(fx):
    rows = [fb_row(day="2026-03-09", hour=h) for h in range(24)]  # LA 9 March spans Seoul 9 and 10 March
    full = unify(rows, fx=fx).table
    assert sorted(full["report_date"].dt.day) == [9, 10]
    only = unify(rows, fx=fx, report_dates=[date(2026, 3, 10)]).table
    assert only["report_date"].tolist() == [pd.Timestamp("2026-03-10")]
    assert only["impressions"].tolist() == [10 * 16]  # LA hours 8..23 (PDT) start on Seoul 10 March


def test_latest_names_win_within_a_day(fx):
    rows = [fb_row(hour=1), fb_row(hour=2)]
    rows[0]["ad_name"], rows[1]["ad_name"] = "old name", "new name"
    out = unify(rows, fx=fx).table
    assert out["ad_name"].tolist() == ["new name"] and len(out) == 1


# -- bad input -----------------------------------------------------------------------------------
def test_missing_fx_raises_or_leaves_nan(fx):
    row = g_row()
    row["customer.currency_code"] = "XYZ"
    with pytest.raises(FxRateError, match=r"XYZ -> USD on 2026-03-09: currency never published"):
        unify(g=[row], fx=fx)
    out = unify(g=[row], fx=fx, missing_fx="nan").table
    assert pd.isna(out["cost_usd"].iloc[0]) and out["cost_local"].iloc[0] == 1.234567


@pytest.mark.parametrize(
    "change, message",
    [
        ({"spend": "1,50"}, r"facebook row 1: field 'spend' is not a decimal amount"),
        ({"impressions": "ten"}, r"facebook row 1: field 'impressions' is not an integer: 'ten'"),
        ({"hourly_stats_aggregated_by_advertiser_time_zone": "25h"}, r"facebook row 1: field 'hourly_stats_aggregated_by_advertiser_time_zone' is not an hour bucket"),
        ({"ad_id": None}, r"facebook row 1: field 'ad_id' is missing"),
        ({"account_id": "77"}, r"facebook row 1: account 77 is not in the accounts list"),
        ({"date_stop": "2026-03-10"}, r"facebook row 1: date_start 2026-03-09 != date_stop 2026-03-10"),
        ({"actions": [{"action_type": "mobile_app_install", "value": "many"}]}, r"facebook row 1: actions\[mobile_app_install\].value is not a number"),
    ],
)
def test_bad_facebook_rows_are_named(change, message):
    rows = [fb_row(hour=1), {**fb_row(hour=2), **change}]
    with pytest.raises(SpendInputError, match=message):
        facebook_hourly(rows, FB_ACCOUNTS)


def test_bad_google_rows_are_named():
    with pytest.raises(SpendInputError, match=r"google_ads row 1: field 'segments.hour' is not an integer"):
        google_ads_hourly([g_row(), {**g_row(), "segments.hour": "x"}])
    row = g_row()
    del row["metrics.cost_micros"]
    with pytest.raises(SpendInputError, match=r"google_ads rows: no field 'metrics.cost_micros'"):
        google_ads_hourly([row])


def test_duplicate_hour_for_an_ad_is_an_error(fx):
    with pytest.raises(SpendInputError, match=r"facebook ad 101 \(account 42\) has 2 duplicate hourly rows"):
        unify([fb_row(hour=3), fb_row(hour=3)], fx=fx)


def test_no_rows_gives_an_empty_table(fx):
    res = unify(fx=fx)
    assert res.table.empty and list(res.table.columns) == unified_columns("USD")


# -- end to end through the fake APIs ----------------------------------------------------------
def oracle(fb_rows, g_rows, report_day: date, fx) -> tuple[dict, dict]:
    """Independent per-row computation: zoneinfo instant → Seoul day; Decimal sums; rate of that day.

    (The repeated LA fall-back hour's two instants both fall on the same Seoul day, so
    placing the merged row whole is right here.) Returns (cost_usd, impressions) per ad.
    """
    local_cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    impressions: dict[tuple[str, str], int] = defaultdict(int)
    currency = {}
    for r in fb_rows:
        hour = int(r["hourly_stats_aggregated_by_advertiser_time_zone"][:2])
        start = datetime.fromisoformat(r["date_start"]).replace(hour=hour, tzinfo=ZoneInfo(LA))
        if start.astimezone(ZoneInfo(SEOUL)).date() == report_day:
            local_cost["facebook", r["ad_id"]] += Decimal(r["spend"])
            impressions["facebook", r["ad_id"]] += int(r["impressions"])
            currency["facebook", r["ad_id"]] = r["account_currency"]
    for r in g_rows:
        start = datetime.fromisoformat(r["segments.date"]).replace(hour=r["segments.hour"], tzinfo=ZoneInfo(SEOUL))
        if start.date() == report_day:
            key = ("google_ads", str(r["ad_group_ad.ad.id"]))
            local_cost[key] += Decimal(r["metrics.cost_micros"]) / Decimal(1_000_000)
            impressions[key] += r["metrics.impressions"]
            currency[key] = r["customer.currency_code"]
    cost_usd = {
        k: (v * Decimal(repr(rate_on(report_day, currency[k], fx, "USD")))).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        for k, v in local_cost.items()
    }
    return cost_usd, dict(impressions)


@pytest.mark.parametrize("report_day", [date(2026, 3, 8), date(2026, 3, 9), date(2026, 11, 1), date(2026, 11, 2)],
                         ids=["seoul-sun-before-la-spring", "seoul-mon-after-la-spring", "la-fall-back", "after-fall-back"])
def test_end_to_end_through_fake_apis(graph, google, fake_clock, fx, report_day):
    la_days = ["2026-03-07", "2026-03-08", "2026-03-09", "2026-10-31", "2026-11-01", "2026-11-02"]
    graph.accounts["42"] = {"name": "US app", "currency": "EUR", "timezone_name": LA}
    graph.rows["42"] = [
        insights_row("42", "US app", "EUR", day=d, hour=h, ad=ad, spend=f"{(h * 37 + ad) % 97}.{(h * 13) % 100:02d}",
                     impressions=1000 + h, clicks=h, installs=h % 4)
        for d in la_days for h in range(24) for ad in (101, 102, 203)
        if not (d == "2026-03-08" and h == 2)  # no such hour in LA
    ]
    kr = FakeCustomer("1234567890", "KR app", "KRW", SEOUL)
    kr.rows = [ad_row(kr, day=d, hour=h, campaign_id=11, ad_group_id=21, ad_id=301, cost_micros=987_654_321 + h,
                      impressions=500, clicks=7, conversions=1.0)
               for d in ("2026-03-08", "2026-03-09", "2026-11-01", "2026-11-02") for h in range(24)]
    google.customers[kr.customer_id] = kr

    facebook = FacebookAdsResource(access_token=TOKEN, account_ids=["act_42"], graph_url=graph.url, page_limit=50,
                                   min_request_interval_s=0).with_clock(fake_clock.sleep, fake_clock.clock)
    gads = GoogleAdsResource(developer_token="dev-token", customer_ids=["1234567890"], endpoint=google.endpoint,
                             insecure_endpoint=True, min_request_interval_s=0).with_clock(fake_clock.sleep, fake_clock.clock)

    accounts = facebook.accounts()
    fb_rows, g_rows = [], []
    for acct in accounts:
        days = account_days_for_report_day(report_day, SEOUL, acct["timezone_name"])
        assert len(days) == 2
        fb_rows += facebook.hourly_insights(acct["account_id"], days[0], days[-1])
    for cust in gads.customers():
        days = account_days_for_report_day(report_day, SEOUL, cust["timezone_name"])
        assert days == [report_day]
        g_rows += gads.hourly_rows(cust["account_id"], days[0], days[-1])

    res = unified_spend(fb_rows, g_rows, facebook_accounts=accounts, fx=fx, report_tz=SEOUL, report_currency="USD",
                        report_dates=[report_day])
    table = res.table
    assert (table["report_date"] == pd.Timestamp(report_day)).all()
    want_cost, want_impressions = oracle(fb_rows, g_rows, report_day, fx)
    assert {(r.network, r.ad_id): Decimal(repr(r.cost_usd)) for r in table.itertuples()} == want_cost
    assert {(r.network, r.ad_id): r.impressions for r in table.itertuples()} == want_impressions
    assert len(table) == 4 and not table.duplicated(["network", "ad_id", "report_date"]).any()
    assert set(res.fx_used["currency"]) == {"EUR", "KRW"}
