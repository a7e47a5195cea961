"""The sample world's time grid: report days in the report time zone and the UTC hours they span.

Everything the world simulates happens on this grid; see docs/sample_world.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from adperf_assets.sample.config import WorldConfig

HOUR = 3600


@dataclass(frozen=True)
class Calendar:
    day_start: np.ndarray  # UTC epoch seconds at which report day i starts, i = 0..days (the last: the world's end)
    hour_utc: np.ndarray  # UTC epoch seconds of every hour of the grid
    dates: tuple[date, ...]  # report day i's date, i = 0..days

    @classmethod
    def of(cls, cfg: WorldConfig) -> Calendar:
        starts = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.days + 1, freq="D").tz_localize(cfg.report_timezone)
        day_start = (starts.tz_convert("UTC").asi8 // 10**9).astype(np.int64)
        t0 = int(day_start[0])
        n_hours = int((day_start[-1] - t0) // HOUR)
        return cls(day_start=day_start, hour_utc=t0 + HOUR * np.arange(n_hours, dtype=np.int64),
                   dates=tuple(cfg.start + timedelta(days=i) for i in range(cfg.days + 1)))

    @property
    def n_hours(self) -> int:
        return len(self.hour_utc)

    def day_index(self, epoch_s: np.ndarray) -> np.ndarray:
        """Report day of each instant (-1 before the world, ``days`` after it)."""
        return np.searchsorted(self.day_start, epoch_s, side="right") - 1

    def timestamps(self, day_index) -> pd.DatetimeIndex:
        """The dates of report days ``day_index`` as timestamps (the truth tables' date columns)."""
        return pd.to_datetime([self.dates[d] for d in day_index])
