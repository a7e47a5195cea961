"""Fixtures for the scale tests: one Spark session per test session, a throwaway PostgreSQL."""

from __future__ import annotations

import os
import shutil

import pytest

from adperf_assets_tests.revenue import pg_server


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _missing(reason: str) -> None:
    """Skip locally; under CI=true a missing tool is a broken CI (it installs them), so fail."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_resource():
    """A ``SparkResource`` on ``local[2]`` whose session is started once and stopped at the end."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing("pyspark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _missing("no Java runtime (install Debian's default-jre-headless)")
    from adperf_assets.defs.revenue.spark import SparkResource

    res = SparkResource(master="local[2]", app_name="adperf-tests",
                        conf={"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"})
    session = res.get_session()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield res
    finally:
        session.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server on 127.0.0.1 (random port, scram password), removed at the end."""
    if pg_server.find_bin_dir() is None:
        _missing("PostgreSQL server binaries not found (install Debian's 'postgresql' package)")
    server = pg_server.start_server()
    try:
        yield server
    finally:
        server.stop()
