"""Fixtures for the revenue tests: a throwaway PostgreSQL server holding the sample world's app db."""

from __future__ import annotations

import os

import pytest

from adperf_assets_tests.revenue import pg_server


def require_postgres_binaries(find=pg_server.find_bin_dir, env=os.environ):
    """The server binaries' folder; without them skip locally, but fail under ``CI=true``: CI
    installs Debian's ``postgresql`` package, so a missing initdb there is a broken CI, not a skip."""
    found = find()
    if found is None:
        reason = ("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH); "
                  "install Debian's 'postgresql' package to run the PostgreSQL tests")
        if env.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server on 127.0.0.1 (random port), removed after the session."""
    require_postgres_binaries()
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
