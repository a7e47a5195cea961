"""The networks to act on: each network's real SDK client when ``<network>_actions`` is named in
``ADPERF_REAL_SOURCES`` (acting is opted into apart from reading), else the sample network state."""

from __future__ import annotations

from adperf_assets.defs.actions.networks import SampleAdActions
from adperf_assets.settings import Settings


def action_resources(settings: Settings) -> dict:
    state = settings.home / "actions"
    return {
        "facebook_actions": SampleAdActions(network_name="facebook", state_file=str(state / "facebook.json")),
        "google_ads_actions": SampleAdActions(network_name="google_ads", state_file=str(state / "google_ads.json")),
    }
