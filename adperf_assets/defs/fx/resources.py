"""ECB reference rates: the real file from the ECB, or the sample world's copy."""

from __future__ import annotations

import pandas as pd
import requests

import dagster as dg
from pydantic import Field

from adperf_assets.normalize.fx import read_ecb_history
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout

ECB_HIST_ZIP = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"


class FxRatesSource(dg.ConfigurableResource):
    """Anything that yields the ECB history as ``rate_date, currency, eur_rate``."""

    def history(self) -> pd.DataFrame:
        raise NotImplementedError


class EcbFxRates(FxRatesSource):
    """Downloads ``eurofxref-hist.zip`` (all published days) and parses it."""

    url: str = Field(default=ECB_HIST_ZIP, description="ECB history zip (or a mirror of it).")
    timeout_s: float = 60.0
    retries: int = 3

    def history(self) -> pd.DataFrame:
        """Tidy ``rate_date, currency, eur_rate`` for every published day."""
        last: Exception | None = None
        for _ in range(max(1, self.retries)):
            try:
                resp = requests.get(self.url, timeout=self.timeout_s)
                resp.raise_for_status()
                return read_ecb_history(resp.content)
            except requests.RequestException as exc:
                last = exc
        raise RuntimeError(f"could not download ECB rates from {self.url}: {last}")


class SampleFxRates(FxRatesSource):
    """The sample world's ``fx/eurofxref-hist.csv``."""

    world: SampleWorld

    def history(self) -> pd.DataFrame:
        return read_ecb_history(layout.fx_file(self.world.root()))


def fx_resources(settings, world: SampleWorld) -> dict:
    """``fx``: the ECB's file when ``fx`` is real, else the sample world's."""
    return {"fx": EcbFxRates(url=settings.ecb_url or ECB_HIST_ZIP) if settings.is_real("fx")
            else SampleFxRates(world=world)}
