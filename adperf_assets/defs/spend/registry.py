"""THE list of ad networks: registering a network here is all it takes for the spend assets, their
checks, the morning refresh and the report to pick it up (docs/networks.md)."""

from __future__ import annotations

from adperf_assets.defs.spend import apple_ads, cost_import, facebook, google_ads, tiktok
from adperf_assets.defs.spend.network import Network

NETWORKS: tuple[Network, ...] = (
    facebook.NETWORK,
    google_ads.NETWORK,
    tiktok.NETWORK,
    apple_ads.NETWORK,
    cost_import.NETWORK,
)


def network(name: str) -> Network:
    """The registered network called ``name`` (its ``ad_spend.network`` value)."""
    for n in NETWORKS:
        if n.name == name:
            return n
    raise KeyError(f"no registered network {name!r}; registered: {', '.join(n.name for n in NETWORKS)}")
