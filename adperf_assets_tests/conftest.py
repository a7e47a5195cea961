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


# ------------------------------------------------------------------ the report's inputs (report, actions)
@pytest.fixture(scope="session")
def report_instance(tmp_path_factory):
    import dagster as dg

    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("report_dagster"))) as instance:
        yield instance


@pytest.fixture(scope="session")
def report_sources(small_settings, tmp_path_factory, report_instance):
    """Settings of a home whose DuckDB holds every source table for FIRST..LAST (do not write to it):
    one single-run backfill of every source asset with its checks, on the small world."""
    from adperf_assets.defs.resources import build_resources
    from adperf_assets_tests.report import runs

    s = dataclasses.replace(small_settings, home=tmp_path_factory.mktemp("report_sources"),
                            world_dir=small_settings.world_path)
    result = runs.materialize(runs.SOURCES, build_resources(s), runs.FIRST, runs.LAST, instance=report_instance)
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed and c.severity.value == "ERROR"]
    assert not failed, failed
    return s


@pytest.fixture
def report_home(report_sources, tmp_path):
    """A writable copy of the sources' home."""
    import shutil

    s = dataclasses.replace(report_sources, home=tmp_path / "home")
    s.home.mkdir()
    shutil.copy(report_sources.duckdb_path, s.duckdb_path)
    return s
