"""Google Ads' SKAN rows through the real google-ads SDK against the loopback fake, and the sample's."""

from datetime import date

import dagster as dg
import grpc
import pandas as pd
import pytest

from adperf_assets.defs.common.io_manager import AdperfDuckDBIOManager
from adperf_assets.defs.common.throttle import AdsPullError
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.skan.assets import google_ads_skan
from adperf_assets.defs.skan.google_ads_skan import GoogleAdsSkanApi, SampleGoogleAdsSkan, skan_frame
from adperf_assets_tests.spend.fake_google_ads import FakeCustomer, FakeGoogleAds, Fault

from .test_postbacks import WORLD

CID = "1234567890"
DAYS = (date(2025, 6, 20), date(2025, 6, 22))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return SampleGoogleAdsSkan(world=SampleWorld(path=str(tmp_path_factory.mktemp("gskan") / "w"), **WORLD))


@pytest.fixture(scope="module")
def fake(sample):
    server = FakeGoogleAds([FakeCustomer(CID, "Matcha KR", "KRW", "Asia/Seoul")], batch_size=7).start()
    server.customers[CID].skan_rows = sample.skan_rows(CID, date(2025, 6, 1), date(2025, 7, 10))
    yield server
    server.stop()


def _api(fake):
    return GoogleAdsSkanApi(developer_token="dev-token", customer_ids=[CID], endpoint=fake.endpoint,
                            insecure_endpoint=True, min_request_interval_s=0.0, max_retries=2, backoff_base_s=0.0,
                            backoff_max_s=0.0, request_timeout_s=5.0)


def test_the_sdk_reads_what_the_sample_holds(fake, sample):
    want = sample.skan_rows(CID, *DAYS)
    got = _api(fake).skan_rows(CID, *DAYS)
    assert len(got) == len(want) > 10
    assert "FROM campaign" in fake.calls[-1]["query"] and "sk_ad_network_fine_conversion_value" in fake.calls[-1]["query"]
    key = lambda r: tuple(str(r.get(k)) for k in sorted(r))  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want))
    # a NULL fine value stays NULL (absent), not 0
    assert any("segments.sk_ad_network_fine_conversion_value" not in r for r in got)
    t = skan_frame(got)
    assert t["fine_conversion_value"].isna().any() and t["fine_conversion_value"].dropna().between(0, 63).all()
    assert set(t["coarse_conversion_value"]) <= {"", "low", "medium", "high"}
    assert t["installs"].sum() == t.loc[(t["postback_sequence_index"] == 0) & (t["attribution_credit"] == "WON"),
                                        "conversions"].sum()


def test_transient_errors_are_retried_then_reported(fake):
    fake.faults.append(Fault(grpc.StatusCode.UNAVAILABLE, customer_id=CID))
    assert len(_api(fake).skan_rows(CID, *DAYS)) > 0
    fake.faults.extend(Fault(grpc.StatusCode.UNAVAILABLE, customer_id=CID) for _ in range(3))
    with pytest.raises(AdsPullError, match="Google Ads SKAN"):
        _api(fake).skan_rows(CID, *DAYS)
    fake.faults.clear()


def test_asset_on_the_sample(sample, tmp_path):
    with dg.instance_for_test() as inst:
        r = dg.materialize([google_ads_skan], partition_key="2025-06-21", instance=inst,
                           resources={"google_ads_skan_source": sample,
                                      "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / "t.duckdb"))})
    t = r.output_for_node("google_ads_skan")
    assert r.success and len(t) > 0 and (t["report_date"] == pd.Timestamp("2025-06-21")).all()
    assert (t["account_id"] == CID).all()
