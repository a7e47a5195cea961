"""The rest's scatter as an exact tail plus a normal body (skan/scatter.py), against exact draws."""

import numpy as np

from adperf_assets.skan import scatter

Z99 = 2.5758  # the 99% interval's ends


def _whale_pool(seed=0, m=5000):
    """Per-draw values as the decoder's: a user's value relative to the pool's mean, less one; 16% zeros,
    a lognormal body, 3% whales with a Pareto(1.5) factor."""
    rng = np.random.default_rng(seed)
    v = np.where(rng.random(m) < 0.16, 0.0, rng.lognormal(0.0, 1.0, m))
    whale = rng.random(m) < 0.03
    v[whale] *= 30 * (1 + rng.pareto(1.5, whale.sum()))
    return v / v.mean() - 1


def test_tail_plus_normal_body_keeps_the_sums_quantiles_where_a_normal_sum_misses_them():
    a = _whale_pool()
    p = np.full(len(a), 1 / len(a))
    n, reps = 400, 40000
    rng = np.random.default_rng(1)
    exact = a[rng.integers(0, len(a), (reps, n))].sum(axis=1)
    plan = scatter.plan(a, p, n, Z99, 0.05)
    assert plan is not None and 0 < plan.p_tail <= scatter.MAX_TAIL  # at most a quarter of the 400 draws
    mean, var = n * float(p @ a), n * float(p @ (a - p @ a) ** 2)
    normal = scatter.TailBody(n, a[:0], a[:0], 0.0, mean / n, var / n)  # the tail dropped: one normal sum
    sd = exact.std()
    qs = [0.005, 0.05, 0.5, 0.95, 0.995]

    def err(x):
        return np.abs(np.quantile(x, qs) - np.quantile(exact, qs)) / sd

    ours, plain = err(plan.draw(np.random.default_rng(2), reps)), err(normal.draw(np.random.default_rng(2), reps))
    assert (ours < 0.1).all(), ours
    assert plain[-1] > 0.5, plain  # the whales' skew: a normal sum's 99.5% quantile is far off


def test_small_sums_and_a_zero_tolerance_are_drawn_exactly():
    a = _whale_pool(seed=3, m=500)
    p = np.full(len(a), 1 / len(a))
    assert scatter.plan(a, p, scatter.MIN_DRAWS - 1, Z99, 0.05) is None
    assert scatter.plan(a, p, 1000, Z99, 0.0) is None
    # three values: at 60 draws even the body left by cutting the top (the 1s next would pass a quarter)
    # is too skewed for a normal sum; at 200 it is not
    lumpy, probs = np.array([0.0, 1.0, 2.0]), np.array([0.6, 0.35, 0.05])
    assert scatter.plan(lumpy, probs, 60, Z99, 0.05) is None
    assert scatter.plan(lumpy, probs, 200, Z99, 0.05).p_tail == 0.05
    # two values: the tail is every 1 (a binomial count), the body the constant 0s: exact
    two = scatter.plan(np.array([0.0, 1.0]), np.array([0.9, 0.1]), 60, Z99, 0.05)
    assert two.p_tail == 0.1 and two.body_var == 0.0


def test_a_constant_value_sums_exactly():
    plan = scatter.plan(np.full(10, 2.0), np.full(10, 0.1), 300, Z99, 0.05)
    assert plan is not None and plan.p_tail == 0.0
    assert np.allclose(plan.draw(np.random.default_rng(0), 5), 600.0)


def _rich_key_pool(seed=0, m=4000):
    """A pool whose body, once its few whales are cut, is skewed *down*: 5% of installs carry a rich key (12x
    the others' value) and 30% of users are worth 0, so a draw of minus the rich key's value (-12) has
    1.7% of the probability, and the paying users' values are narrow (lognormal 0.2)."""
    rng = np.random.default_rng(seed)
    key = np.where(rng.random(m) < 0.05, 12.0, 1.0)
    rel = np.where(rng.random(m) < 0.3, 0.0, rng.lognormal(0.0, 0.2, m))
    whale = rng.random(m) < 0.003
    rel[whale] *= 8 * (1 + rng.pareto(2.0, whale.sum()))
    return key * rel / rel.mean() - key


def test_a_body_skewed_down_once_the_whales_are_cut_is_cut_at_the_bottom_too():
    a = _rich_key_pool()
    p = np.full(len(a), 1 / len(a))
    n, reps = 300, 40000
    plan = scatter.plan(a, p, n, Z99, 0.05)
    # no cut of the top alone passes (the body it leaves is skewed down): both ends are in the tail
    assert plan is not None and a.max() in plan.tail_values and a.min() in plan.tail_values
    low = plan.tail_values < plan.body_mean
    assert 0 < low.sum() < len(plan.tail_values)
    exact = a[np.random.default_rng(1).integers(0, len(a), (reps, n))].sum(axis=1)
    qs = [0.005, 0.05, 0.5, 0.95, 0.995]
    err = np.abs(np.quantile(plan.draw(np.random.default_rng(2), reps), qs) - np.quantile(exact, qs)) / exact.std()
    assert (err < 0.15).all(), err  # two exact runs differ by up to ~0.05 at the ends
