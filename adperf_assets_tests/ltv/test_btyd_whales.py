"""Gamma-Gamma on spend with whales: the fit's population mean vs the repeat purchase mean, on populations
with known truth (docs/ltv_btyd.md, "The realistic world")."""

from __future__ import annotations

import numpy as np
import pytest

from adperf_assets.ltv.btyd import fit_gamma_gamma
from adperf_assets.ltv.btyd_predict import gamma_gamma_expected_spend, repeat_purchase_mean


def population(n: int, whale_share: float, seed: int):
    """Repeat buyers as the sample world draws them: x repeat purchases independent of spend, each
    Gamma(p=5, rate nu) with nu ~ Gamma(q=4, rate 6), times a whale factor (share ``whale_share``,
    20 (1 + Pareto(1.4)) capped at 100). Returns x, their mean spend m and their true expected spend."""
    rng = np.random.default_rng(seed)
    x = 1 + rng.poisson(1.5, n)
    nu = rng.gamma(4.0, 1 / 6.0, n)
    w = np.where(rng.random(n) < whale_share, np.minimum(20 * (1 + rng.pareto(1.4, n)), 100), 1.0)
    m = rng.gamma(5.0 * x, 1 / nu) / x * w
    return x, m, 5.0 / nu * w


def fit_mean(x, m) -> tuple[float, tuple[float, float, float]]:
    gg = fit_gamma_gamma(x, m)
    p, q, v = (float(gg.params_[k]) for k in ("p", "q", "v"))
    return v * p / (q - 1), (p, q, v)


def test_without_whales_both_population_means_are_right():
    x, m, true = population(20_000, 0.0, seed=0)
    fitted, (_, q, _) = fit_mean(x, m)
    assert abs(q / 4.0 - 1) < 0.05
    assert abs(fitted / true.mean() - 1) < 0.02
    assert abs(repeat_purchase_mean(x, m) / true.mean() - 1) < 0.02


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_whales_the_fit_understates_the_mean_and_the_repeat_purchase_mean_does_not(seed):
    x, m, true = population(20_000, 0.02, seed=seed)
    fitted, (p, q, v) = fit_mean(x, m)
    # the whales pull q from 4 towards 2 (a tail the Gamma mixing cannot give) and the mean down by ~1/3
    assert q < 2.6
    assert fitted / true.mean() - 1 < -0.25
    assert abs(repeat_purchase_mean(x, m) / true.mean() - 1) < 0.05
    # a population of users without repeat purchases (x = 0) is credited the population mean
    new = np.zeros(5)
    np.testing.assert_allclose(gamma_gamma_expected_spend(p, q, v, new, new), fitted)
    np.testing.assert_allclose(gamma_gamma_expected_spend(p, q, v, new, new, population_mean=12.5), 12.5)
    # repeat buyers: the credibility weights stay the fit's; the sum is closer to the truth with the repeat mean
    by_fit = gamma_gamma_expected_spend(p, q, v, x, m).sum() / true.sum() - 1
    by_mean = gamma_gamma_expected_spend(p, q, v, x, m, repeat_purchase_mean(x, m)).sum() / true.sum() - 1
    assert abs(by_mean) < 0.02 and by_fit < 0


def test_repeat_purchase_mean_weights_by_purchases_and_skips_non_repeat_buyers():
    assert repeat_purchase_mean([0, 1, 3], [99.0, 10.0, 2.0]) == pytest.approx((10 + 6) / 4)
    with pytest.raises(ValueError, match="no user with a repeat purchase"):
        repeat_purchase_mean([0, 0], [0.0, 0.0])
