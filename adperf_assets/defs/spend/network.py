"""An ad network as a plug-in: what the spend assets, checks and schedules need to know of it.

A network module defines a :class:`SpendSource` (its client: accounts and a complete pull of its
own rows), a sample implementation of it, the plain mapping of its rows to the unified frame
(``adperf_assets.normalize.spend``) and one :class:`Network` that ties them together. Registered
once in :mod:`adperf_assets.defs.spend.registry`, it gets its ``raw/<name>_spend`` asset, its row
check, a place in ``ad_spend``, in the morning refresh and in the FX coverage check.
More: docs/networks.md."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from adperf_assets.defs.common.throttle import AdsPull, Governor

if TYPE_CHECKING:
    from adperf_assets.defs.common.world import SampleWorld
    from adperf_assets.settings import Settings


class SpendSource(dg.ConfigurableResource):
    """A network's client as the spend assets see it; the real API client and the sample implement it."""

    def accounts(self) -> list[dict]:
        """``[{"account_id", "name", "currency", "timezone_name"}]`` for every account to pull."""
        raise NotImplementedError

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        """Every row of the days ``since..until`` (account-local for hourly networks, report days for
        daily ones; ``account_id`` is None for a daily network's one pull), or :class:`AdsPullError`."""
        raise NotImplementedError


class GovernedClient(dg.ConfigurableResource):
    """A client of a throttled API (a network's pulls, acting on its ads): the pacing/retry policy every
    client shares, and an injectable clock so tests run the real retry logic without waiting."""

    min_request_interval_s: float = Field(default=0.5, description="Pacing: at least this long between calls.")
    max_retries: int = 6
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    max_wait_s: float = Field(default=900.0, description="Longest single wait (backoff or usage pause).")

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _clock: Callable[[], float] = PrivateAttr(default=time.monotonic)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def with_clock(self, sleep: Callable[[float], None], clock: Callable[[], float] | None = None, seed: int = 0):
        """Inject sleep/clock (tests); returns self."""
        self._sleep = sleep
        if clock is not None:
            self._clock = clock
        self._rng = random.Random(seed)
        return self

    def governor(self, is_retryable: Callable[[BaseException], bool],
                 retry_after: Callable[[BaseException], float | None]) -> Governor:
        """A fresh governor (counts start at zero) with this source's policy and the network's classifier."""
        return Governor(
            is_retryable=is_retryable,
            retry_after=retry_after,
            max_retries=self.max_retries,
            base_backoff_s=self.backoff_base_s,
            max_backoff_s=self.backoff_max_s,
            max_wait_s=self.max_wait_s,
            min_interval_s=self.min_request_interval_s,
            sleep=self._sleep,
            clock=self._clock,
            rng=self._rng,
        )


class GovernedSource(GovernedClient, SpendSource):
    """A spend source behind a throttled API."""


def as_date(value: date | str) -> date:
    """A ``date`` from a date, a datetime or an ISO string (pull arguments come as either)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass(frozen=True)
class Network:
    """One registered network. ``name`` is its value in ``ad_spend.network``, its entry in
    ``ADPERF_REAL_SOURCES`` and the ``<name>_spend`` in its asset key."""

    name: str
    #: how messages name it ("Facebook")
    label: str
    #: the resource key of its :class:`SpendSource`
    resource_key: str
    #: the real client, wired from the environment (secrets as ``dg.EnvVar``)
    real: Callable[[Settings], SpendSource]
    #: the sample implementation (on the sample world)
    sample: Callable[[SampleWorld, Settings], SpendSource]
    #: the network's rows (and its accounts) -> the unified hourly frame (``granularity="hourly"``)
    #: or daily frame (``"daily"``) of :mod:`adperf_assets.normalize.spend`; plain code
    to_frame: Callable[[list[dict], list[dict]], pd.DataFrame]
    #: the asset's description
    description: str
    #: hourly rows in each account's time zone (re-bucketed into report days), or rows already per
    #: report day (a file import): then one pull covers every account
    granularity: Literal["hourly", "daily"] = "hourly"
    #: environment variables of the real client (README's sources table)
    env_vars: tuple[str, ...] = field(default=())

    @property
    def asset_name(self) -> str:
        return f"{self.name}_spend"

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.asset_name])

    def resource(self, settings: Settings, world: SampleWorld) -> SpendSource:
        """The real client when ``ADPERF_REAL_SOURCES`` names this network, else the sample."""
        return self.real(settings) if settings.is_real(self.name) else self.sample(world, settings)
