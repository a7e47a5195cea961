"""FacebookAdActions (facebook-business SDK, real HTTP) against a fake Graph API on 127.0.0.1 that holds
the objects' state and records every request."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from facebook_business.api import FacebookAdsApi

from adperf_assets.defs.actions.facebook_actions import (
    FacebookActionError,
    FacebookAdActions,
)
from adperf_assets_tests.actions.fake_fb_actions import TOKEN, FakeGraphObjects, Fault

VERSION = FacebookAdsApi.API_VERSION


@pytest.fixture(scope="module")
def server():
    fake = FakeGraphObjects(api_version=VERSION).start()
    yield fake
    fake.stop()


@pytest.fixture
def graph(server):
    for attr in ("accounts", "objects", "faults", "requests", "usage_headers"):
        getattr(server, attr).clear()
    server.accounts.update({"111": {"name": "US app", "currency": "USD", "timezone_name": "America/New_York"},
                            "222": {"name": "JP app", "currency": "JPY", "timezone_name": "Asia/Tokyo"},
                            "333": {"name": "HU app", "currency": "HUF", "timezone_name": "Europe/Budapest"}})
    server.add("9001", "ad", "ACTIVE")
    server.add("9002", "ad", "PAUSED")
    server.add("8001", "adset", "ACTIVE", daily_budget=5000)        # 50.00 USD
    server.add("8002", "adset", "ACTIVE")                           # under a CBO campaign: no budget
    server.add("7001", "campaign", "ACTIVE", daily_budget=123456)   # CBO: 1234.56 USD
    server.add("7002", "campaign", "PAUSED")                        # budgets on its ad sets
    server.add("8201", "adset", "ACTIVE", daily_budget=5000)        # JPY: 5000 yen
    server.add("8301", "adset", "ACTIVE", daily_budget=20000)       # HUF: Facebook's offset is 1, not ISO's 100
    return server


def actions(graph, fake_clock, **overrides) -> FacebookAdActions:
    settings = dict(access_token=TOKEN, graph_url=graph.url, min_request_interval_s=0.0, max_retries=4,
                    backoff_base_s=1.0, backoff_max_s=8.0, request_timeout_s=5.0)
    settings.update(overrides)
    return FacebookAdActions(**settings).with_clock(fake_clock.sleep, fake_clock.clock)


def objects(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"network": "facebook", "account_id": acct, "level": level, "object_id": oid}
                         for acct, level, oid in rows])


ALL = objects(("111", "ad", "9001"), ("111", "ad", "9002"), ("111", "ad_group", "8001"), ("111", "ad_group", "8002"),
              ("111", "campaign", "7001"), ("111", "campaign", "7002"), ("222", "ad_group", "8201"),
              ("333", "ad_group", "8301"))


def act(level, oid, action, status_after=None, budget_after=None, account="111", currency=None) -> dict:
    return {"network": "facebook", "account_id": account, "level": level, "object_id": oid, "action": action,
            "status_after": status_after, "budget_after": budget_after, "currency": currency, "ref": ""}


def test_state_reads_status_and_converts_minor_units_to_the_account_currency(graph, fake_clock):
    other = objects(("111", "ad", "9001")).assign(network="google_ads", object_id="8001")
    st = actions(graph, fake_clock).state(pd.concat([ALL, objects(("111", "ad", "404404")), other]))
    got = {r.object_id: (r.level, r.status, None if np.isnan(r.daily_budget) else r.daily_budget, r.currency)
           for r in st.itertuples()}
    assert len(st) == len(got)  # the other network's row was not looked up here
    assert "404404" not in got  # an object the network does not have is left out
    assert got == {
        "9001": ("ad", "ACTIVE", None, "USD"),
        "9002": ("ad", "PAUSED", None, "USD"),
        "8001": ("ad_group", "ACTIVE", 50.0, "USD"),
        "8002": ("ad_group", "ACTIVE", None, "USD"),     # its CBO campaign holds the budget
        "7001": ("campaign", "ACTIVE", 1234.56, "USD"),
        "7002": ("campaign", "PAUSED", None, "USD"),
        "8201": ("ad_group", "ACTIVE", 5000.0, "JPY"),   # no minor unit: 5000 yen
        "8301": ("ad_group", "ACTIVE", 20000.0, "HUF"),  # Facebook sends forints in whole units
    }
    assert list(st.columns) == ["network", "level", "object_id", "status", "daily_budget", "currency", "ref"]
    # the currency of each account is read once; reads are GETs of the fields the level has
    gets = [r for r in graph.requests if r["method"] == "GET"]
    assert sum(r["path"].endswith("/act_111") for r in gets) == 1
    assert {r["params"]["fields"] for r in gets if r["path"].endswith("/9001")} == {"id,status"}
    assert {r["params"]["fields"] for r in gets if r["path"].endswith("/8001")} == {"id,status,daily_budget"}


def test_state_raises_a_redacted_error_when_it_cannot_read(graph, fake_clock):
    with pytest.raises(FacebookActionError) as err:
        actions(graph, fake_clock, access_token="wrong-token-XYZ").state(ALL)
    assert "Invalid OAuth access token" in str(err.value) and "wrong-token-XYZ" not in str(err.value)


def test_validate_only_changes_nothing_but_the_fake_received_each_request_with_the_flag(graph, fake_clock):
    before = graph.snapshot()
    fb = actions(graph, fake_clock)
    results = [fb.apply(act("ad", "9001", "pause", "PAUSED"), validate_only=True),
               fb.apply(act("ad_group", "8001", "raise_budget", budget_after=60.0, currency="USD"), validate_only=True),
               fb.apply(act("campaign", "7001", "lower_budget", budget_after=987.65), validate_only=True),
               fb.apply(act("ad_group", "8201", "set_budget", budget_after=4321, account="222"), validate_only=True),
               fb.apply(act("ad_group", "8301", "set_budget", budget_after=24000.4, account="333"), validate_only=True)]
    assert all(r.ok and r.validated_only and r.attempts == 1 for r in results), results
    assert graph.snapshot() == before
    sent = [(u["path"].rsplit("/", 1)[-1], u.get("status"), u.get("daily_budget"), u["execution_options"])
            for u in graph.updates()]
    assert sent == [("9001", "PAUSED", None, '["validate_only"]'), ("8001", None, "6000", '["validate_only"]'),
                    ("7001", None, "98765", '["validate_only"]'), ("8201", None, "4321", '["validate_only"]'),
                    ("8301", None, "24000", '["validate_only"]')]
    assert '"success": true' in results[0].answer and "validate_only" in results[0].answer


def test_apply_then_the_inverse_leaves_the_fake_as_before(graph, fake_clock):
    fb = actions(graph, fake_clock)
    original = graph.snapshot()
    before = fb.state(ALL).set_index("object_id")
    forward = [act("ad", "9001", "pause", "PAUSED"), act("ad", "9002", "resume", "ACTIVE"),
               act("ad_group", "8001", "raise_budget", budget_after=60.0), act("campaign", "7001", "lower_budget",
                                                                               budget_after=1000.01)]
    assert all(fb.apply(a, validate_only=False).ok for a in forward)
    after = fb.state(ALL).set_index("object_id")
    assert (after.loc["9001", "status"], after.loc["9002", "status"]) == ("PAUSED", "ACTIVE")
    assert (after.loc["8001", "daily_budget"], after.loc["7001", "daily_budget"]) == (60.0, 1000.01)
    assert graph.objects["7001"]["daily_budget"] == "100001"
    assert "execution_options" not in graph.updates()[0]
    inverse = [act("ad", "9001", "resume", before.loc["9001", "status"]),
               act("ad", "9002", "pause", before.loc["9002", "status"]),
               act("ad_group", "8001", "set_budget", budget_after=before.loc["8001", "daily_budget"]),
               act("campaign", "7001", "set_budget", budget_after=before.loc["7001", "daily_budget"])]
    assert all(fb.apply(a, validate_only=False).ok for a in inverse)
    assert graph.snapshot() == original


@pytest.mark.parametrize("faults", [
    [Fault("throttle", route="update")],                                         # code 17, HTTP 400
    [Fault("code", route="update", code=613, status=400), Fault("code", route="update", code=4, status=400),
     Fault("code", route="update", code=32, status=400)],
    [Fault("code", route="update", code=1, status=429)],                         # HTTP 429, unclassified code
    [Fault("json500", route="update"), Fault("html500", route="update")],        # 5xx with and without a Graph error
])
def test_throttling_and_5xx_in_the_middle_are_retried_then_applied(graph, fake_clock, faults):
    fb = actions(graph, fake_clock)
    assert fb.apply(act("ad", "9001", "pause", "PAUSED"), validate_only=False).ok
    graph.faults.extend(faults)
    res = fb.apply(act("ad_group", "8001", "raise_budget", budget_after=55.0), validate_only=False)
    assert res.ok and res.attempts == len(faults) + 1, res
    assert len(fake_clock.sleeps) == len(faults) and all(s > 0 for s in fake_clock.sleeps)
    assert graph.objects["8001"]["daily_budget"] == "5500" and graph.objects["9001"]["status"] == "PAUSED"
    assert fb.apply(act("ad", "9002", "resume", "ACTIVE"), validate_only=False).ok  # the next action goes on
    assert len(graph.updates()) == 1 + len(faults) + 1 + 1


def test_a_persistent_5xx_gives_ok_false_after_the_configured_attempts(graph, fake_clock):
    graph.faults.extend(Fault("json500", route="update") for _ in range(10))
    fb = actions(graph, fake_clock, max_retries=2)
    res = fb.apply(act("ad_group", "8001", "lower_budget", budget_after=40.0), validate_only=False)
    assert not res.ok and res.attempts == 3
    assert "failed after 3 attempt(s)" in res.answer and "HTTP 500" in res.answer and "error code 2" in res.answer
    assert '"daily_budget": 4000' in res.answer  # what was not applied is named
    assert graph.objects["8001"]["daily_budget"] == "5000"
    assert len(graph.updates()) == 3 and len(fake_clock.sleeps) == 2 and max(fake_clock.sleeps) <= 8.0


def test_refusals_are_answered_not_raised_nor_retried(graph, fake_clock):
    fb = actions(graph, fake_clock)
    unknown = fb.apply(act("ad", "404404", "pause", "PAUSED"), validate_only=False)
    assert not unknown.ok and unknown.attempts == 1 and "does not exist" in unknown.answer
    bad = fb.apply(act("ad", "9001", "pause", "BOGUS"), validate_only=False)
    assert not bad.ok and bad.attempts == 0 and bad.answer.startswith("not sent")
    on_ad = fb.apply(act("ad", "9001", "set_budget", budget_after=10.0), validate_only=True)
    assert not on_ad.ok and "holds no budget" in on_ad.answer
    wrong_cur = fb.apply(act("ad_group", "8201", "set_budget", budget_after=10.0, account="222", currency="USD"),
                         validate_only=False)
    assert not wrong_cur.ok and "JPY" in wrong_cur.answer
    nan = fb.apply(act("ad_group", "8001", "set_budget", budget_after=float("nan")), validate_only=False)
    assert not nan.ok
    assert graph.objects["9001"]["status"] == "ACTIVE" and graph.objects["8001"]["daily_budget"] == "5000"
    assert len(graph.updates()) == 1 and fake_clock.sleeps == []


def test_the_token_is_never_in_an_answer_an_error_or_a_log(graph, fake_clock, caplog):
    caplog.set_level(logging.DEBUG)
    fb = actions(graph, fake_clock, max_retries=1)
    fb.state(ALL)
    results = [fb.apply(act("ad", "9001", "pause", "PAUSED"), validate_only=True),
               fb.apply(act("ad", "9001", "pause", "PAUSED"), validate_only=False)]
    graph.faults.extend([Fault("echo", route="update", code=100, status=400)])
    results.append(fb.apply(act("ad", "9002", "resume", "ACTIVE"), validate_only=False))
    graph.faults.extend([Fault("echo", route="update", code=2, status=503) for _ in range(2)])
    results.append(fb.apply(act("ad", "9002", "resume", "ACTIVE"), validate_only=False))
    assert [r.ok for r in results] == [True, True, False, False]
    assert "access_token=<redacted>" in results[2].answer  # the API quoted the URL; the token was cut out
    assert all(TOKEN not in r.answer for r in results)
    assert TOKEN in graph.requests[0]["params"]["access_token"]  # it was sent, as the API needs
    assert caplog.records and TOKEN not in caplog.text
    assert any("facebook pause ad 9001" in r.getMessage() for r in caplog.records)


def test_state_reads_are_retried_like_the_pulls(graph, fake_clock):
    graph.faults.extend([Fault("json500", route="object"), Fault("throttle", route="object")])
    st = actions(graph, fake_clock).state(ALL)
    assert len(st) == len(ALL) and len(fake_clock.sleeps) == 2


def test_a_failure_in_the_middle_of_a_day_leaves_a_record_of_what_was_applied_and_what_not(graph, fake_clock):
    fb = actions(graph, fake_clock, max_retries=1)
    day = [act("ad", "9001", "pause", "PAUSED"), act("ad_group", "8001", "raise_budget", budget_after=60.0),
           act("campaign", "7001", "lower_budget", budget_after=1000.0)]
    results = []
    for i, a in enumerate(day):
        if i == 1:
            graph.faults.extend(Fault("json500", route="update") for _ in range(2))
        results.append(fb.apply(a, validate_only=False))
    assert [r.ok for r in results] == [True, False, True]
    assert (graph.objects["9001"]["status"], graph.objects["8001"]["daily_budget"],
            graph.objects["7001"]["daily_budget"]) == ("PAUSED", "5000", "100000")
