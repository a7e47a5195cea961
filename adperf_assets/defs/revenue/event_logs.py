"""Where the app's server logs are, and how much memory aggregating them may take.

Logs are Parquet files per UTC day. ``EventLogs(root=..., matches="matches/{day}.parquet")``
names them: ``{day}`` is the UTC date (YYYY-MM-DD) and the pattern may hold glob wildcards
(``matches/dt={day}/*.parquet``). A pattern without ``{day}`` (a glob or a folder) reads every
file it matches and relies on the time filter. The sample is the world's ``events/`` folder.
"""

from __future__ import annotations

import glob
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout


class MissingLogError(FileNotFoundError):
    """A UTC day that the requested window needs has no log file."""


def _utc_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class EventLogs(dg.ConfigurableResource):
    """Daily Parquet match logs under ``root`` and DuckDB's limits for reading them."""

    root: str = Field(description="Folder (or URL prefix DuckDB can read) holding the logs.")
    matches: str = Field(default="matches/{day}.parquet",
                         description="Match log files under root: '{day}' = UTC date; globs allowed.")
    duckdb_memory_limit: str = Field(default="1GB", description="DuckDB memory_limit while aggregating logs.")
    duckdb_threads: int = Field(default=2, description="DuckDB threads while aggregating logs.")
    request_lookback_s: int = Field(default=3600, description="A match's request precedes its start by at most this.")
    max_session_s: int = Field(default=6 * 3600, description="Sessions end at most this long after they start.")

    def root_dir(self) -> str:
        return self.root

    def _is_local(self) -> bool:
        return "://" not in self.root_dir()

    def _expand(self, pattern: str) -> list[str]:
        """Local paths the pattern matches (sorted); remote patterns are passed through as is."""
        if not self._is_local():
            return [pattern]
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*.parquet")
        if glob.has_magic(pattern):
            return sorted(glob.glob(pattern))
        return [pattern] if os.path.exists(pattern) else []

    def match_files(self, start_utc: datetime, end_utc: datetime) -> list[str]:
        """Match log files for sessions starting in ``[start_utc, end_utc)`` (naive UTC).

        Every UTC day the window overlaps must have a file (else ``MissingLogError``); the day
        before (requests up to ``request_lookback_s`` earlier) and after (sessions ending up to
        ``max_session_s`` later) are added when they exist.
        """
        base = f"{self.root_dir().rstrip('/')}/{self.matches}"
        if "{day}" not in self.matches:
            files = self._expand(base)
            if not files:
                raise MissingLogError(f"no match log files at {base}")
            return files
        last_instant = end_utc - timedelta(microseconds=1)
        core = _utc_days(start_utc.date(), last_instant.date())
        margin = _utc_days((start_utc - timedelta(seconds=self.request_lookback_s)).date(),
                           (last_instant + timedelta(seconds=self.max_session_s)).date())
        files: list[str] = []
        for day in margin:
            found = self._expand(base.format(day=day.isoformat()))
            if not found and day in core:
                raise MissingLogError(f"no match log for UTC day {day} at {base.format(day=day.isoformat())} "
                                      f"(needed for sessions starting {start_utc} .. {end_utc} UTC)")
            files.extend(found)
        return files


class SampleEventLogs(EventLogs):
    """The sample world's ``events/`` folder."""

    world: SampleWorld
    root: str = Field(default="", description="Unused: the world's events folder.")

    def root_dir(self) -> str:
        return str(Path(layout.events_dir(self.world.root(), "matches")).parent)
