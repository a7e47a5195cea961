"""The real FacebookAdsResource (facebook-business SDK) against a fake Graph API on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import date

import pytest

from adperf_assets.defs.spend.facebook import SDK_API_VERSION, FacebookAdsResource, Usage, read_usage
from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets_tests.spend.fake_graph import TOKEN, Fault, insights_row

DAYS = ("2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10")
PAGE = 7


@pytest.fixture
def account(graph):
    graph.accounts["42"] = {"name": "US app", "currency": "USD", "timezone_name": "America/Los_Angeles"}
    graph.rows["42"] = [
        insights_row("42", "US app", "USD", day=d, hour=h, ad=ad, spend=f"{h}.{ad % 100:02d}",
                     impressions=100 + h, clicks=h, installs=h // 4)
        for d in DAYS for h in range(24) for ad in (101, 102)
    ]
    return graph


def resource(graph, fake_clock, **overrides) -> FacebookAdsResource:
    settings = dict(
        access_token=TOKEN, account_ids=["act_42"], graph_url=graph.url, page_limit=PAGE,
        request_timeout_s=10.0, min_request_interval_s=0.0, max_retries=3, backoff_base_s=1.0,
        backoff_max_s=8.0, async_min_days=3, async_poll_interval_s=5.0,
    )
    settings.update(overrides)
    return FacebookAdsResource(**settings).with_clock(fake_clock.sleep, fake_clock.clock)


def expected_rows(graph, since: str, until: str) -> list[dict]:
    return [r for r in graph.rows["42"] if since <= r["date_start"] <= until]


def insights_requests(graph) -> list[dict]:
    return [r for r in graph.requests if r.get("route") in ("insights", "job_insights")]


# -- plain pulls ---------------------------------------------------------------------------
def test_accounts(account, fake_clock):
    res = resource(account, fake_clock, account_ids=["act_42,43"])
    account.accounts["43"] = {"name": "JP app", "currency": "JPY", "timezone_name": "Asia/Tokyo"}
    assert res.accounts() == [
        {"account_id": "42", "name": "US app", "currency": "USD", "timezone_name": "America/Los_Angeles"},
        {"account_id": "43", "name": "JP app", "currency": "JPY", "timezone_name": "Asia/Tokyo"},
    ]
    assert account.requests[0]["path"] == f"/{SDK_API_VERSION}/act_42/"  # the SDK adds the trailing slash
    assert set(account.requests[0]["params"]["fields"].split(",")) == {"account_id", "name", "currency", "timezone_name"}


def test_sync_pull_follows_all_pages(account, fake_clock):
    pull = resource(account, fake_clock).pull_hourly_insights("act_42", date(2026, 3, 7), date(2026, 3, 8))
    assert pull.rows == expected_rows(account, "2026-03-07", "2026-03-08")  # 96 rows, same order
    assert len(pull.rows) == 96 and pull.retries_made == 0
    reqs = insights_requests(account)
    assert len(reqs) == pull.requests_made == 14  # ceil(96 / 7) pages
    first = reqs[0]["params"]
    assert first["level"] == "ad" and first["time_increment"] == "1" and first["limit"] == str(PAGE)
    assert json.loads(first["time_range"]) == {"since": "2026-03-07", "until": "2026-03-08"}
    assert json.loads(first["breakdowns"]) == ["hourly_stats_aggregated_by_advertiser_time_zone"]
    assert json.loads(first["action_breakdowns"]) == ["action_type"]
    assert {"ad_id", "adset_id", "spend", "actions", "objective", "account_currency"} <= set(first["fields"].split(","))
    assert [r["params"].get("after") for r in reqs] == [None] + [str(PAGE * k) for k in range(1, 14)]
    row = pull.rows[30]  # 7 March, hour 15, ad 101: actions come back as plain dicts
    assert row["hourly_stats_aggregated_by_advertiser_time_zone"] == "15:00:00 - 15:59:59"
    assert {"action_type": "mobile_app_install", "value": "3"} in row["actions"]


def test_hourly_insights_returns_the_rows(account, fake_clock):
    rows = resource(account, fake_clock).hourly_insights("42", "2026-03-08", "2026-03-08")
    assert rows == expected_rows(account, "2026-03-08", "2026-03-08")


# -- faults: complete after retries ------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        Fault("throttle", page=21),
        Fault("code", code=613, page=14),
        Fault("code", code=80004, page=7),
        Fault("code", code=4, page=28),
        Fault("json500", page=35),
        Fault("html500", page=42),
        Fault("truncated", page=49),
        Fault("timeout", page=56, delay_s=3.0),
    ],
    ids=lambda f: f"{f.kind}-{f.code}" if f.kind == "code" else f.kind,
)
def test_fault_mid_pull_is_retried_to_a_complete_result(account, fake_clock, fault):
    account.faults = [fault]
    # Generous margins (1 s timeout, 3 s delay) so a loaded CI machine does not time out normal pages.
    pull = resource(account, fake_clock, request_timeout_s=1.0).pull_hourly_insights("act_42", date(2026, 3, 7), date(2026, 3, 8))
    assert pull.rows == expected_rows(account, "2026-03-07", "2026-03-08")
    assert pull.retries_made == 1
    # The failed page was asked again with the same cursor, nothing else repeated.
    afters = [r["params"].get("after") for r in insights_requests(account)]
    assert afters.count(str(fault.page)) == 2 and len(afters) == 15
    assert len(fake_clock.sleeps) == 1
    if fault.kind == "throttle":
        # The throttle reply reports 100 % usage: the usage pause (60 s) outlasts the backoff.
        assert fake_clock.sleeps == [60.0]
    else:
        assert 0.5 <= fake_clock.sleeps[0] <= 1.0  # first backoff: 1 s x jitter in [0.5, 1]


def test_several_faults_in_one_pull(account, fake_clock):
    account.faults = [Fault("code", code=17, page=7), Fault("truncated", page=7), Fault("html500", page=63), Fault("json500", page=0)]
    pull = resource(account, fake_clock).pull_hourly_insights("act_42", date(2026, 3, 7), date(2026, 3, 8))
    assert pull.rows == expected_rows(account, "2026-03-07", "2026-03-08")
    assert pull.retries_made == 4
    # Backoff grows on consecutive failures of one request: 1 s then 2 s (x jitter in [0.5, 1]).
    assert 1.0 <= fake_clock.sleeps[2] <= 2.0


# -- faults: raise, never partial ----------------------------------------------------------------
def test_persistent_throttle_raises_naming_account_days_and_error(account, fake_clock):
    account.faults = [Fault("throttle", page=14) for _ in range(10)]
    res = resource(account, fake_clock, usage_pause_s=0.0)  # backoff alone decides the waits here
    with pytest.raises(AdsPullError) as err:
        res.pull_hourly_insights("act_42", date(2026, 3, 7), date(2026, 3, 8))
    msg = str(err.value)
    assert "Facebook pull for account act_42 days 2026-03-07..2026-03-08 failed after 4 attempt(s)" in msg
    assert "Graph API error code 17" in msg and "User request limit reached" in msg
    assert err.value.account_id == "act_42" and err.value.since == date(2026, 3, 7)
    # Bounded: 3 retries, exponential 1, 2, 4 s scaled by jitter in [0.5, 1].
    assert len(fake_clock.sleeps) == 3
    for k, s in enumerate(fake_clock.sleeps):
        assert 0.5 * 2**k <= s <= 2**k


def test_persistent_truncated_page_raises(account, fake_clock):
    account.faults = [Fault("truncated", page=7) for _ in range(4)]
    with pytest.raises(AdsPullError, match=r"account act_42 day 2026-03-08 .*body is not complete JSON"):
        resource(account, fake_clock).hourly_insights("act_42", "2026-03-08", "2026-03-08")


def test_persistent_timeout_raises(account, fake_clock):
    account.faults = [Fault("timeout", page=0, delay_s=2.0) for _ in range(2)]
    with pytest.raises(AdsPullError, match=r"day 2026-03-08 failed after 2 attempt\(s\): ReadTimeout"):
        resource(account, fake_clock, max_retries=1, request_timeout_s=0.5).hourly_insights(
            "act_42", "2026-03-08", "2026-03-08")


def test_error_that_is_not_transient_is_not_retried(account, fake_clock):
    account.faults = [Fault("code", code=190, page=7)]
    with pytest.raises(AdsPullError, match=r"failed after 1 attempt\(s\): HTTP 400, Graph API error code 190"):
        resource(account, fake_clock).hourly_insights("act_42", "2026-03-08", "2026-03-08")
    assert fake_clock.sleeps == []


def test_token_never_appears_in_errors(graph, fake_clock):
    res = resource(graph, fake_clock, graph_url="http://127.0.0.1:9", max_retries=1)  # nothing listens on port 9
    with pytest.raises(AdsPullError) as err:
        res.hourly_insights("act_42", "2026-03-08", "2026-03-08")
    assert "ConnectionError" in str(err.value) and TOKEN not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


# -- async report jobs ------------------------------------------------------------------------
def test_long_range_uses_an_async_job(account, fake_clock):
    account.job_polls_until_done = 3
    pull = resource(account, fake_clock).pull_hourly_insights("act_42", date(2026, 3, 6), date(2026, 3, 10))
    assert pull.rows == expected_rows(account, "2026-03-06", "2026-03-10")  # 192 rows
    methods = [(r["method"], r.get("route")) for r in account.requests]
    assert methods[0] == ("POST", "post")
    assert methods.count(("GET", "job")) == 4
    assert methods.count(("GET", "job_insights")) == 28  # ceil(192 / 7)
    assert fake_clock.sleeps == [5.0, 5.0, 5.0]  # poll interval between status checks
    assert pull.retries_made == 0


def test_failed_async_job_is_restarted_and_result_pages_retried(account, fake_clock):
    account.job_outcomes = ["Job Failed"]
    account.faults = [Fault("throttle", route="job_insights", page=14), Fault("html500", route="job", page=None)]
    pull = resource(account, fake_clock).pull_hourly_insights("act_42", date(2026, 3, 7), date(2026, 3, 10))
    assert pull.rows == expected_rows(account, "2026-03-07", "2026-03-10")
    assert len(account.jobs) == 2
    assert pull.retries_made == 3  # restarted job + throttled page + 500 on a poll


def test_async_job_that_never_finishes_raises(account, fake_clock):
    account.job_polls_until_done = 10_000
    res = resource(account, fake_clock, async_timeout_s=30.0)
    with pytest.raises(AdsPullError, match=r"days 2026-03-07..2026-03-10 .*async report job 9000 not finished after 30 s"):
        res.hourly_insights("act_42", "2026-03-07", "2026-03-10")


def test_async_job_failing_every_time_raises(account, fake_clock):
    account.job_outcomes = ["Job Failed"] * 3
    with pytest.raises(AdsPullError, match=r"async report job ended with 'Job Failed' 3 time\(s\)"):
        resource(account, fake_clock, async_job_retries=2).hourly_insights("act_42", "2026-03-07", "2026-03-10")


# -- pacing and usage headers -----------------------------------------------------------------
def test_requests_are_spaced(account, fake_clock):
    pull = resource(account, fake_clock, min_request_interval_s=2.0).pull_hourly_insights("act_42", "2026-03-08", "2026-03-08")
    assert pull.requests_made == 7
    assert fake_clock.sleeps == [2.0] * 6


def test_high_usage_headers_pause_the_next_request(account, fake_clock):
    account.usage_headers["x-app-usage"] = json.dumps({"call_count": 95, "total_time": 20, "total_cputime": 10})
    pull = resource(account, fake_clock, usage_pause_s=60.0).pull_hourly_insights("act_42", "2026-03-08", "2026-03-08")
    assert fake_clock.sleeps == [60.0] * 6
    assert pull.throttle_wait_s == 360.0


def test_moderate_usage_slows_down_proportionally(account, fake_clock):
    account.usage_headers["x-ad-account-usage"] = json.dumps({"acc_id_util_pct": 75.0})
    resource(account, fake_clock, usage_slow_pct=60, usage_pause_pct=90, usage_pause_s=60.0).hourly_insights(
        "act_42", "2026-03-08", "2026-03-08")
    assert fake_clock.sleeps == [30.0] * 6


def test_regain_access_time_is_waited_before_retrying(account, fake_clock):
    account.faults = [Fault("throttle", page=7, regain_minutes=3)]
    pull = resource(account, fake_clock).pull_hourly_insights("act_42", "2026-03-08", "2026-03-08")
    assert len(pull.rows) == 48
    assert max(fake_clock.sleeps) >= 180.0  # the API said three minutes


def test_read_usage_headers():
    headers = {
        "x-app-usage": '{"call_count": 28, "total_time": 25, "total_cputime": 25}',
        "x-ad-account-usage": '{"acc_id_util_pct": 9.67}',
        "x-business-use-case-usage": json.dumps({"1": [{"type": "ads_insights", "call_count": 5, "total_cputime": 81,
                                                        "total_time": 4, "estimated_time_to_regain_access": 2}]}),
    }
    assert read_usage(headers) == Usage(pct=81.0, regain_s=120.0)
    assert read_usage({"x-app-usage": "not json"}) == Usage()
    assert read_usage({}) == Usage()
