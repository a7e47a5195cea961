"""Spend's resources: each network's real client when named in ``ADPERF_REAL_SOURCES``, else its sample."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.facebook import FacebookAdsResource
from adperf_assets.defs.spend.google_ads import GoogleAdsResource
from adperf_assets.defs.spend.sample_ads import SampleFacebookAds, SampleGoogleAds
from adperf_assets.settings import Settings


def spend_resources(settings: Settings, world: SampleWorld) -> dict:
    return {
        "facebook_ads": FacebookAdsResource(
            access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"), account_ids=[dg.EnvVar("FACEBOOK_ACCOUNT_IDS")],
        ) if settings.is_real("facebook") else SampleFacebookAds(world=world),
        "google_ads": GoogleAdsResource(
            developer_token=dg.EnvVar("GOOGLE_ADS_DEVELOPER_TOKEN"),
            client_id=dg.EnvVar("GOOGLE_ADS_CLIENT_ID"),
            client_secret=dg.EnvVar("GOOGLE_ADS_CLIENT_SECRET"),
            refresh_token=dg.EnvVar("GOOGLE_ADS_REFRESH_TOKEN"),
            login_customer_id=dg.EnvVar("GOOGLE_ADS_LOGIN_CUSTOMER_ID"),
            customer_ids=[dg.EnvVar("GOOGLE_ADS_CUSTOMER_IDS")],
        ) if settings.is_real("google_ads") else SampleGoogleAds(world=world),
    }
