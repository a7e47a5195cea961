"""The report's inputs materialized once per session on the small world (one single-run backfill
of every source asset with its checks), on a Dagster instance kept for the session."""

import dataclasses
import shutil

import dagster as dg
import pytest

from adperf_assets.defs.resources import build_resources
from adperf_assets_tests.report import runs

FIRST, LAST = "2025-06-15", "2025-07-12"
REPORT_DAYS = ["2025-07-10", "2025-07-11", "2025-07-12"]


@pytest.fixture(scope="session")
def report_instance(tmp_path_factory):
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("report_dagster"))) as instance:
        yield instance


@pytest.fixture(scope="session")
def report_sources(small_settings, tmp_path_factory, report_instance):
    """Settings of a home whose DuckDB holds every source table for FIRST..LAST (do not write to it)."""
    s = dataclasses.replace(small_settings, home=tmp_path_factory.mktemp("report_sources"),
                            world_dir=small_settings.world_path)
    result = runs.materialize(runs.SOURCES, build_resources(s), FIRST, LAST, instance=report_instance)
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed and c.severity.value == "ERROR"]
    assert not failed, failed
    return s


@pytest.fixture
def report_home(report_sources, tmp_path):
    """A writable copy of the sources' home."""
    s = dataclasses.replace(report_sources, home=tmp_path / "home")
    s.home.mkdir()
    shutil.copy(report_sources.duckdb_path, s.duckdb_path)
    return s
