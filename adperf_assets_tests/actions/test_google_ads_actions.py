"""GoogleAdsAdActions (google-ads SDK, real gRPC) against fake GoogleAdsService / mutate services on
127.0.0.1 that hold the objects' state and record every request."""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.actions.google_ads_actions import (
    GoogleAdsActionError,
    GoogleAdsAdActions,
)
from adperf_assets_tests.actions.fake_google_actions import (
    FakeCustomer,
    FakeGoogleActions,
    Fault,
)

CID = "1234567890"
JP = "2222222222"
DEV = "dev-token-S3CRET"


@pytest.fixture(scope="module")
def server():
    fake = FakeGoogleActions(developer_token=DEV).start()
    yield fake
    fake.stop()


@pytest.fixture
def google(server):
    server.faults.clear()
    server.requests.clear()
    server.customers.clear()
    us = FakeCustomer(CID, "USD")
    us.budgets = {"501": {"amount_micros": 50_000_000, "period": "DAILY", "shared": False},
                  "502": {"amount_micros": 80_000_000, "period": "DAILY", "shared": True},
                  "503": {"amount_micros": 900_000_000, "period": "CUSTOM_PERIOD", "shared": False}}
    us.campaigns = {"11": {"status": "ENABLED", "budget": "501"}, "12": {"status": "PAUSED", "budget": "502"},
                    "13": {"status": "ENABLED", "budget": "503"}}
    us.ad_groups = {"21": {"status": "ENABLED", "campaign": "11"}, "22": {"status": "PAUSED", "campaign": "11"}}
    us.ads = {("21", "301"): {"status": "ENABLED"}, ("21", "302"): {"status": "PAUSED"}}
    jp = FakeCustomer(JP, "JPY")
    jp.budgets = {"601": {"amount_micros": 5_000_000_000, "period": "DAILY", "shared": False}}
    jp.campaigns = {"61": {"status": "ENABLED", "budget": "601"}}
    server.customers.update({CID: us, JP: jp})
    return server


def actions(google, fake_clock, **overrides) -> GoogleAdsAdActions:
    settings = dict(developer_token=DEV, login_customer_id="111-222-3333", endpoint=google.endpoint,
                    insecure_endpoint=True, min_request_interval_s=0.0, max_retries=3, backoff_base_s=1.0,
                    backoff_max_s=8.0, request_timeout_s=5.0)
    settings.update(overrides)
    return GoogleAdsAdActions(**settings).with_clock(fake_clock.sleep, fake_clock.clock)


def objects(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"network": "google_ads", "account_id": acct, "campaign_id": camp, "ad_group_id": grp,
                          "ad_id": ad, "level": level, "object_id": {"ad": ad, "ad_group": grp, "campaign": camp}[level]}
                         for acct, level, camp, grp, ad in rows])


ALL = objects((CID, "ad", "11", "21", "301"), (CID, "ad", "11", "21", "302"), (CID, "ad_group", "11", "21", ""),
              (CID, "ad_group", "11", "22", ""), (CID, "campaign", "11", "", ""), (CID, "campaign", "12", "", ""),
              (CID, "campaign", "13", "", ""), ("222-222-2222", "campaign", "61", "", ""))


def act(level, oid, action, status_after=None, budget_after=None, account=CID, currency=None, ref="") -> dict:
    return {"network": "google_ads", "account_id": account, "level": level, "object_id": oid, "action": action,
            "status_after": status_after, "budget_after": budget_after, "currency": currency, "ref": ref}


def test_state_reads_statuses_and_converts_budget_micros(google, fake_clock):
    other = objects((CID, "campaign", "11", "", "")).assign(network="facebook", object_id="12")
    st = actions(google, fake_clock).state(pd.concat([ALL, objects((CID, "campaign", "99", "", "")), other]))
    got = {(r.level, r.object_id): (r.status, None if np.isnan(r.daily_budget) else r.daily_budget, r.currency, r.ref)
           for r in st.itertuples()}
    assert len(st) == len(got)  # the other network's row was not looked up here
    assert got == {
        ("ad", "301"): ("ACTIVE", None, "USD", f"customers/{CID}/adGroupAds/21~301"),   # ENABLED reads as ACTIVE
        ("ad", "302"): ("PAUSED", None, "USD", f"customers/{CID}/adGroupAds/21~302"),
        ("ad_group", "21"): ("ACTIVE", None, "USD", ""),                                # no budget in Google Ads
        ("ad_group", "22"): ("PAUSED", None, "USD", ""),
        ("campaign", "11"): ("ACTIVE", 50.0, "USD", f"customers/{CID}/campaignBudgets/501"),
        ("campaign", "12"): ("PAUSED", None, "USD", f"customers/{CID}/campaignBudgets/502"),  # shared: not ours to move
        ("campaign", "13"): ("ACTIVE", None, "USD", f"customers/{CID}/campaignBudgets/503"),  # not a daily budget
        ("campaign", "61"): ("ACTIVE", 5000.0, "JPY", f"customers/{JP}/campaignBudgets/601"),
    }  # campaign 99 does not exist: left out
    queries = [r["query"] for r in google.requests]
    assert len(queries) == 4 and all(r["metadata"]["developer-token"] == DEV for r in google.requests)
    assert any(f"ad_group_ad.resource_name IN ('customers/{CID}/adGroupAds/21~301'" in q for q in queries)
    shared = actions(google, fake_clock, allow_shared_budgets=True).state(objects((CID, "campaign", "12", "", "")))
    assert shared["daily_budget"].tolist() == [80.0]


def test_state_needs_the_ad_group_of_an_ad_and_raises_a_redacted_error_when_it_cannot_read(google, fake_clock):
    with pytest.raises(ValueError, match="ad_group_id"):
        actions(google, fake_clock).state(ALL[ALL["level"] == "ad"].drop(columns="ad_group_id"))
    google.faults.extend(Fault(grpc.StatusCode.UNAVAILABLE, method="Search") for _ in range(10))
    with pytest.raises(GoogleAdsActionError, match="UNAVAILABLE") as err:
        actions(google, fake_clock, max_retries=1).state(ALL)
    assert DEV not in str(err.value)


def test_validate_only_changes_nothing_but_each_request_carried_the_flag(google, fake_clock):
    before = google.snapshot()
    ga = actions(google, fake_clock)
    results = [ga.apply(act("ad", "301", "pause", "PAUSED", ref=f"customers/{CID}/adGroupAds/21~301"), True),
               ga.apply(act("ad_group", "21", "pause", "PAUSED"), True),
               ga.apply(act("campaign", "11", "pause", "PAUSED"), True),
               ga.apply(act("campaign", "11", "raise_budget", budget_after=60.0, currency="USD"), True),
               ga.apply(act("campaign", "61", "set_budget", budget_after=4321, account=JP), True)]
    assert all(r.ok and r.validated_only and r.attempts == 1 for r in results), results
    assert google.snapshot() == before
    sent = [(r["method"], r["validate_only"], r["partial_failure"], r["operations"][0]["resource_name"],
             r["operations"][0]["mask"], r["operations"][0]["status"] or r["operations"][0]["amount_micros"])
            for r in google.mutates()]
    assert sent == [
        ("MutateAdGroupAds", True, False, f"customers/{CID}/adGroupAds/21~301", ["resource_name", "status"], "PAUSED"),
        ("MutateAdGroups", True, False, f"customers/{CID}/adGroups/21", ["resource_name", "status"], "PAUSED"),
        ("MutateCampaigns", True, False, f"customers/{CID}/campaigns/11", ["resource_name", "status"], "PAUSED"),
        ("MutateCampaignBudgets", True, False, f"customers/{CID}/campaignBudgets/501",
         ["resource_name", "amount_micros"], 60_000_000),
        ("MutateCampaignBudgets", True, False, f"customers/{JP}/campaignBudgets/601",
         ["resource_name", "amount_micros"], 4_321_000_000),
    ]
    assert "validated, no results" in results[0].answer


def test_apply_then_the_inverse_leaves_the_fake_as_before(google, fake_clock):
    ga = actions(google, fake_clock)
    original = google.snapshot()
    before = ga.state(ALL).set_index(["level", "object_id"])
    forward = [act("ad", "301", "pause", "PAUSED"),  # no ref: the ad group ad is looked up by ad id
               act("ad", "302", "resume", "ACTIVE", ref=before.loc[("ad", "302"), "ref"]),
               act("ad_group", "22", "resume", "ACTIVE"),
               act("campaign", "11", "raise_budget", budget_after=60.004, ref=before.loc[("campaign", "11"), "ref"])]
    results = [ga.apply(a, validate_only=False) for a in forward]
    assert all(r.ok and not r.validated_only for r in results), results
    after = ga.state(ALL).set_index(["level", "object_id"])
    assert after.loc[("ad", "301"), "status"] == "PAUSED" and after.loc[("ad", "302"), "status"] == "ACTIVE"
    assert after.loc[("ad_group", "22"), "status"] == "ACTIVE"
    assert after.loc[("campaign", "11"), "daily_budget"] == 60.0  # rounded to the currency's cents
    assert google.customers[CID].budgets["501"]["amount_micros"] == 60_000_000
    inverse = [act("ad", "301", "resume", before.loc[("ad", "301"), "status"]),
               act("ad", "302", "pause", before.loc[("ad", "302"), "status"]),
               act("ad_group", "22", "pause", before.loc[("ad_group", "22"), "status"]),
               act("campaign", "11", "set_budget", budget_after=before.loc[("campaign", "11"), "daily_budget"])]
    assert all(ga.apply(a, validate_only=False).ok for a in inverse)
    assert google.snapshot() == original


@pytest.mark.parametrize("faults", [
    [Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, quota=True, retry_delay_s=3.0)],
    [Fault(grpc.StatusCode.UNAVAILABLE), Fault(grpc.StatusCode.INTERNAL)],
    [Fault(grpc.StatusCode.RESOURCE_EXHAUSTED), Fault(grpc.StatusCode.UNAVAILABLE, quota=True)],
])
def test_transient_errors_in_the_middle_are_retried_then_applied(google, fake_clock, faults):
    ga = actions(google, fake_clock)
    assert ga.apply(act("campaign", "11", "pause", "PAUSED"), validate_only=False).ok
    google.faults.extend(faults)
    res = ga.apply(act("campaign", "11", "lower_budget", budget_after=40.0), validate_only=False)
    assert res.ok and res.attempts == len(faults) + 1, res
    assert len(fake_clock.sleeps) == len(faults)
    if faults[0].retry_delay_s:
        assert fake_clock.sleeps[0] >= 3.0  # the quota failure's retry delay is honoured
    assert google.customers[CID].budgets["501"]["amount_micros"] == 40_000_000
    assert google.customers[CID].campaigns["11"]["status"] == "PAUSED"
    assert ga.apply(act("ad_group", "21", "pause", "PAUSED"), validate_only=False).ok  # the next one goes on
    assert len(google.mutates()) == 1 + len(faults) + 1 + 1


def test_a_persistent_unavailable_gives_ok_false_after_the_configured_attempts(google, fake_clock):
    google.faults.extend(Fault(grpc.StatusCode.UNAVAILABLE, message="backend down") for _ in range(10))
    ga = actions(google, fake_clock, max_retries=2)
    res = ga.apply(act("campaign", "11", "pause", "PAUSED"), validate_only=False)
    assert not res.ok and res.attempts == 3
    assert "failed after 3 attempt(s)" in res.answer and "UNAVAILABLE" in res.answer and "backend down" in res.answer
    assert f"customers/{CID}/campaigns/11 status=PAUSED" in res.answer  # what was not applied is named
    assert google.customers[CID].campaigns["11"]["status"] == "ENABLED"
    assert len(google.mutates()) == 3 and len(fake_clock.sleeps) == 2


def test_refusals_are_answered_with_the_google_ads_failure_not_raised_nor_retried(google, fake_clock):
    ga = actions(google, fake_clock)
    missing = ga.apply(act("ad_group", "404", "pause", "PAUSED"), validate_only=False)
    assert not missing.ok and missing.attempts == 1
    assert "RESOURCE_NOT_FOUND" in missing.answer and "Resource was not found" in missing.answer
    no_ad = ga.apply(act("ad", "999", "pause", "PAUSED"), validate_only=False)
    assert not no_ad.ok and "0 ad group ads" in no_ad.answer
    shared = ga.apply(act("campaign", "12", "raise_budget", budget_after=90.0), validate_only=False)
    assert not shared.ok and "shared" in shared.answer
    stale = ga.apply(act("campaign", "11", "raise_budget", budget_after=55.0,
                         ref=f"customers/{CID}/campaignBudgets/777"), validate_only=False)
    assert not stale.ok and "read the state again" in stale.answer
    group_budget = ga.apply(act("ad_group", "21", "set_budget", budget_after=10.0), validate_only=True)
    assert not group_budget.ok and "holds no budget" in group_budget.answer and group_budget.attempts == 0
    wrong_cur = ga.apply(act("campaign", "61", "set_budget", budget_after=10.0, account=JP, currency="USD"), False)
    assert not wrong_cur.ok and "JPY" in wrong_cur.answer
    assert len(google.mutates()) == 1 and fake_clock.sleeps == []
    assert google.customers[CID].budgets["501"]["amount_micros"] == 50_000_000


def test_secrets_are_never_in_an_answer_or_a_log(google, fake_clock, caplog):
    caplog.set_level(logging.DEBUG)
    ga = actions(google, fake_clock, max_retries=1, client_secret="client-S3CRET", refresh_token="refresh-S3CRET")
    ga.state(ALL)
    results = [ga.apply(act("campaign", "11", "pause", "PAUSED"), True),
               ga.apply(act("campaign", "11", "pause", "PAUSED"), False)]
    google.faults.append(Fault(grpc.StatusCode.PERMISSION_DENIED, message=f"token {DEV} not approved"))
    results.append(ga.apply(act("campaign", "11", "resume", "ACTIVE"), False))
    google.faults.extend(Fault(grpc.StatusCode.INTERNAL, message=f"developer_token={DEV}") for _ in range(2))
    results.append(ga.apply(act("campaign", "11", "resume", "ACTIVE"), False))
    wrong = actions(google, fake_clock, developer_token="wrong-S3CRET").apply(act("campaign", "11", "pause"), False)
    results.append(wrong)
    assert [r.ok for r in results] == [True, True, False, False, False]
    for secret in (DEV, "client-S3CRET", "refresh-S3CRET", "wrong-S3CRET"):
        assert all(secret not in r.answer for r in results) and secret not in caplog.text
    assert "PERMISSION_DENIED" in results[2].answer and "UNAUTHENTICATED" in wrong.answer
    assert any("google_ads pause campaign 11" in r.getMessage() for r in caplog.records)


def test_state_queries_in_bounded_chunks(google, fake_clock, monkeypatch):
    from adperf_assets.defs.actions import google_ads_actions

    monkeypatch.setattr(google_ads_actions, "_chunks", lambda values: [[v] for v in values])
    st = actions(google, fake_clock).state(ALL[ALL["account_id"] == CID])
    assert len(st) == 7 and len(google.requests) == 7  # one query per object, nothing lost between chunks


def test_missing_oauth_credentials_are_an_answer_not_an_exception(fake_clock):
    ga = GoogleAdsAdActions(developer_token=DEV).with_clock(fake_clock.sleep, fake_clock.clock)
    res = ga.apply(act("campaign", "11", "pause", "PAUSED"), validate_only=True)
    assert not res.ok and res.attempts == 0 and "client_id, client_secret and refresh_token" in res.answer


def test_state_reads_are_retried_like_the_pulls(google, fake_clock):
    google.faults.extend([Fault(grpc.StatusCode.UNAVAILABLE, method="Search"),
                          Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, method="Search", quota=True)])
    assert len(actions(google, fake_clock).state(ALL)) == 8 and len(fake_clock.sleeps) == 2


def test_a_failure_in_the_middle_of_a_day_leaves_a_record_of_what_was_applied_and_what_not(google, fake_clock):
    ga = actions(google, fake_clock, max_retries=1)
    day = [act("ad_group", "21", "pause", "PAUSED"), act("campaign", "11", "raise_budget", budget_after=60.0),
           act("campaign", "61", "lower_budget", budget_after=4000, account=JP)]
    results = []
    for i, a in enumerate(day):
        if i == 1:
            google.faults.extend(Fault(grpc.StatusCode.INTERNAL) for _ in range(2))
        results.append(ga.apply(a, validate_only=False))
    assert [r.ok for r in results] == [True, False, True]
    us, jp = google.customers[CID], google.customers[JP]
    assert (us.ad_groups["21"]["status"], us.budgets["501"]["amount_micros"], jp.budgets["601"]["amount_micros"]) == (
        "PAUSED", 50_000_000, 4_000_000_000)
