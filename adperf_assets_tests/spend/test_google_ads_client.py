"""The real GoogleAdsResource (google-ads SDK, gRPC) against a fake GoogleAdsService on 127.0.0.1."""

from __future__ import annotations

from datetime import date

import grpc
import pytest

from adperf_assets.defs.spend.google_ads import HOURLY_FIELDS, GoogleAdsResource
from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets_tests.spend.fake_google_ads import FakeCustomer, Fault, ad_row, delay

CID = "1234567890"
DAYS = ("2026-03-07", "2026-03-08", "2026-03-09")


@pytest.fixture
def customer(google):
    c = FakeCustomer(CID, "KR app", "KRW", "Asia/Seoul")
    c.rows = [
        ad_row(c, day=d, hour=h, campaign_id=11, ad_group_id=20 + ad % 2, ad_id=ad, cost_micros=1_234_567 * (h + 1),
               impressions=50 + h, clicks=h % 5, conversions=0.5 * (h % 3), channel="MULTI_CHANNEL")
        for d in DAYS for h in range(24) for ad in (301, 302)
    ]
    google.customers[CID] = c
    return c


def resource(google, fake_clock, **overrides) -> GoogleAdsResource:
    settings = dict(
        developer_token="dev-token", login_customer_id="111-222-3333", customer_ids=["123-456-7890"],
        endpoint=google.endpoint, insecure_endpoint=True, min_request_interval_s=0.0, max_retries=3,
        backoff_base_s=1.0, backoff_max_s=8.0, request_timeout_s=5.0,
    )
    settings.update(overrides)
    return GoogleAdsResource(**settings).with_clock(fake_clock.sleep, fake_clock.clock)


def expected(customer, since: str, until: str) -> list[tuple]:
    return [(r["day"], r["hour"], r["ad_id"], r["cost_micros"]) for r in customer.rows if since <= r["day"] <= until]


def keys(rows: list[dict]) -> list[tuple]:
    return [(r["segments.date"], r["segments.hour"], r["ad_group_ad.ad.id"], r["metrics.cost_micros"]) for r in rows]


def test_customers(google, customer, fake_clock):
    assert resource(google, fake_clock).customers() == [
        {"account_id": CID, "name": "KR app", "currency": "KRW", "timezone_name": "Asia/Seoul"}
    ]
    call = google.calls[0]
    assert call["customer_id"] == CID and "FROM customer" in call["query"]
    assert call["metadata"]["developer-token"] == "dev-token"
    assert call["metadata"]["login-customer-id"] == "1112223333"


def test_hourly_rows_are_dicts_keyed_by_gaql_path(google, customer, fake_clock):
    pull = resource(google, fake_clock).pull_hourly_rows(CID, date(2026, 3, 7), date(2026, 3, 8))
    assert keys(pull.rows) == expected(customer, "2026-03-07", "2026-03-08")
    assert pull.retries_made == 0 and pull.requests_made == 1
    row = pull.rows[5]
    assert list(row) == HOURLY_FIELDS
    assert row["customer.id"] == int(CID) and row["customer.currency_code"] == "KRW"
    assert row["customer.time_zone"] == "Asia/Seoul"
    assert row["campaign.advertising_channel_type"] == "MULTI_CHANNEL"
    assert row["segments.date"] == "2026-03-07" and row["segments.hour"] == 2
    assert row["metrics.cost_micros"] == 1_234_567 * 3 and isinstance(row["metrics.cost_micros"], int)
    assert row["metrics.conversions"] == 1.0
    query = google.calls[0]["query"]
    assert "FROM ad_group_ad" in query and "segments.date BETWEEN '2026-03-07' AND '2026-03-08'" in query
    assert "segments.hour" in query and "metrics.cost_micros" in query


@pytest.mark.parametrize(
    "fault",
    [
        Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, after_batches=0),
        Fault(grpc.StatusCode.UNAVAILABLE, after_batches=3),
        Fault(grpc.StatusCode.INTERNAL, after_batches=1),
        Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, after_batches=4, quota=True),
    ],
    ids=["exhausted-first", "unavailable-mid-stream", "internal", "quota-failure-mid-stream"],
)
def test_fault_is_retried_and_partial_stream_discarded(google, customer, fake_clock, fault):
    google.faults = [fault]
    pull = resource(google, fake_clock).pull_hourly_rows(CID, "2026-03-07", "2026-03-08")
    assert keys(pull.rows) == expected(customer, "2026-03-07", "2026-03-08")  # no batch counted twice
    assert pull.retries_made == 1 and pull.requests_made == 2
    assert len(fake_clock.sleeps) == 1 and 0.5 <= fake_clock.sleeps[0] <= 1.0


def test_quota_retry_delay_is_respected(google, customer, fake_clock):
    google.faults = [Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, quota=True, retry_delay_s=45)]
    pull = resource(google, fake_clock).pull_hourly_rows(CID, "2026-03-08", "2026-03-08")
    assert len(pull.rows) == 48
    assert fake_clock.sleeps == [45.0]


def test_quota_error_with_other_status_is_retried(google, customer, fake_clock):
    # A GoogleAdsFailure with a quota error arrives as GoogleAdsException, not ResourceExhausted.
    google.faults = [Fault(grpc.StatusCode.FAILED_PRECONDITION, quota=True)]
    pull = resource(google, fake_clock).pull_hourly_rows(CID, "2026-03-08", "2026-03-08")
    assert len(pull.rows) == 48 and pull.retries_made == 1


def test_deadline_is_retried(google, customer, fake_clock):
    google.faults = [delay(3.0)]  # margins for a loaded CI machine: 1 s deadline, 3 s delay
    pull = resource(google, fake_clock, request_timeout_s=1.0).pull_hourly_rows(CID, "2026-03-08", "2026-03-08")
    assert len(pull.rows) == 48 and pull.retries_made == 1


def test_persistent_exhaustion_raises_naming_customer_day_and_error(google, customer, fake_clock):
    google.faults = [Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, after_batches=2) for _ in range(10)]
    with pytest.raises(AdsPullError) as err:
        resource(google, fake_clock).hourly_rows(CID, "2026-03-08", "2026-03-08")
    msg = str(err.value)
    assert msg.startswith("Google Ads pull for account 1234567890 day 2026-03-08 failed after 4 attempt(s)")
    assert "RESOURCE_EXHAUSTED" in msg
    assert len(fake_clock.sleeps) == 3
    for k, s in enumerate(fake_clock.sleeps):
        assert 0.5 * 2**k <= s <= 2**k


def test_persistent_quota_failure_names_the_quota_error(google, customer, fake_clock):
    google.faults = [Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, quota=True) for _ in range(10)]
    with pytest.raises(AdsPullError, match=r"days 2026-03-07..2026-03-09 .*RESOURCE_TEMPORARILY_EXHAUSTED"):
        resource(google, fake_clock, max_retries=2).hourly_rows(CID, "2026-03-07", "2026-03-09")


def test_permission_error_is_not_retried(google, customer, fake_clock):
    with pytest.raises(AdsPullError, match=r"account 9999999999 .*failed after 1 attempt\(s\): PERMISSION_DENIED"):
        resource(google, fake_clock).hourly_rows("999-999-9999", "2026-03-08", "2026-03-08")
    assert fake_clock.sleeps == []


def test_production_path_get_service_with_patched_channel(google, customer, fake_clock, monkeypatch):
    """The TLS path (GoogleAdsClient.get_service) end to end; only channel creation is patched, in the test."""
    from google.ads.googleads.v26.services.services.google_ads_service.transports.grpc import (
        GoogleAdsServiceGrpcTransport,
    )

    monkeypatch.setattr(
        GoogleAdsServiceGrpcTransport, "create_channel",
        classmethod(lambda cls, host="", credentials=None, **kw: grpc.insecure_channel(host, options=kw.get("options"))),
    )
    res = resource(google, fake_clock, insecure_endpoint=False, client_id="cid", client_secret="secret",
                   refresh_token="refresh")
    assert len(res.hourly_rows(CID, "2026-03-08", "2026-03-08")) == 48
    assert google.calls[-1]["metadata"]["developer-token"] == "dev-token"


def test_configuration_errors(google, fake_clock):
    with pytest.raises(ValueError, match="only allowed for loopback"):
        resource(google, fake_clock, endpoint="googleads.example.com:443").customers()
    with pytest.raises(ValueError, match="needs client_id, client_secret and refresh_token"):
        resource(google, fake_clock, insecure_endpoint=False).customers()
    with pytest.raises(ValueError, match="must be 10 digits"):
        resource(google, fake_clock, customer_ids=["12ab"]).customer_id_list()
    assert resource(google, fake_clock, customer_ids=["123-456-7890, 2223334444"]).customer_id_list() == [
        "1234567890", "2223334444"]
