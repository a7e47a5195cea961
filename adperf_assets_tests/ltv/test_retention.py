"""Retention fits: Fader-Hardie's published example, the cleaning rule, bounds, pooling, batching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from adperf_assets.ltv.retention import (
    BlendedRetention,
    RationalRetention,
    ShiftedBetaGeometric,
    clean_access_rate,
    combine_cohorts,
    fit_many,
)

from .sbg_world import SbgWorld

# Fader & Hardie (2007), "How to Project Customer Retention", Table 1, years 0-7
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def fh_loglik(alpha: float, beta: float, survivors) -> float:
    """The paper's LL written independently: P(T=t) and S(t) from beta functions."""
    s = np.asarray(survivors, dtype=float)
    t = np.arange(1, len(s))
    log_p = special.betaln(alpha + 1, beta + t - 1) - special.betaln(alpha, beta)
    log_s = special.betaln(alpha, beta + len(s) - 1) - special.betaln(alpha, beta)
    return float((s[:-1] - s[1:]) @ log_p + s[-1] * log_s)


# --------------------------------------------------------------------------- sBG


@pytest.mark.parametrize(
    "survivors, alpha, beta, ll",
    [(REGULAR, 0.704, 1.182, -1680.3), (HIGH_END, 0.668, 3.806, -1611.2)],
    ids=["regular", "high_end"],
)
def test_sbg_reproduces_fader_hardie(survivors, alpha, beta, ll):
    m = ShiftedBetaGeometric().fit(survivors)
    assert round(m.params_["alpha"], 3) == alpha
    assert round(m.params_["beta"], 3) == beta
    assert round(m.log_likelihood_, 1) == ll
    assert m.log_likelihood_ == pytest.approx(fh_loglik(m.params_["alpha"], m.params_["beta"], survivors), abs=1e-8)
    assert m.converged_


def test_sbg_standard_errors_are_the_inverse_observed_information():
    m = ShiftedBetaGeometric().fit(REGULAR)
    a, b = m.params_["alpha"], m.params_["beta"]
    h = 1e-4
    f = lambda x, y: fh_loglik(x, y, REGULAR)  # noqa: E731
    haa = (f(a + h, b) - 2 * f(a, b) + f(a - h, b)) / h**2
    hbb = (f(a, b + h) - 2 * f(a, b) + f(a, b - h)) / h**2
    hab = (f(a + h, b + h) - f(a + h, b - h) - f(a - h, b + h) + f(a - h, b - h)) / (4 * h * h)
    cov = np.linalg.inv(-np.array([[haa, hab], [hab, hbb]]))
    np.testing.assert_allclose(m.covariance_, cov, rtol=1e-4)
    assert m.standard_errors_["alpha"] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-4)
    assert m.standard_errors_["beta"] == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-4)


def test_sbg_survival_is_the_product_formula_and_starts_at_one():
    m = ShiftedBetaGeometric().fit(REGULAR)
    a, b = m.params_["alpha"], m.params_["beta"]
    t = np.arange(13)
    expected = np.array([np.prod([(b + k) / (a + b + k) for k in range(n)]) for n in t])
    np.testing.assert_allclose(m.survival(t), expected, rtol=1e-10)
    assert m.survival(0)[0] == 1.0
    assert m.survival_se(0)[0] == 0.0
    # the paper's projection of year 12 survivors for the regular segment is ~170 (actual 173)
    assert 1000 * m.survival(12)[0] == pytest.approx(170, abs=2)


def test_sbg_from_rates_equals_from_counts():
    counts = ShiftedBetaGeometric().fit(HIGH_END)
    rates = ShiftedBetaGeometric().fit_rates(np.array(HIGH_END) / 1000, 1000)
    assert rates.params_ == pytest.approx(counts.params_, rel=1e-9)
    assert rates.log_likelihood_ == pytest.approx(counts.log_likelihood_, rel=1e-12)


def test_sbg_pooled_cohorts_maximise_the_summed_likelihood():
    # cohort A: 1000 users over 8 periods; cohort B: 500 users seen for 4 periods with A's rates,
    # so B's survivors censored at period 3 have exactly the pooled rate there.
    a = np.array(REGULAR, dtype=float)
    b = a[:4] / 2
    pooled = combine_cohorts(pd.DataFrame({
        "install_date": ["A"] * 8 + ["B"] * 4,
        "days_since_install": list(range(8)) + list(range(4)),
        "active_users": list(a) + list(b),
    }))
    assert pooled["cohort_size"].tolist() == [1500] * 4 + [1000] * 4
    m = ShiftedBetaGeometric().fit_rates(pooled["access_rate"], pooled["cohort_size"])

    def neg(x):
        al, be = np.exp(x)
        return -(fh_loglik(al, be, a) + fh_loglik(al, be, b))

    best = optimize.minimize(neg, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-10})
    assert [m.params_["alpha"], m.params_["beta"]] == pytest.approx(np.exp(best.x), rel=1e-5)
    assert m.log_likelihood_ == pytest.approx(-best.fun, abs=1e-6)


def test_sbg_rejects_bad_input():
    with pytest.raises(ValueError, match=r"survivors\[2\].*rises"):
        ShiftedBetaGeometric().fit([1000, 600, 700, 500])
    with pytest.raises(ValueError, match=r"survivors\[1\] is nan"):
        ShiftedBetaGeometric().fit([1000, np.nan, 500])
    with pytest.raises(ValueError, match="cohort size must be positive"):
        ShiftedBetaGeometric().fit([0, 0, 0])
    with pytest.raises(ValueError, match=r"access_rate\[1\] = 1.5 is above 1"):
        ShiftedBetaGeometric().fit_rates([1.0, 1.5, 0.5], 100)
    with pytest.raises(ValueError, match=r"cohort_size\[0\]"):
        ShiftedBetaGeometric().fit_rates([1.0, 0.5, 0.4], -3)
    with pytest.raises(RuntimeError, match="fit"):
        ShiftedBetaGeometric().survival([1, 2])


# --------------------------------------------------------------------------- cleaning


def test_clean_access_rate_seed_example():
    # the seed: of 100 users on the base day, 50 came back on day 1 and 55 on day 2
    np.testing.assert_array_equal(clean_access_rate([1.0, 0.50, 0.55, 0.40, 0.45, 0.30]),
                                  [1.0, 0.50, 0.50, 0.40, 0.40, 0.30])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_clean_access_rate_properties(rates):
    out = clean_access_rate(rates)
    r = np.asarray(rates)
    assert out.shape == r.shape
    assert (np.diff(out) <= 0).all()
    assert (out <= r).all()
    assert out[0] == r[0]
    np.testing.assert_array_equal(clean_access_rate(out), out)
    # a day is changed only if it rose above some earlier day, and then to the minimum so far
    for t in range(len(r)):
        assert out[t] == min(r[: t + 1])


@pytest.mark.parametrize(
    "rates, message",
    [([1.0, np.nan, 0.5], r"access_rate\[1\] is nan"),
     ([1.0, -0.1], r"access_rate\[1\] = -0.1 is below 0"),
     ([1.0, 1.2], r"access_rate\[1\] = 1.2 is above 1"),
     ([[1.0, 0.5]], "one-dimensional"),
     ([], "at least 1")],
)
def test_clean_access_rate_rejects_bad_input(rates, message):
    with pytest.raises(ValueError, match=message):
        clean_access_rate(rates)


# --------------------------------------------------------------------------- rational


def noisy_curves(seed: int = 3, days: int = 30):
    """Access-rate-like curves: sBG and Weibull shapes with binomial noise, some rising days."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    curves = []
    for a, b in [(0.5, 0.6), (1.5, 3.0), (0.3, 2.0)]:
        curves.append(SbgWorld(alpha=a, beta=b).survival(t))
    for shape, scale in [(0.4, 3.0), (0.8, 20.0), (0.6, 1.0)]:
        curves.append(np.exp(-((t / scale) ** shape)))
    out = []
    for s in curves:
        r = rng.binomial(300, s) / 300
        r[0] = 1.0
        out.append(r)
    return out


def assert_feasible(m: RationalRetention):
    p = m.params_
    assert 0 <= p["a"] <= 1 and p["c"] >= 0 and p["d"] >= 0
    assert 0 <= p["b"] <= p["a"] * p["c"] * (1 + 1e-9) + 1e-12
    r = m.survival(np.arange(0, 2000))
    assert ((r >= 0) & (r <= 1)).all()
    assert (np.diff(r) <= 1e-12).all()


@pytest.mark.parametrize("days", [7, 14, 30])
def test_rational_fit_stays_in_bounds_and_non_increasing(days):
    for curve in noisy_curves(days=days):
        raw = RationalRetention().fit(np.arange(days), curve)  # even uncleaned data
        assert_feasible(raw)
        cleaned = RationalRetention().fit(np.arange(days), clean_access_rate(curve))
        assert_feasible(cleaned)
        se = np.array(list(cleaned.standard_errors_.values()))
        assert np.isfinite(se).all() and (se >= 0).all()


def test_rational_recovers_a_noise_free_curve():
    t = np.arange(40)
    truth = (0.95 + 0.4 * t) / (1 + 1.5 * t + 0.02 * t**2)
    m = RationalRetention().fit(t, truth)
    assert m.rss_ < 1e-12
    np.testing.assert_allclose(m.survival(np.arange(365)),
                               (0.95 + 0.4 * np.arange(365)) / (1 + 1.5 * np.arange(365) + 0.02 * np.arange(365) ** 2),
                               atol=1e-5)
    assert max(m.standard_errors_.values()) < 1e-5


def test_rational_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 5"):
        RationalRetention().fit([0, 1, 2], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="t has 6 values but rate has 5"):
        RationalRetention().fit(range(6), [1.0, 0.5, 0.4, 0.3, 0.2])
    with pytest.raises(ValueError, match=r"rate\[3\] is nan"):
        RationalRetention().fit(range(5), [1.0, 0.5, 0.4, np.nan, 0.2])


# --------------------------------------------------------------------------- blend


def test_blended_is_the_average_and_its_variance_is_sane():
    rng = np.random.default_rng(11)
    world = SbgWorld()
    active, _ = world.cohort(rng, 2000, 14)
    rate = active / 2000
    ma = BlendedRetention().fit(rate, 2000)
    ind = BlendedRetention("independent").fit(rate, 2000)
    t = np.arange(400)
    # day 0 as observed; from day 1 the average of the two fits, scaled to day 1's rate (install_day.py)
    assert ma.survival([0])[0] == rate[0] and ma.params_["level"] == rate[1] and ma.params_["start_day"] == 1
    blend = 0.5 * (ma.sbg_.survival(t[:-1]) + ma.rational_.survival(t[:-1]))
    np.testing.assert_allclose(ma.survival(t[1:]), rate[1] * blend)
    assert (np.diff(ma.survival(t)) <= 1e-12).all()
    for m in (ma, ind):
        assert (m.survival_se(t) >= 0).all() and np.isfinite(m.survival_se(t)).all()
    # Buckland's model-averaged s.e. is never below the seed's independent one
    days, se_ma = ma.cumulative([30, 90, 180, 365])
    _, se_ind = ind.cumulative([30, 90, 180, 365])
    assert (se_ma >= se_ind - 1e-12).all() and (se_ind > 0).all()
    assert (np.diff(days) > 0).all()
    # independent: Var((s + c) / 2) = (Var s + Var c) / 4 at every horizon (of the curve from day 1),
    # scaled by day 1's rate, plus the binomial error of that rate
    v_s, se_s = ind.sbg_.cumulative([29, 89, 179, 364])
    v_c, se_c = ind.rational_.cumulative([29, 89, 179, 364])
    level, level_se = rate[1], np.sqrt(rate[1] * (1 - rate[1]) / 2000)
    np.testing.assert_allclose(
        se_ind, np.sqrt((level * 0.5 * np.sqrt(se_s**2 + se_c**2)) ** 2 + (0.5 * (v_s + v_c) * level_se) ** 2))


@pytest.mark.parametrize("variance", ["independent", "model_averaged"])
def test_blended_standard_error_shrinks_with_more_data(variance):
    world = SbgWorld()
    active, _ = world.cohort(np.random.default_rng(5), 20_000, 56)
    rate = active / 20_000
    se_by_days = [BlendedRetention(variance).fit(rate[:d], 20_000).cumulative([180])[1][0] for d in (7, 14, 28, 56)]
    if variance == "independent":
        assert all(x > y for x, y in zip(se_by_days, se_by_days[1:])), se_by_days
    else:  # includes the two fits' disagreement, which is noisy from day to day but closes with data
        assert se_by_days[3] < se_by_days[2] < se_by_days[0] and se_by_days[3] < 0.6 * se_by_days[0], se_by_days
    if variance == "independent":  # the model-averaged s.e. keeps the (size-independent) model spread
        small, _ = world.cohort(np.random.default_rng(5), 500, 14)
        se_small = BlendedRetention(variance).fit(small / 500, 500).cumulative([180])[1][0]
        assert se_small > 2 * se_by_days[1]


def test_blended_scales_a_curve_whose_install_day_rate_is_below_one():
    # cohort size counted in installs, 20% of which never opened the app: R(0) = 0.8
    active, _ = SbgWorld().cohort(np.random.default_rng(2), 1000, 10)
    opened = BlendedRetention().fit(active / 1000, 1000)
    installs = BlendedRetention().fit(0.8 * active / 1000, 1250)
    t = np.arange(200)
    np.testing.assert_allclose(installs.survival(t), 0.8 * opened.survival(t), rtol=1e-6)
    np.testing.assert_allclose(installs.cumulative([30, 180])[0], 0.8 * opened.cumulative([30, 180])[0], rtol=1e-5)
    assert installs.survival(0)[0] == pytest.approx(0.8, abs=1e-4)  # sBG exactly, rational a ~ 1
    batch = fit_many((0.8 * active / 1000)[None, :], [1250]).blended(0)
    np.testing.assert_allclose(batch.cumulative([30, 180]), installs.cumulative([30, 180]), rtol=1e-5)
    with pytest.raises(ValueError, match="nobody was active on the install day"):
        BlendedRetention().fit([0.0] * 7, 100)


def test_blended_rejects_short_or_bad_curves():
    with pytest.raises(ValueError, match="6 days; at least 7"):
        BlendedRetention().fit([1, 0.5, 0.4, 0.35, 0.3, 0.28], 100)
    with pytest.raises(ValueError, match="cohort_size has 3 values but the rate curve has 7"):
        BlendedRetention().fit([1, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27], [100, 90, 80])
    with pytest.raises(ValueError, match="rises above"):
        BlendedRetention().fit([1, 0.5, 0.6, 0.35, 0.3, 0.28, 0.27], 100, clean=False)
    with pytest.raises(ValueError, match="variance must be one of"):
        BlendedRetention("correlated")


def test_blended_survives_degenerate_curves():
    # nobody / everybody / nobody after day 1 churned: the sBG ends on a bound (a share of
    # users that never leaves), its error is unbounded (inf), not NaN
    for rate in ([1.0] * 7, [1.0] + [0.0] * 6, [1.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]):
        m = BlendedRetention().fit(rate, 100)
        days, se = m.cumulative([30, 365])
        assert not m.sbg_.converged_
        assert np.isfinite(days).all() and (days >= 1 - 1e-6).all() and (days <= [30, 365]).all()
        assert (se == np.inf).all()
        assert m.sbg_.survival_se(0)[0] == 0.0  # S(0) = 1 whatever the parameters
    flat = BlendedRetention().fit([1.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.19], 100)
    days, se = flat.cumulative([30, 365])
    assert np.isfinite(days).all() and np.isfinite(se).all()


# --------------------------------------------------------------------------- pooling


def test_combine_cohorts_the_seed_way():
    # cohort 1 installed on Jan 1 (seen 8 days by Jan 8), cohort 2 on Jan 2 (seen 7 days)
    act1 = [100, 50, 40, 35, 30, 28, 27, 26]
    act2 = [300, 120, 90, 80, 75, 70, 66]
    activity = pd.DataFrame({
        "install_date": ["2026-01-01"] * 8 + ["2026-01-02"] * 7,
        "days_since_install": list(range(8)) + list(range(7)),
        "active_users": act1 + act2,
        "revenue_usd": [10.0] * 8 + [6.0] * 7,
    })
    out = combine_cohorts(activity.sample(frac=1, random_state=1))  # order must not matter
    assert out["days_since_install"].tolist() == list(range(8))
    assert out["cohorts"].tolist() == [2] * 7 + [1]
    assert out["cohort_size"].tolist() == [400] * 7 + [100]
    # day t: size-weighted mean of the cohorts' rates = summed active / summed size
    for t in range(7):
        weighted = (100 * act1[t] / 100 + 300 * act2[t] / 300) / 400
        assert out.loc[t, "access_rate"] == pytest.approx(weighted)
    assert out.loc[7, "access_rate"] == pytest.approx(0.26)
    assert out.loc[1, "daily_arpu"] == pytest.approx(16.0 / 170)
    m = BlendedRetention().fit(out["access_rate"], out["cohort_size"])
    assert m.sbg_.converged_
    batch = fit_many(out["access_rate"].to_numpy()[None, :], out["cohort_size"].to_numpy()[None, :]).blended(0)
    assert batch.params_["sbg"] == pytest.approx(m.params_["sbg"], rel=1e-5)
    np.testing.assert_allclose(batch.cumulative([30, 180]), m.cumulative([30, 180]), rtol=1e-4)


def test_combine_cohorts_rejects_bad_rows():
    base = pd.DataFrame({"install_date": ["a"] * 3, "days_since_install": [0, 1, 2], "active_users": [10, 5, 4]})
    with pytest.raises(ValueError, match="missing column"):
        combine_cohorts(base.drop(columns="active_users"))
    with pytest.raises(ValueError, match="no row for day 1"):
        combine_cohorts(base.drop(index=1))
    with pytest.raises(ValueError, match="duplicate"):
        combine_cohorts(pd.concat([base, base.iloc[[2]]]))
    with pytest.raises(ValueError, match="exceeds the cohort size"):
        combine_cohorts(base.assign(active_users=[10, 11, 4]))
    with pytest.raises(ValueError, match="row 2: active_users = -4.0 is negative"):
        combine_cohorts(base.assign(active_users=[10, 5, -4]))
    with pytest.raises(ValueError, match="row 1: active_users = nan is not a finite"):
        combine_cohorts(base.assign(active_users=[10, np.nan, 4]))


# --------------------------------------------------------------------------- many curves


def test_fit_many_matches_one_by_one_fits():
    curves = noisy_curves(seed=8, days=30)
    lengths = np.array([7, 12, 30, 9, 21, 30])
    sizes = np.array([300, 300, 300, 300, 300, 300])
    rates = np.full((len(curves), 30), np.nan)  # cells after a curve's length are ignored
    for k, (c, n) in enumerate(zip(curves, lengths)):
        rates[k, :n] = c[:n]
    fits = fit_many(rates, sizes, lengths)
    assert (fits.start_day == 1).all()
    for k, n in enumerate(lengths):
        r = clean_access_rate(rates[k, :n])
        r = r[1:] / r[1]  # the models describe the curve from day 1, relative to it
        sbg = ShiftedBetaGeometric().fit_rates(r, sizes[k] * rates[k, 1])
        rat = RationalRetention().fit(np.arange(n - 1), r)
        assert fits.log_likelihood[k] == pytest.approx(sbg.log_likelihood_, abs=1e-6)
        assert [fits.alpha[k], fits.beta[k]] == pytest.approx([sbg.params_["alpha"], sbg.params_["beta"]], rel=1e-4)
        assert fits.rss[k] <= rat.rss_ * (1 + 1e-6) + 1e-15
        one = fits.blended(k)
        np.testing.assert_allclose(fits.survival(np.arange(100))[k], one.survival(np.arange(100)))
        days, se = fits.cumulative([30, 180])
        np.testing.assert_allclose(np.c_[days[k], se[k]], np.c_[one.cumulative([30, 180])], rtol=1e-10)


def test_sums_before_is_the_cumulative_matrix_product():
    from adperf_assets.ltv.standard_errors import _sums_before

    rng = np.random.default_rng(3)
    h = np.array([5, 1, 17, 9, 17])  # unsorted, repeated
    values = rng.random((4, 17, 2))
    w = (np.arange(h.max())[None, :] < h[:, None]).astype(float)  # row i sums days t < h[i]
    np.testing.assert_allclose(_sums_before(values, h), np.einsum("ht,ktp->khp", w, values), rtol=1e-13)
    np.testing.assert_allclose(_sums_before(values[..., 0], h), values[..., 0] @ w.T, rtol=1e-13)


def test_fit_many_rejects_bad_input():
    rates = np.tile(np.array([1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27, 0.26]), (3, 1))
    with pytest.raises(ValueError, match="curve 1: length 6"):
        fit_many(rates, [100, 100, 100], lengths=[8, 6, 8])
    bad = rates.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"rates\[2, 3\] = nan"):
        fit_many(bad, [100, 100, 100])
    with pytest.raises(ValueError, match=r"cohort_sizes\[1, 0\]"):
        fit_many(rates, [100, 0, 100])
    with pytest.raises(ValueError, match="shape"):
        fit_many(rates, [100, 100])


def test_fit_starts_on_day_one_unless_that_curve_holds_no_churn():
    rates = np.array([[1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27, 0.26],
                      [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # nobody active after the install day
                      [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # all of day 1's users gone by day 2
                      [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])  # none of them gone
    fits = fit_many(rates, [400, 400, 4, 4])
    assert fits.start_day.tolist() == [1, 0, 0, 0] and fits.level.tolist() == [0.5, 1.0, 1.0, 1.0]
    rates, fits = rates[:2], fit_many(rates[:2], [400, 400])
    R = fits.survival(np.arange(8))
    assert R[0, 0] == 1.0 and R[0, 1] == pytest.approx(0.5, rel=0.02)
    assert R[1, 0] == pytest.approx(1.0, rel=1e-3) and (R[1, 1:] < 1e-3).all()
    one = BlendedRetention().fit(rates[1], 400)
    assert one.params_["start_day"] == 0
    np.testing.assert_allclose(one.cumulative([30])[0], fits.cumulative([30])[0][1], rtol=1e-4)
    old = fit_many(rates[:1], [400], start_day=0)  # the studio's curve through day 0
    assert old.start_day.tolist() == [0] and old.level.tolist() == [1.0]
    with pytest.raises(ValueError, match="start_day must be one of"):
        fit_many(rates, [400, 400], start_day=2)


def test_fit_many_batch_curves_with_both_start_days_equal_each_curves_own():
    # curves 1 and 3 hold no churn from day 1 (start day 0), the others start on day 1: the batch
    # evaluates each start day's curves apart and lays them back in curve order
    curves = noisy_curves(seed=5, days=20)
    rates = np.array([curves[0], np.r_[1.0, np.full(19, 0.5)], curves[1], np.r_[1.0, 0.5, np.zeros(18)], curves[2]])
    fits = fit_many(rates, [300, 4, 300, 4, 300])
    assert fits.start_day.tolist() == [1, 0, 1, 0, 1]
    t = np.arange(60)
    days, se = fits.cumulative([7, 30, 45])
    R, R_se = fits.survival(t), fits.survival_se(t)
    for k in range(len(rates)):
        one = fits.blended(k)
        np.testing.assert_allclose(R[k], one.survival(t), rtol=1e-13)
        np.testing.assert_allclose(R_se[k], one.survival_se(t), rtol=1e-13)
        np.testing.assert_allclose(np.c_[days[k], se[k]], np.c_[one.cumulative([7, 30, 45])], rtol=1e-13)
    assert (R_se[[0, 2, 4], 0] == 0).all() and (R_se[:, 1:] > 0).all()
    assert fits.survival_se(t).shape == (5, 60) and fits.subset(np.array([], dtype=int)).survival_se(t).shape == (0, 60)
