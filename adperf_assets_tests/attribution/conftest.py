"""Fixtures for the attribution tests: the loopback fake AppsFlyer and synthetic vendor rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets_tests.attribution.fake_appsflyer import FakeAppsFlyer

AF_COLUMNS = ["Attributed Touch Type", "Attributed Touch Time", "Install Time", "Event Time", "Event Name",
              "Media Source", "Campaign", "Campaign ID", "Adset", "Adset ID", "Ad", "Ad ID", "Country Code",
              "AppsFlyer ID", "Customer User ID", "Platform", "App ID", "Is Retargeting", "Is Reinstall"]


def af_rows(n: int, start: str, step_s: int, first_user: int = 500001, media_source: str = "Facebook Ads",
            platform: str = "android") -> pd.DataFrame:
    """``n`` AppsFlyer install rows ``step_s`` seconds apart from ``start`` (UTC)."""
    t = pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * step_s, unit="s")
    ts = t.strftime("%Y-%m-%d %H:%M:%S")
    organic = media_source == "organic"
    return pd.DataFrame({
        "Attributed Touch Type": "" if organic else "click", "Attributed Touch Time": "", "Install Time": ts,
        "Event Time": ts, "Event Name": "install", "Media Source": media_source,
        "Campaign": "" if organic else "C", "Campaign ID": "" if organic else "111",
        "Adset": "" if organic else "G", "Adset ID": "" if organic else "222",
        "Ad": "" if organic else "A", "Ad ID": "" if organic else "333", "Country Code": "US",
        "AppsFlyer ID": [f"{i}-x" for i in range(n)],
        "Customer User ID": [str(first_user + i) for i in range(n)], "Platform": platform,
        "App ID": "com.matcha.app" if platform == "android" else "id1500000001",
        "Is Retargeting": "false", "Is Reinstall": "false",
    })[AF_COLUMNS]


@pytest.fixture(scope="module")
def af_server():
    server = FakeAppsFlyer().start()
    yield server
    server.stop()


@pytest.fixture
def af(af_server):
    """The module's fake AppsFlyer, emptied for each test."""
    af_server.reset()
    return af_server
