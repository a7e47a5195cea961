"""Shared fixtures: sample worlds generated once per test session (per xdist worker)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from adperf_assets.settings import Settings, load_settings

SMALL = {"days": 75, "installs_per_day": 60}


def settings_for(home: Path, **world) -> Settings:
    """Settings with ``ADPERF_HOME=home`` and a sample world of the given size."""
    base = load_settings()
    return dataclasses.replace(
        base,
        home=home,
        sample_days=world.get("days", base.sample_days),
        sample_installs_per_day=world.get("installs_per_day", base.sample_installs_per_day),
    )


@pytest.fixture(scope="session")
def small_settings(tmp_path_factory) -> Settings:
    """A 75-day, ~4.5k-user world (a few seconds to generate), shared read-only by the session."""
    from adperf_assets.defs.resources import sample_world

    s = settings_for(tmp_path_factory.mktemp("adperf_small"), **SMALL)
    sample_world(s).root()
    return s


@pytest.fixture(scope="session")
def small_world(small_settings) -> Path:
    return small_settings.world_path


@pytest.fixture
def fresh_home(tmp_path, small_settings) -> Settings:
    """A new ADPERF_HOME (empty DuckDB) that reuses the session's small world."""
    return dataclasses.replace(small_settings, home=tmp_path, world_dir=small_settings.world_path)
