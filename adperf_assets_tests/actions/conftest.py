"""Fixtures for the network action tests: the spend tests' fake clock (time moves only when the code
under test sleeps)."""

from __future__ import annotations

import pytest

from adperf_assets_tests.spend.conftest import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
