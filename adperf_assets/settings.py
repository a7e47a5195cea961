"""Deployment settings read from the environment, in one place.

Everything that differs between a laptop running the embedded sample and production
(where data lives, the report's time zone and currency, which sources are real) is an
environment variable, so switching a source is configuration, never code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

# The sample world's fixed calendar: same seed and dates -> byte-identical files.
SAMPLE_START = date(2025, 6, 1)
SAMPLE_DAYS = 545  # to 2026-11-27: long enough for 365-day LTV back-tests

KNOWN_SOURCES = ("facebook", "google_ads", "fx", "payments", "mmp", "events", "slack")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    home: Path
    report_timezone: str
    report_currency: str
    start_date: date
    end_date: date | None
    real_sources: frozenset[str] = field(default_factory=frozenset)
    sample_seed: int = 7
    sample_days: int = SAMPLE_DAYS
    sample_installs_per_day: int = 150
    world_dir: Path | None = None  # default: $ADPERF_HOME/world

    @property
    def world_path(self) -> Path:
        return self.world_dir or self.home / "world"

    @property
    def duckdb_path(self) -> Path:
        return self.home / "adperf.duckdb"

    @property
    def cost_column(self) -> str:
        """Name of the money column in the reporting currency, e.g. ``cost_usd``."""
        return f"cost_{self.report_currency.lower()}"

    def is_real(self, source: str) -> bool:
        return source in self.real_sources


def load_settings() -> Settings:
    """Read ``ADPERF_*`` variables; defaults give the offline sample world."""
    real = frozenset(s.strip() for s in _env("ADPERF_REAL_SOURCES", "").split(",") if s.strip())
    unknown = real - set(KNOWN_SOURCES)
    if unknown:
        raise ValueError(
            f"ADPERF_REAL_SOURCES names unknown source(s) {sorted(unknown)}; known: {', '.join(KNOWN_SOURCES)}"
        )
    sample_days = int(_env("ADPERF_SAMPLE_DAYS", str(SAMPLE_DAYS)))
    start = date.fromisoformat(_env("ADPERF_START_DATE", SAMPLE_START.isoformat()))
    end_env = os.environ.get("ADPERF_END_DATE", "").strip()
    if end_env:
        end: date | None = date.fromisoformat(end_env)
    elif not real:
        # Pure sample mode: partitions stop where the sample world stops.
        end = start + timedelta(days=sample_days)
    else:
        end = None
    return Settings(
        home=Path(_env("ADPERF_HOME", ".adperf")).resolve(),
        report_timezone=_env("ADPERF_REPORT_TIMEZONE", "Asia/Seoul"),
        report_currency=_env("ADPERF_REPORT_CURRENCY", "USD").upper(),
        start_date=start,
        end_date=end,
        real_sources=real,
        sample_seed=int(_env("ADPERF_SAMPLE_SEED", "7")),
        sample_days=sample_days,
        sample_installs_per_day=int(_env("ADPERF_SAMPLE_INSTALLS_PER_DAY", "150")),
        world_dir=Path(os.environ["ADPERF_WORLD"]).resolve() if os.environ.get("ADPERF_WORLD") else None,
    )
