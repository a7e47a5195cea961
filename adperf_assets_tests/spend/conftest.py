"""Fixtures for the spend tests: a fake clock and the loopback fake ad APIs."""

from __future__ import annotations

import pytest

from adperf_assets_tests.spend.fake_google_ads import FakeGoogleAds
from adperf_assets_tests.spend.fake_graph import FakeGraph


class FakeClock:
    """Injected sleep/clock: time only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def graph_server():
    server = FakeGraph().start()
    yield server
    server.stop()


@pytest.fixture
def graph(graph_server):
    """The module's fake Graph API, emptied for each test."""
    graph_server.accounts.clear()
    graph_server.rows.clear()
    graph_server.usage_headers.clear()
    graph_server.faults.clear()
    graph_server.requests.clear()
    graph_server.jobs.clear()
    graph_server.job_outcomes.clear()
    graph_server.job_polls_until_done = 2
    return graph_server


@pytest.fixture(scope="module")
def google_server():
    server = FakeGoogleAds([]).start()
    yield server
    server.stop()


@pytest.fixture
def google(google_server):
    google_server.customers.clear()
    google_server.faults.clear()
    google_server.calls.clear()
    google_server.batch_size = 5
    return google_server
