"""The real AppleAdsResource (Platform API over requests) against a fake API and token endpoint on
127.0.0.1: the ES256 client-secret flow, paging, rate limits, the account's zone and currency in report
days, search match, revisions."""

from __future__ import annotations

from datetime import date

import dagster as dg
import jwt
import pandas as pd
import pytest

from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.spend.apple_ads import AUDIENCE, SEARCH_MATCH, AppleAdsResource, apple_ads_hourly, client_secret
from adperf_assets.defs.spend.assets import _by_name
from adperf_assets.normalize.spend import SpendInputError
from adperf_assets_tests.spend.fake_apple_ads import CLIENT_ID, KEY_ID, TEAM_ID, FakeAppleAds, Fault, keyword_row, new_key
from adperf_assets_tests.spend.world_fakes import run, serve_apple_world, table, truth
from adperf_assets.sample import layout

ACC = "4000001"
LA = {"name": "Studio US", "currency": "USD", "timezone": "America/Los_Angeles"}
PRIVATE, PUBLIC = new_key()


@pytest.fixture(scope="module")
def apple_server():
    server = FakeAppleAds(PUBLIC).start()
    yield server
    server.stop()


@pytest.fixture
def apple(apple_server):
    apple_server.clear()
    apple_server.accounts[ACC] = dict(LA)
    rows = []
    for d in ("2025-07-09", "2025-07-10", "2025-07-11"):
        for c in ("501", "502"):
            for g in range(2):
                gid = f"{c}{g}"
                for k in range(3):
                    rows.append(keyword_row(ACC, d, f"{gid}{k}", f"{4.8 * (k + 1):.2f}", campaign=c, ad_group=gid))
                # the ad group's search match: spend no keyword carries
                rows.append(keyword_row(ACC, d, f"{gid}-{SEARCH_MATCH}", "2.40", campaign=c, ad_group=gid))
    apple_server.rows[ACC] = rows
    return apple_server


def resource(fake: FakeAppleAds, fake_clock=None, **overrides) -> AppleAdsResource:
    kw = dict(client_id=CLIENT_ID, team_id=TEAM_ID, key_id=KEY_ID, private_key=PRIVATE, ad_account_ids=[ACC],
              api_url=f"{fake.url}/v1", token_url=f"{fake.url}/auth/oauth2/token", page_size=2,
              min_request_interval_s=0.0, max_retries=3, backoff_base_s=1.0, backoff_max_s=8.0, request_timeout_s=5.0)
    kw.update(overrides)
    r = AppleAdsResource(**kw)
    return r.with_clock(fake_clock.sleep, fake_clock.clock) if fake_clock else r


def test_the_client_secret_is_an_es256_jwt_with_apples_claims():
    secret = client_secret(CLIENT_ID, TEAM_ID, KEY_ID, PRIVATE, now=1_750_000_000)
    assert jwt.get_unverified_header(secret) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(secret, PUBLIC, algorithms=["ES256"], audience=AUDIENCE, options={"verify_exp": False})
    assert claims == {"sub": CLIENT_ID, "iss": TEAM_ID, "aud": AUDIENCE, "iat": 1_750_000_000, "exp": 1_750_003_600}


def test_accounts_through_the_token_flow(apple, fake_clock):
    assert resource(apple, fake_clock).accounts() == [
        {"account_id": ACC, "name": "Studio US", "currency": "USD", "timezone_name": "America/Los_Angeles"}]
    assert [r["route"] for r in apple.requests] == ["token", "account"]
    assert apple.requests[1]["context"] == f"adAccountId={ACC}"


def test_a_wrong_key_is_refused_with_a_clear_error(apple, fake_clock):
    other_private, _ = new_key()
    with pytest.raises(AdsPullError) as err:
        resource(apple, fake_clock, private_key=other_private).accounts()
    msg = str(err.value)
    assert f"Apple Ads pull for account {ACC} failed after 1 attempt(s)" in msg
    assert "token request refused: HTTP 400" in msg and "invalid_client" in msg and "Signature verification" in msg
    assert fake_clock.sleeps == []
    with pytest.raises(AdsPullError, match="do not match"):
        resource(apple, fake_clock, key_id="another-key").accounts()


def test_every_page_of_every_report_and_the_search_match_remainder(apple, fake_clock):
    pull = resource(apple, fake_clock).pull_rows(ACC, date(2025, 7, 10), date(2025, 7, 10))
    got = sorted((r["date"], r["keywordId"], r["localSpend"]["amount"]) for r in pull.rows)
    want = sorted((r["date"], r["keywordId"], r["localSpend"]["amount"]) for r in apple.rows[ACC]
                  if r["date"] == "2025-07-10")
    assert [(d, k) for d, k, _ in got] == [(d, k) for d, k, _ in want]
    assert all(float(a) == float(b) for (_, _, a), (_, _, b) in zip(got, want))
    reports = [r for r in apple.requests if r["route"] == "report"]
    # campaigns: 2 on 1 page; per campaign 2 ad groups (1 page) and 6 keywords (3 pages of 2)
    assert [r["level"] for r in reports].count("campaigns") == 1
    assert [r["level"] for r in reports].count("adgroups") == 2 and [r["level"] for r in reports].count("keywords") == 6
    assert pull.requests_made == len(reports) and pull.retries_made == 0  # the token rides on the first call
    assert [r["route"] for r in apple.requests].count("token") == 1
    sm = [r for r in pull.rows if r["keywordId"].endswith(SEARCH_MATCH)]
    assert len(sm) == 4 and {r["matchType"] for r in sm} == {"SEARCH_MATCH"} and sm[0]["impressions"] == 240


def test_rate_limits_and_server_errors_are_retried_with_backoff(apple, fake_clock):
    apple.faults += [Fault(429, level="keywords", headers={"RateLimit-Reset": "6", "RateLimit-Remaining": "0"}),
                     Fault(500, level="adgroups"), Fault(429, level="campaigns", headers={"Retry-After": "3"})]
    pull = resource(apple, fake_clock).pull_rows(ACC, date(2025, 7, 10), date(2025, 7, 10))
    assert len(pull.rows) == 16 and pull.retries_made == 3
    assert 6.0 in fake_clock.sleeps and 3.0 in fake_clock.sleeps


def test_an_expired_token_is_fetched_again(apple, fake_clock):
    r = resource(apple, fake_clock)
    r.accounts()
    apple.tokens.clear()  # Apple expired it
    assert len(r.pull_rows(ACC, date(2025, 7, 10), date(2025, 7, 10)).rows) == 16
    assert [q["route"] for q in apple.requests].count("token") == 2


def test_rate_limited_beyond_the_bound_fails_naming_account_and_days(apple, fake_clock):
    apple.faults += [Fault(429, level="campaigns") for _ in range(4)]
    with pytest.raises(AdsPullError) as err:
        resource(apple, fake_clock).pull_rows(ACC, date(2025, 7, 9), date(2025, 7, 10))
    assert f"Apple Ads pull for account {ACC} days 2025-07-09..2025-07-10 failed after 4 attempt(s)" in str(err.value)
    assert "HTTP 429" in str(err.value)


def test_a_row_in_another_currency_than_the_accounts_is_named():
    acc = [{"account_id": ACC, "name": "x", "currency": "USD", "timezone_name": "America/Los_Angeles"}]
    rows = [keyword_row(ACC, "2025-07-10", "1", "1.00"), keyword_row(ACC, "2025-07-10", "2", "1.00", currency="EUR")]
    with pytest.raises(SpendInputError, match="row 1: field 'localSpend.currency' 'EUR' is not the ad account's"):
        apple_ads_hourly(rows, acc)


def test_a_day_is_spread_over_its_hours_exactly():
    acc = [{"account_id": ACC, "name": "x", "currency": "USD", "timezone_name": "America/Los_Angeles"}]
    frame = apple_ads_hourly([keyword_row(ACC, "2025-07-10", "1", "10.01", impressions=250, taps=25, installs=5)], acc)
    assert len(frame) == 24 and frame["cost_micros"].sum() == 10_010_000 and frame["impressions"].sum() == 250
    assert frame["clicks"].sum() == 25 and frame["installs"].sum() == pytest.approx(5.0)
    assert frame["cost_micros"].max() - frame["cost_micros"].min() <= 1


def test_la_days_in_seoul_report_days_and_revisions_replace_the_day(apple, fresh_home):
    """Seoul is 16 h ahead of LA in July: report day 07-10 (Seoul) is LA 07-09 08:00 .. 07-10 07:00, so it
    holds 16/24 of LA's 07-09 and 8/24 of LA's 07-10. A revised re-pull replaces the day."""
    for r in apple.rows[ACC]:  # make the days differ: 07-10 costs twice 07-09
        if r["date"] == "2025-07-10":
            r["localSpend"] = {**r["localSpend"], "amount": f"{2 * float(r['localSpend']['amount']):.2f}"}
    res = {**build_resources(fresh_home), "apple_ads": resource(apple, max_retries=1, backoff_base_s=0.01)}
    asset = _by_name["apple_ads_spend"]
    day9 = sum(float(r["localSpend"]["amount"]) for r in apple.rows[ACC] if r["date"] == "2025-07-09")
    with dg.instance_for_test() as instance:
        run(res, "2025-07-10", assets=[fx_rates, asset], instance=instance)
        first = table(fresh_home, "apple_ads_spend")
        assert set(first["report_date"]) == {pd.Timestamp("2025-07-10")}
        assert set(first["account_currency"]) == {"USD"} and set(first["account_timezone"]) == {"America/Los_Angeles"}
        assert first["cost_local"].sum() == pytest.approx(day9 * 16 / 24 + 2 * day9 * 8 / 24, abs=0.05)
        assert (first["cost_usd"] - first["cost_local"]).abs().max() < 0.006  # USD account, USD report
        assert len(first) == 16 and first["ad_id"].str.endswith(SEARCH_MATCH).sum() == 4
        for r in apple.rows[ACC]:
            r["localSpend"] = {**r["localSpend"], "amount": f"{float(r['localSpend']['amount']) * 1.1:.2f}"}
        run(res, "2025-07-10", assets=[fx_rates, asset], instance=instance)
        second = table(fresh_home, "apple_ads_spend")
    assert len(second) == 16
    assert second["cost_local"].sum() == pytest.approx(first["cost_local"].sum() * 1.1, rel=2e-3)


def test_the_worlds_account_through_the_fake_equals_the_sample(apple_server, fresh_home, small_world):
    """The sample world's Apple Ads days served by the fake, pulled by the real client (campaign, ad group and
    keyword reports, paged): the same table as the sample resource; every paid Apple install of the world's MMP
    export is a keyword of that table."""
    apple_server.clear()
    ids = serve_apple_world(apple_server, small_world, date(2025, 7, 8), date(2025, 7, 12))
    asset = _by_name["apple_ads_spend"]
    days = ("2025-07-10", "2025-07-11")
    run(build_resources(fresh_home), days[0], days[1], assets=[fx_rates, asset])
    want = table(fresh_home, "apple_ads_spend")
    assert len(want) > 3 and set(want["account_timezone"]) == {"America/Los_Angeles"}
    real = {**build_resources(fresh_home), "apple_ads": resource(apple_server, ad_account_ids=ids, page_size=3,
                                                                  max_retries=1, backoff_base_s=0.01)}
    run(real, days[0], days[1], assets=[fx_rates, asset])
    got = table(fresh_home, "apple_ads_spend")
    pd.testing.assert_frame_equal(got, want, check_exact=False, atol=1e-9)
    assert not got["ad_id"].str.endswith(SEARCH_MATCH).any()  # the world's ad groups spend through keywords
    # the world's truth per report day: hour-exact; ours spreads each LA day, so a day is near, not equal
    t = truth(small_world, list(days))
    t = t[t["network"] == "apple_ads"]
    assert got["cost_local"].sum() == pytest.approx(t["cost_local"].sum(), rel=0.35)
    mmp = pd.concat(pd.read_csv(layout.appsflyer_report(small_world, "installs_report", date(2025, 7, d)), dtype=str)
                    for d in range(8, 13))
    apple = mmp[mmp["Media Source"] == "Apple Search Ads"]
    assert len(apple) > 0 and set(apple["Platform"]) == {"ios"}
    assert set(apple["Ad ID"]) <= set(pd.read_parquet(layout.truth(small_world, "ads"))["ad_id"].astype(str))


def test_a_world_without_apple_ads_or_tiktok_has_no_accounts_there(small_settings, tmp_path):
    """A world made without ``more_networks`` (the easy preset, or one from before) has no such files: the
    sample resources list no accounts, so the raw tables stay empty instead of failing."""
    from adperf_assets.defs.spend.apple_ads import SampleAppleAds
    from adperf_assets.defs.spend.tiktok import SampleTikTok
    from adperf_assets.defs.resources import sample_world

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "world.json").write_bytes((small_settings.world_path / "world.json").read_bytes())
    world = sample_world(small_settings).model_copy(update={"path": str(tmp_path / "w")})
    assert world.root() == tmp_path / "w" and not (tmp_path / "w" / "apple_ads").exists()  # not regenerated
    assert SampleAppleAds(world=world).accounts() == [] and SampleTikTok(world=world).accounts() == []
    with pytest.raises(AdsPullError, match="not an ad account of the sample world"):
        SampleAppleAds(world=world).pull_rows(ACC, date(2025, 7, 10), date(2025, 7, 10))
