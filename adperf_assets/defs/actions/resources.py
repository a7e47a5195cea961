"""The networks to act on: each network's real SDK client when ``<network>_actions`` is named in
``ADPERF_REAL_SOURCES`` (acting is opted into apart from reading: the token needs write access), else
the sample network state under ``ADPERF_HOME/actions`` (``ADPERF_SAMPLE_STATE_DIR`` instead: a
network is outside, so steps on separate machines must see the same one)."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.actions.facebook_actions import FacebookAdActions
from adperf_assets.defs.actions.google_ads_actions import GoogleAdsAdActions
from adperf_assets.defs.actions.networks import SampleAdActions
from adperf_assets.defs.spend.google_ads import real_connection
from adperf_assets.settings import Settings


def action_resources(settings: Settings) -> dict:
    state = settings.sample_state_path / "actions"
    return {
        "facebook_actions": FacebookAdActions(access_token=dg.EnvVar("FACEBOOK_ACTIONS_ACCESS_TOKEN"))
        if settings.is_real("facebook_actions")
        else SampleAdActions(network_name="facebook", state_file=str(state / "facebook.json")),
        "google_ads_actions": GoogleAdsAdActions(**real_connection(settings, customers=False))
        if settings.is_real("google_ads_actions")
        else SampleAdActions(network_name="google_ads", state_file=str(state / "google_ads.json")),
    }
