"""Fixtures for the revenue tests: a throwaway PostgreSQL server holding the sample world's app db."""

from __future__ import annotations

import os

import pytest

from adperf_assets_tests.revenue import pg_server


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server on 127.0.0.1 (random port), removed after the session.

    Without the server binaries this skips locally, but fails under ``CI=true``: CI installs
    Debian's ``postgresql`` package, so a missing initdb there is a broken CI, not a reason to skip.
    """
    if pg_server.find_bin_dir() is None:
        reason = ("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH); "
                  "install Debian's 'postgresql' package to run the PostgreSQL tests")
        if _in_ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    server = pg_server.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_app_db(postgres, small_world) -> pg_server.PgServer:
    """The server with database ``app`` holding the small world's users and payments."""
    pg_server.load_app_db(postgres, small_world / "app.db")
    return postgres
