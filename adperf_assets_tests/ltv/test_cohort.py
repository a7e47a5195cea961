"""Cohort LTV: recovers a known population's LTV, works from 7 days, refuses bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.cohort import COLUMNS, arpu_moving_average, cohort_ltv, daily_retention_ratio, geometric_ltv
from adperf_assets.ltv.retention import BlendedRetention, fit_many

from .sbg_world import SbgWorld

# Measured on this simulation (seed 20260101, 200 cohorts of 1,000 users active every alive day, true
# 180-day LTV 3.87), curve from day 1 (install_day.py): from 14 days MAPE 0.145, 99%-interval coverage
# 0.975; from 7 days MAPE 0.205, coverage 0.960; geometric baseline 0.617 / 0.754. Over seeds 1-4:
# 14-day MAPE 0.129-0.146, coverage 0.95-0.985; 7-day 0.213-0.222. The curve through day 0 (start_day=0,
# before issue 16) did 0.125 / 0.185 here -- where every alive day is active the install day's fall is
# churn and informs the fit -- and 0.29 / 0.51 at activity 0.5 (test_cohort_intermittent.py).
MAPE_14_DAYS_BOUND = 0.16
MAPE_7_DAYS_BOUND = 0.23


@pytest.fixture(scope="module")
def population():
    world = SbgWorld()
    rng = np.random.default_rng(20260101)
    cohorts = [world.cohort(rng, 1000, 14) for _ in range(200)]
    active = np.array([c[0] for c in cohorts])
    revenue = np.array([c[1] for c in cohorts])
    return world, active, revenue


def estimates(population, days: int, horizon: int = 180):
    _, active, revenue = population
    rate = active[:, :days] / 1000
    arpu = revenue[:, :days] / active[:, :days]
    fits = fit_many(rate, np.full(len(rate), 1000))
    rows = [cohort_ltv(arpu[k], rate[k], 1000, horizons=(horizon,), retention=fits.blended(k)).iloc[0]
            for k in range(len(rate))]
    geo = [geometric_ltv(arpu[k], rate[k], horizons=(horizon,)).iloc[0] for k in range(len(rate))]
    return pd.DataFrame(rows), pd.DataFrame(geo)


def test_recovers_true_ltv_within_its_interval(population):
    world = population[0]
    truth = world.true_ltv(180)
    est14, geo14 = estimates(population, 14)
    coverage = ((est14["lower"] <= truth) & (truth <= est14["upper"])).mean()
    mape14 = (est14["ltv"] / truth - 1).abs().mean()
    assert coverage >= 0.9, coverage
    assert mape14 < MAPE_14_DAYS_BOUND, mape14
    assert (geo14["ltv"] / truth - 1).abs().mean() > 2 * mape14  # the seed's point: the baseline is far off
    est7, _ = estimates(population, 7)
    assert ((est7["lower"] <= truth) & (truth <= est7["upper"])).mean() >= 0.9
    assert (est7["ltv"] / truth - 1).abs().mean() < MAPE_7_DAYS_BOUND


def test_works_with_exactly_seven_days(population):
    _, active, revenue = population
    rate, arpu = active[0, :7] / 1000, revenue[0, :7] / active[0, :7]
    out = cohort_ltv(arpu, rate, 1000)
    assert list(out.columns) == COLUMNS
    assert out["horizon"].tolist() == [30, 90, 180, 365]
    assert np.isfinite(out.to_numpy(float)).all()
    assert ((out["lower"] <= out["ltv"]) & (out["ltv"] <= out["upper"])).all()
    assert (np.diff(out["ltv"]) > 0).all()
    np.testing.assert_allclose(out["ltv"], out["arpu"] * out["active_days"])
    assert out["arpu"].iloc[0] == pytest.approx(arpu.mean())  # fewer days than the window: all of them


def test_prefitted_retention_gives_the_same_answer(population):
    _, active, revenue = population
    rate, arpu = active[3, :10] / 1000, revenue[3, :10] / active[3, :10]
    direct = cohort_ltv(arpu, rate, 1000)
    fits = fit_many(rate[None, :], [1000])
    via_batch = cohort_ltv(arpu, rate, 1000, retention=fits.blended(0))
    pd.testing.assert_frame_equal(direct, via_batch, rtol=1e-5)


def test_interval_follows_confidence_and_variance_choice(population):
    _, active, revenue = population
    rate, arpu = active[1, :14] / 1000, revenue[1, :14] / active[1, :14]
    fit = BlendedRetention().fit(rate, 1000)
    wide = cohort_ltv(arpu, rate, 1000, confidence=0.99, retention=fit)
    narrow = cohort_ltv(arpu, rate, 1000, confidence=0.80, retention=fit)
    assert (narrow["upper"] < wide["upper"]).all() and (narrow["ltv"] == wide["ltv"]).all()
    ind = cohort_ltv(arpu, rate, 1000, variance="independent")
    assert (ind["ltv_se"] <= wide["ltv_se"] + 1e-12).all()
    # the delta-method product rule, with z = 2.5758 at 99%
    se = np.sqrt(wide.active_days**2 * wide.arpu_se**2 + wide.arpu**2 * wide.active_days_se**2
                 + wide.arpu_se**2 * wide.active_days_se**2)
    np.testing.assert_allclose(wide["ltv_se"], se)
    np.testing.assert_allclose(wide["upper"], wide["ltv"] + 2.5758293 * se, rtol=1e-6)


def test_arpu_moving_average_window_and_weights():
    daily = np.array([9.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert arpu_moving_average(daily, window=7) == pytest.approx((7.0, np.std(daily[-7:], ddof=1) / np.sqrt(7)))
    mean, _ = arpu_moving_average(daily, window=3, active_users=np.r_[np.ones(8), [1, 1, 2]])
    assert mean == pytest.approx((8 + 9 + 20) / 4)
    with pytest.raises(ValueError, match="negative"):
        arpu_moving_average([1.0, -3.0, -2.0], window=7)


def test_geometric_baseline_on_an_exact_geometric_curve():
    rate = 0.8 ** np.arange(10)
    ratio, ratio_se = daily_retention_ratio(rate)
    assert ratio == pytest.approx(0.8) and ratio_se == pytest.approx(0.0, abs=1e-12)
    out = geometric_ltv(np.full(10, 2.0), rate, horizons=(30, 365))
    assert list(out.columns) == COLUMNS
    np.testing.assert_allclose(out["ltv"], 2.0 * (1 - 0.8 ** np.array([30, 365])) / 0.2)
    assert out["ltv"].iloc[1] == pytest.approx(2.0 / (1 - 0.8), rel=1e-9)  # -> ARPU / (1 - r)


GOOD_RATE = [1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27]
GOOD_ARPU = [0.3, 0.2, 0.25, 0.2, 0.3, 0.1, 0.2]


@pytest.mark.parametrize(
    "arpu, rate, size, kwargs, message",
    [
        (GOOD_ARPU[:6], GOOD_RATE[:6], 100, {}, "only 6 observed days; the estimate needs at least 7"),
        ([np.nan] + GOOD_ARPU[1:], GOOD_RATE, 100, {}, r"daily_arpu\[0\] is nan"),
        (GOOD_ARPU, GOOD_RATE[:3] + [np.nan] + GOOD_RATE[4:], 100, {}, r"access_rate\[3\] is nan"),
        (GOOD_ARPU, GOOD_RATE[:3] + [-0.2] + GOOD_RATE[4:], 100, {}, r"access_rate\[3\] = -0.2 is below 0"),
        (GOOD_ARPU, [1.0, 1.3] + GOOD_RATE[2:], 100, {}, r"access_rate\[1\] = 1.3 is above 1"),
        (GOOD_ARPU, GOOD_RATE, -5, {}, r"cohort_size\[0\] = -5.0; cohort sizes must be positive"),
        (GOOD_ARPU, GOOD_RATE, [100] * 6, {}, "cohort_size has 6 values but the rate curve has 7"),
        (GOOD_ARPU + [0.2], GOOD_RATE, 100, {}, "daily_arpu has 8 days but access_rate has 7"),
        ([-1.0] * 7, GOOD_RATE, 100, {}, "moving average of daily_arpu is negative"),
        (GOOD_ARPU, GOOD_RATE, 100, {"confidence": 99}, "confidence must be between 0 and 1"),
        (GOOD_ARPU, GOOD_RATE, 100, {"horizons": (30, 0)}, "at least 1 day"),
        (GOOD_ARPU, GOOD_RATE, 100, {"arpu_weighting": "revenue"}, "arpu_weighting"),
    ],
)
def test_cohort_ltv_rejects_bad_input(arpu, rate, size, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cohort_ltv(arpu, rate, size, **kwargs)


def test_geometric_ltv_rejects_bad_input():
    with pytest.raises(ValueError, match="only 6 observed days"):
        geometric_ltv(GOOD_ARPU[:6], GOOD_RATE[:6])
    with pytest.raises(ValueError, match=r"access_rate\[1\] = 1.3 is above 1"):
        geometric_ltv(GOOD_ARPU, [1.0, 1.3] + GOOD_RATE[2:])
