"""Spend's resources: each registered network's real client when named in ``ADPERF_REAL_SOURCES``, else its sample."""

from __future__ import annotations

from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.settings import Settings


def spend_resources(settings: Settings, world: SampleWorld) -> dict:
    return {n.resource_key: n.resource(settings, world) for n in NETWORKS}
