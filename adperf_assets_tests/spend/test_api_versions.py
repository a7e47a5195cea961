"""Each network's API version follows its SDK: a default that falls behind what the installed SDK
ships fails here (old Graph / Google Ads versions are retired), and one setting pins another."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import google.ads.googleads.client as google_client
from facebook_business.api import FacebookAdsApi
from facebook_business.apiconfig import ads_api_config

from adperf_assets.defs.spend.facebook import FacebookAdsResource
from adperf_assets.defs.spend.google_ads import GoogleAdsResource
from adperf_assets.defs.spend.registry import network
from adperf_assets.settings import load_settings


def _number(version: str) -> float:
    return float(version.lstrip("v"))


def test_facebook_default_is_the_graph_version_the_sdk_ships():
    default = FacebookAdsResource.model_fields["api_version"].default
    assert default == ads_api_config["API_VERSION"] == FacebookAdsApi.API_VERSION
    assert _number(default) >= _number(FacebookAdsApi.API_VERSION)


def test_google_ads_default_is_the_newest_version_the_sdk_ships():
    default = GoogleAdsResource.model_fields["api_version"].default
    assert default == google_client._DEFAULT_VERSION  # what GoogleAdsClient uses when none is given
    shipped = [v for v in google_client._VALID_API_VERSIONS]
    assert _number(default) == max(_number(v) for v in shipped)
    importlib.import_module(f"google.ads.googleads.{default}.services.services.google_ads_service")


def test_one_setting_pins_a_version_for_the_real_client(monkeypatch, tmp_path):
    monkeypatch.setenv("ADPERF_HOME", str(tmp_path))
    monkeypatch.setenv("ADPERF_FACEBOOK_API_VERSION", "v25.0")
    monkeypatch.setenv("ADPERF_GOOGLE_ADS_API_VERSION", "v25")
    s = dataclasses.replace(load_settings(), real_sources=frozenset({"facebook", "google_ads"}))
    assert network("facebook").real(s).api_version == "v25.0"
    assert network("google_ads").real(s).api_version == "v25"
    monkeypatch.delenv("ADPERF_FACEBOOK_API_VERSION")
    monkeypatch.delenv("ADPERF_GOOGLE_ADS_API_VERSION")
    s = dataclasses.replace(load_settings(), real_sources=frozenset({"facebook", "google_ads"}))
    assert network("facebook").real(s).api_version == ads_api_config["API_VERSION"]
    assert network("google_ads").real(s).api_version == google_client._DEFAULT_VERSION


def test_tiktok_default_is_the_marketing_api_version_the_sdk_calls():
    import business_api_client.api.reporting_api as reporting

    from adperf_assets.defs.spend.tiktok import TikTokAdsResource

    default = TikTokAdsResource.model_fields["api_version"].default
    shipped = set(re.findall(r"/open_api/(v[\d.]+)/report/integrated/get/", Path(reporting.__file__).read_text()))
    assert shipped and default == max(shipped, key=_number)
