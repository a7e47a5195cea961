"""ShrunkUserValue on synthetic users whose latent expected return is known (no world, no Dagster)."""

import numpy as np
import pytest

from adperf_assets.skan.user_value import ShrunkUserValue, fit_nbd

HORIZON = 180.0


def _users(n, seed, rate_mult=1.0, whale_share=0.02, whale_tail=1.4):
    """Gamma rates (r 0.1, alpha 50 days), each user's mean spend inverse-gamma-like times a Pareto whale
    factor for a few, amounts gamma around it: realised return and the latent expected one."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.1, 1 / 50.0, n) * rate_mult
    x = rng.poisson(rate * HORIZON)
    mean_spend = 5.0 / rng.gamma(4.0, 1 / 6.0, n)
    whale = np.where(rng.random(n) < whale_share, 20 * (1 + rng.pareto(whale_tail, n)), 1.0)
    mean_spend = mean_spend * whale
    value = np.array([rng.gamma(5.0, m / 5.0, k).sum() if k else 0.0 for m, k in zip(mean_spend, x)])
    return x, value, rate * HORIZON * mean_spend


def test_fit_nbd_recovers_the_gamma_poisson_parameters():
    rng = np.random.default_rng(3)
    rate = rng.gamma(0.3, 1 / 20.0, 40_000)
    t = rng.choice([30.0, 90.0, 180.0], 40_000)
    r, alpha = fit_nbd(rng.poisson(rate * t), t)
    assert r == pytest.approx(0.3, rel=0.1)
    assert alpha == pytest.approx(20.0, rel=0.15)


def test_posterior_means_have_a_lower_squared_error_than_the_realised_returns():
    # users as the model assumes them (gamma rates, Gamma-Gamma spend): the posterior mean is the least-
    # squares estimate, 23-29% below the realised returns' error on these seeds. (With a 2% Pareto(1.4)
    # whale mixture, which the model does not describe, it ranged from 0.3x to 2.5x: docs/skan.md.)
    for seed in (1, 2, 3):
        x, value, truth = _users(30_000, seed, whale_share=0.0)
        t = np.full(len(x), HORIZON)
        pred = ShrunkUserValue().fit(x, value, t).predict(x, value, t)
        mse_model = np.mean((pred - truth) ** 2)
        mse_realised = np.mean((value - truth) ** 2)
        assert mse_model < 0.85 * mse_realised, (seed, mse_model, mse_realised)
        # the shrinkage keeps the total (the NBD's fitted mean count is the sample's)
        assert pred.sum() == pytest.approx(value.sum(), rel=0.05)
        # non-payers are worth something in expectation, and the model says so
        assert pred[x == 0].mean() > 0
        assert pred[x == 0].mean() == pytest.approx(truth[x == 0].mean(), rel=0.15)


def test_a_group_prior_follows_the_group_rate_that_the_population_prior_misses():
    x1, v1, e1 = _users(20_000, 5, rate_mult=0.4, whale_share=0.0)
    x2, v2, e2 = _users(20_000, 6, rate_mult=2.0, whale_share=0.0)
    x, v, truth = np.concatenate([x1, x2]), np.concatenate([v1, v2]), np.concatenate([e1, e2])
    g = np.array(["low"] * len(x1) + ["high"] * len(x2), dtype=object)
    t = np.full(len(x), HORIZON)
    grouped = ShrunkUserValue().fit(x, v, t, g).predict(x, v, t, g)
    pooled = ShrunkUserValue().fit(x, v, t).predict(x, v, t)
    low = g == "low"
    # each group's non-payers: the population prior lends the low group the high group's rate and back
    for m in (low & (x == 0), ~low & (x == 0)):
        assert abs(grouped[m].mean() - truth[m].mean()) < abs(pooled[m].mean() - truth[m].mean())
    assert grouped[low & (x == 0)].mean() < pooled[low & (x == 0)].mean()
    for m in (low, ~low):
        assert abs(grouped[m].sum() / truth[m].sum() - 1) < abs(pooled[m].sum() / truth[m].sum() - 1) + 0.02
    # an unknown group takes the population's prior
    other = ShrunkUserValue().fit(x, v, t, g).predict(x[:5], v[:5], t[:5], np.array(["new"] * 5, dtype=object))
    np.testing.assert_allclose(other, pooled[:5])


def test_a_single_purchase_whale_keeps_most_of_its_spend_and_a_large_count_is_shrunk():
    x, value, _ = _users(30_000, 9)
    t = np.full(len(x), HORIZON)
    m = ShrunkUserValue().fit(x, value, t)
    w = m.spend_weight(np.array([1.0, 10.0]))
    assert 0 < w[0] < w[1] < 1
    out = m.predict(np.array([0.0, 1.0, 40.0]), np.array([0.0, 2_000.0, 800.0]), np.full(3, HORIZON))
    assert 0 < out[0] < out[1]
    assert out[2] < 800.0  # 40 purchase-days in 180 days: far above the prior, pulled toward it


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least one purchase"):
        ShrunkUserValue().fit(np.zeros(5), np.zeros(5), np.full(5, HORIZON))
    with pytest.raises(ValueError, match="one entry per user"):
        ShrunkUserValue().fit(np.ones(5), np.ones(4), np.full(5, HORIZON))
    with pytest.raises(ValueError, match="exposure_days > 0"):
        fit_nbd(np.ones(3), np.array([1.0, 0.0, 2.0]))
