"""fit_btyd: same estimates as lifetimes, published CDNOW values, predictions, intervals, bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
from lifetimes.plotting import (
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
)
from scipy import integrate

from adperf_assets.ltv import btyd
from adperf_assets.ltv.btyd import BGNBDLikelihood, GammaGammaLikelihood, fit_btyd
from adperf_assets.ltv.btyd_predict import bgnbd_discounted_purchases, bgnbd_expected_purchases
from adperf_assets.ltv.btyd_simulate import simulate_bgnbd_summary

BG = ["r", "alpha", "a", "b"]
GG = ["p", "q", "v"]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary_data_with_monetary_value()


@pytest.fixture(scope="module")
def cdnow_model(cdnow):
    return fit_btyd(cdnow)


@pytest.fixture(scope="module")
def app_users() -> pd.DataFrame:
    """3,000 app users at day granularity, installs over 200 days, ~70% never repeat."""
    rng = np.random.default_rng(7)
    T = rng.integers(1, 201, size=3000)
    return simulate_bgnbd_summary(3000, 0.25, 20.0, 0.8, 2.5, T, p=6.0, q=3.7, v=15.0, random_state=rng)


@pytest.fixture(scope="module")
def lifetimes_reference(app_users):
    repeat = app_users[app_users["frequency"] > 0]
    bg = BetaGeoFitter().fit(app_users["frequency"], app_users["recency"], app_users["T"])
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return bg, gg


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a / b - 1)))


# ----------------------------------------------------------------------------- estimates


def test_cdnow_gives_published_estimates(cdnow_model):
    bg = cdnow_model.bgnbd.params_
    assert [round(bg[k], 3) for k in BG] == [0.243, 4.414, 0.793, 2.426]  # Fader, Hardie & Lee (2005)
    gg = cdnow_model.gamma_gamma.params_
    assert [round(gg[k], 2) for k in ("p", "q")] == [6.25, 3.74]
    # Hardie's note prints v = 15.44; the MLE (lifetimes' too, and its docs) is 15.4477 -> 15.45
    assert gg["v"] == pytest.approx(15.44, abs=0.01)
    assert round(gg["v"], 2) == 15.45


def test_cdnow_equals_lifetimes_fit(cdnow, cdnow_model):
    ref = BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert _rel(cdnow_model.bgnbd.params_[BG], ref.params_[BG]) < 1e-5
    assert cdnow_model.bgnbd._negative_log_likelihood_ == pytest.approx(ref._negative_log_likelihood_, rel=1e-10)
    assert _rel(cdnow_model.bgnbd.standard_errors_, ref.standard_errors_) < 1e-4


def test_equals_lifetimes_on_raw_rows(app_users, lifetimes_reference):
    bg_ref, gg_ref = lifetimes_reference
    assert (app_users["frequency"] == 0).mean() == pytest.approx(0.7, abs=0.06)
    model = fit_btyd(app_users)
    assert _rel(model.bgnbd.params_[BG], bg_ref.params_[BG]) < 1e-4
    assert _rel(model.gamma_gamma.params_[GG], gg_ref.params_[GG]) < 1e-4
    assert model.bgnbd._negative_log_likelihood_ == pytest.approx(bg_ref._negative_log_likelihood_, rel=1e-9)
    assert model.gamma_gamma._negative_log_likelihood_ == pytest.approx(gg_ref._negative_log_likelihood_, rel=1e-9)
    assert _rel(model.bgnbd.standard_errors_, bg_ref.standard_errors_) < 1e-3
    assert _rel(model.gamma_gamma.standard_errors_, gg_ref.standard_errors_) < 1e-3
    # identical rows were collapsed
    assert model.collapsed_rows_["bgnbd"] < len(app_users) / 2


@pytest.mark.parametrize("sample_rows", [400, 60])
def test_sampled_warm_start_path_equals_lifetimes(app_users, lifetimes_reference, monkeypatch, sample_rows):
    """Big inputs start Newton from an L-BFGS-B fit on a row sample; force that path on the small data.

    With 60 rows the sample cannot tell a from b and its fit runs off along the a, b -> inf
    ridge; the fit must notice (ill-conditioned Hessian) and redo it on all rows.
    """
    monkeypatch.setattr(btyd, "_WARM_START_ROWS", sample_rows)
    seen = []
    real_lbfgsb = btyd._lbfgsb

    def spy(fun, x0, gtol):
        seen.append(fun.n_rows)
        return real_lbfgsb(fun, x0, gtol)

    monkeypatch.setattr(btyd, "_lbfgsb", spy)
    bg_ref, gg_ref = lifetimes_reference
    model = fit_btyd(app_users)
    assert _rel(model.bgnbd.params_[BG], bg_ref.params_[BG]) < 1e-4
    assert _rel(model.gamma_gamma.params_[GG], gg_ref.params_[GG]) < 1e-4
    full_rows = model.collapsed_rows_["bgnbd"]
    assert seen[0] < full_rows  # BG/NBD's L-BFGS-B ran on a sample
    if sample_rows == 400:
        assert full_rows not in seen  # ... and Newton finished on all rows
    else:
        assert full_rows in seen  # the fallback ran L-BFGS-B on all rows


def test_errors_are_lifetimes_own(cdnow_model):
    for fitter in (cdnow_model.bgnbd, cdnow_model.gamma_gamma):
        pd.testing.assert_frame_equal(fitter.variance_matrix_, fitter._compute_variance_matrix(), check_exact=True)
        pd.testing.assert_series_equal(fitter.standard_errors_, fitter._compute_standard_errors(), check_exact=True)
        pd.testing.assert_frame_equal(fitter.confidence_intervals_, fitter._compute_confidence_intervals(),
                                      check_exact=True)


@pytest.mark.parametrize("shift", [0.05, 5.0])
def test_a_start_gives_the_same_optimum(app_users, monkeypatch, shift):
    """A start near the optimum (yesterday's fit) is polished by Newton alone; one far off, where
    Newton does not get there, falls back to the cold path. Same optimum either way."""
    cold = fit_btyd(app_users)
    seen = []
    real_lbfgsb = btyd._lbfgsb
    monkeypatch.setattr(btyd, "_lbfgsb", lambda fun, x0, gtol: seen.append(fun.n_rows) or real_lbfgsb(fun, x0, gtol))
    start = cold.params_[BG + GG].to_numpy() * np.exp(shift * np.array([1, -1, 1, -1, 1, -1, 1]))
    warm = fit_btyd(app_users, start=start)
    if shift < 1:
        assert seen == []  # no L-BFGS-B run
    assert _rel(warm.params_[BG + GG], cold.params_[BG + GG]) < 1e-6
    np.testing.assert_allclose(warm.log_params_covariance_, cold.log_params_covariance_, rtol=1e-4, atol=1e-12)
    assert warm.bgnbd._negative_log_likelihood_ == pytest.approx(cold.bgnbd._negative_log_likelihood_, rel=1e-12)
    horizon = 90
    np.testing.assert_allclose(warm.expected_value(app_users, horizon), cold.expected_value(app_users, horizon), rtol=1e-6)


def test_penalizer_is_lifetimes_penalizer(app_users):
    model = fit_btyd(app_users, penalizer=0.05)
    ref = BetaGeoFitter(penalizer_coef=0.05).fit(app_users["frequency"], app_users["recency"], app_users["T"])
    repeat = app_users[app_users["frequency"] > 0]
    gg_ref = GammaGammaFitter(penalizer_coef=0.05).fit(repeat["frequency"], repeat["monetary_value"])
    assert _rel(model.bgnbd.params_[BG], ref.params_[BG]) < 1e-4
    assert _rel(model.gamma_gamma.params_[GG], gg_ref.params_[GG]) < 1e-4
    assert model.bgnbd.penalizer_coef == 0.05
    unpenalized = fit_btyd(app_users)
    assert not np.allclose(model.bgnbd.params_, unpenalized.bgnbd.params_, rtol=1e-3)


def test_recovers_simulated_parameters():
    rng = np.random.default_rng(3)
    truth = {"r": 0.3, "alpha": 10.0, "a": 0.7, "b": 2.0}
    summary = simulate_bgnbd_summary(
        20_000, **truth, T=rng.integers(30, 366, 20_000), p=5.0, q=4.0, v=20.0,
        day_granularity=False, random_state=rng,
    )
    model = fit_btyd(summary)
    se = np.sqrt(np.diag(model.log_params_covariance_))
    z = (np.log(model.params_) - np.log(pd.Series({**truth, "p": 5.0, "q": 4.0, "v": 20.0}))) / se
    assert np.all(np.abs(z[BG + GG]) < 4), z


# ----------------------------------------------------------------------------- likelihoods


def _finite_difference(fun, theta, h=1e-6):
    return np.array([(fun(theta + h * e)[0] - fun(theta - h * e)[0]) / (2 * h) for e in np.eye(len(theta))])


@pytest.mark.parametrize("penalizer", [0.0, 0.3])
def test_bgnbd_gradient_matches_finite_differences_and_lifetimes_value(app_users, penalizer):
    x = app_users["frequency"].to_numpy()
    tx = app_users["recency"].to_numpy() / 200
    T = app_users["T"].to_numpy() / 200
    fun = BGNBDLikelihood(x, tx, T, np.ones(len(x)), penalizer)
    rng = np.random.default_rng(0)
    for theta in [np.full(4, 0.1), np.log([0.25, 0.1, 0.8, 2.5]), rng.normal(0, 1, 4)]:
        value, grad = fun(theta)
        np.testing.assert_allclose(grad, _finite_difference(fun, theta), rtol=1e-6, atol=1e-8)
        ref = BetaGeoFitter._negative_log_likelihood(theta, x, tx, T, np.ones(len(x)), penalizer)
        assert value == pytest.approx(float(ref), rel=1e-12)


@pytest.mark.parametrize("penalizer", [0.0, 0.3])
def test_gamma_gamma_gradient_matches_finite_differences_and_lifetimes_value(app_users, penalizer):
    repeat = app_users[app_users["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(dtype=float), repeat["monetary_value"].to_numpy()
    fun = GammaGammaLikelihood(x, m, np.ones(len(x)), penalizer)
    for theta in [np.full(3, 0.1), np.log([6.0, 3.7, 15.0]), np.array([-0.5, 1.5, 0.3])]:
        value, grad = fun(theta)
        np.testing.assert_allclose(grad, _finite_difference(fun, theta), rtol=1e-6, atol=1e-8)
        ref = GammaGammaFitter._negative_log_likelihood(theta, x, m, np.ones(len(x)), penalizer)
        assert value == pytest.approx(float(ref), rel=1e-12)


def test_collapsed_rows_give_the_same_objective(app_users):
    x, tx, T = (app_users[c].to_numpy() for c in ("frequency", "recency", "T"))
    (ux, utx, uT), counts, inverse = btyd._collapse(x, tx, T)
    assert counts.sum() == len(x) and len(counts) < len(x)
    np.testing.assert_array_equal(ux[inverse], x)
    np.testing.assert_array_equal(uT[inverse], T)
    theta = np.log([0.3, 0.2, 0.9, 2.0])
    raw = BGNBDLikelihood(x, tx, T, np.ones(len(x)))(theta)
    collapsed = BGNBDLikelihood(ux, utx, uT, counts)(theta)
    assert collapsed[0] == pytest.approx(raw[0], rel=1e-12)
    np.testing.assert_allclose(collapsed[1], raw[1], rtol=1e-10)


# ----------------------------------------------------------------------------- lifetimes interop


def test_bgnbd_is_a_working_lifetimes_fitter(cdnow, cdnow_model, tmp_path):
    bg = cdnow_model.bgnbd
    ref = BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(bg.predict(30, *args), ref.predict(30, *args), rtol=1e-5)
    np.testing.assert_allclose(bg.conditional_probability_alive(*args), ref.conditional_probability_alive(*args), rtol=1e-5)
    assert bg.expected_number_of_purchases_up_to_time(39) == pytest.approx(
        ref.expected_number_of_purchases_up_to_time(39), rel=1e-5
    )
    assert bg.probability_of_n_purchases_up_to_time(39, 2) == pytest.approx(
        ref.probability_of_n_purchases_up_to_time(39, 2), rel=1e-5
    )
    assert list(bg.summary.columns) == list(ref.summary.columns)
    assert len(bg.data) == len(cdnow) and bg.data["weights"].sum() == len(cdnow)
    assert "fitted with 2357 subjects" in repr(bg)

    plot_frequency_recency_matrix(bg)
    plot_probability_alive_matrix(bg)
    np.random.seed(0)
    plot_period_transactions(bg)  # simulates len(data) users with lifetimes' generator
    matplotlib.pyplot.close("all")

    clv = cdnow_model.gamma_gamma.customer_lifetime_value(bg, *args, cdnow["monetary_value"], time=3)
    assert clv.notna().all() and (clv >= 0).all()

    path = tmp_path / "bgnbd.pkl"
    bg.save_model(str(path))
    loaded = BetaGeoFitter()
    loaded.load_model(str(path))
    np.testing.assert_allclose(loaded.predict(30, *args), bg.predict(30, *args))


# ----------------------------------------------------------------------------- expected value


def test_expected_value_is_purchases_times_spend(cdnow, cdnow_model):
    bg, gg = cdnow_model.bgnbd, cdnow_model.gamma_gamma
    value = cdnow_model.expected_value(cdnow, 52)
    assert value.index.equals(cdnow.index)
    purchases = bg.predict(52, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    spend = gg.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    np.testing.assert_allclose(value, purchases * spend, rtol=1e-9)
    # users without a repeat purchase get the population mean spend
    p, q, v = gg.params_[GG]
    zero = cdnow["frequency"] == 0
    np.testing.assert_allclose(cdnow_model.expected_spend(cdnow)[zero], v * p / (q - 1))


def test_expected_value_is_non_negative_and_grows_with_horizon(app_users):
    model = fit_btyd(app_users)
    values = [model.expected_value(app_users, h) for h in (0, 7, 30, 90, 180, 365)]
    assert (values[0] == 0).all()
    for shorter, longer in zip(values, values[1:]):
        assert (longer >= shorter).all() and (longer > shorter).any()
    assert (values[-1] >= 0).all() and values[-1].notna().all()


def test_expected_purchases_when_a_plus_b_below_one_match_simulation():
    """x = 0 with a + b < 1 makes 2F1's c negative and 2F1 < 0 (lifetimes returns NaN there)."""
    r, alpha, a, b, T, t = 0.28, 27.0, 0.21, 0.67, 27.0, 90.0
    rng = np.random.default_rng(5)
    n = 300_000
    lam, drop = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    clock, before, after = np.zeros(n), np.zeros(n, int), np.zeros(n, int)
    alive = np.arange(n)
    while alive.size:
        clock[alive] += rng.exponential(1.0, alive.size) / lam[alive]
        alive = alive[clock[alive] < T + t]
        early = clock[alive] < T
        before[alive[early]] += 1
        after[alive[~early]] += 1
        alive = alive[rng.random(alive.size) > drop[alive]]
    sel = before == 0  # no repeat purchase in (0, T): frequency 0
    simulated, se = after[sel].mean(), after[sel].std() / np.sqrt(sel.sum())
    formula = float(bgnbd_expected_purchases(r, alpha, a, b, t, 0, 0.0, T))
    assert abs(formula - simulated) < 4 * se


def test_discounted_purchases_match_quadrature(cdnow_model):
    r, alpha, a, b = cdnow_model.bgnbd.params_[BG]
    d = 0.002
    users = [(0, 0.0, 10.0), (2, 30.4, 38.9), (15, 35.0, 38.9), (1, 1.7, 0.0 + 1.7)]
    for x, tx, T in users:
        E = lambda t: float(bgnbd_expected_purchases(r, alpha, a, b, t, x, tx, T))  # noqa: E731
        H = 365.0
        exact = (1 + d) ** -H * E(H) + np.log1p(d) * integrate.quad(lambda t: (1 + d) ** -t * E(t), 0, H, limit=200)[0]
        got = float(bgnbd_discounted_purchases(r, alpha, a, b, H, x, tx, T, d))
        assert got == pytest.approx(exact, rel=1e-8)
        assert got < E(H)
    assert float(bgnbd_discounted_purchases(r, alpha, a, b, 90, 2, 30.4, 38.9, 0.0)) == pytest.approx(
        float(bgnbd_expected_purchases(r, alpha, a, b, 90, 2, 30.4, 38.9))
    )


@pytest.mark.parametrize("method", ["delta", "draws"])
def test_interval_brackets_the_estimate_and_sums_over_groups(cdnow, cdnow_model, method):
    kw = {"confidence": 0.9, "method": method, "n_draws": 300}
    per_user = cdnow_model.expected_value_interval(cdnow, 52, **kw)
    assert per_user.index.equals(cdnow.index)
    np.testing.assert_allclose(per_user["expected_value"], cdnow_model.expected_value(cdnow, 52))
    assert (per_user["lower"] <= per_user["expected_value"]).all()
    assert (per_user["expected_value"] <= per_user["upper"]).all()
    assert (per_user["upper"] > per_user["lower"]).all()

    groups = pd.Series(np.where(cdnow["frequency"] > 0, "repeat", "one-off"), index=cdnow.index, name="kind")
    by_group = cdnow_model.expected_value_interval(cdnow, 52, groups=groups, **kw)
    assert by_group.index.name == "kind"
    point = cdnow_model.expected_value(cdnow, 52).groupby(groups).sum()
    np.testing.assert_allclose(by_group["expected_value"], point[by_group.index])
    assert by_group["n_users"].sum() == len(cdnow)
    assert (by_group["lower"] < by_group["expected_value"]).all()
    assert (by_group["expected_value"] < by_group["upper"]).all()
    # users share the parameters, so their uncertainties are strongly but not perfectly correlated:
    # the sum's width is below the sum of the users' widths, and far above independent users' sqrt-sum
    width = by_group["upper"] - by_group["lower"]
    user_width = per_user["upper"] - per_user["lower"]
    summed = user_width.groupby(groups).sum()[by_group.index]
    independent = np.sqrt((user_width**2).groupby(groups).sum()[by_group.index])
    assert (width <= summed * 1.01).all()
    assert (width > 0.6 * summed).all() and (width > 5 * independent).all()


def test_delta_and_draws_intervals_agree(cdnow, cdnow_model):
    groups = np.where(cdnow["frequency"] > 2, "frequent", "rare")
    for horizon, rate, n_draws, tol in [(52, 0.0, 2000, 0.03), (20, 0.01, 200, 0.06)]:  # discounted draws cost ~50x more
        delta = cdnow_model.expected_value_interval(cdnow, horizon, 0.95, groups=groups, daily_discount_rate=rate)
        draws = cdnow_model.expected_value_interval(
            cdnow, horizon, 0.95, groups=groups, daily_discount_rate=rate, method="draws", n_draws=n_draws
        )
        np.testing.assert_allclose(delta["expected_value"], draws["expected_value"])
        np.testing.assert_allclose(delta["lower"], draws["lower"], rtol=tol)
        np.testing.assert_allclose(delta["upper"], draws["upper"], rtol=tol)


def test_parameter_draws_follow_the_covariance(cdnow_model):
    bg, gg = cdnow_model.sample_params(4000, random_state=1)
    cov = cdnow_model.log_params_covariance_
    np.testing.assert_allclose(np.log(bg).std(axis=0), np.sqrt(np.diag(cov.loc[BG, BG])), rtol=0.06)
    assert (gg[:, 1] > 1).all()
    # delta method: sd(param) = param * sd(log param), as lifetimes' standard errors
    np.testing.assert_allclose(
        cdnow_model.bgnbd.params_[BG] * np.sqrt(np.diag(cov.loc[BG, BG])), cdnow_model.bgnbd.standard_errors_[BG],
        rtol=1e-6,
    )


def test_interval_narrows_with_more_users():
    rng = np.random.default_rng(11)
    big = simulate_bgnbd_summary(8000, 0.25, 20.0, 0.8, 2.5, rng.integers(1, 201, 8000), p=6.0, q=3.7, v=15.0,
                                 random_state=rng)
    small = big.iloc[:2000]
    widths = []
    for data in (small, big):
        model = fit_btyd(data)
        total = model.expected_value_interval(data, 90, groups=np.zeros(len(data)))
        widths.append(float(((total["upper"] - total["lower"]) / total["expected_value"]).iloc[0]))
    assert widths[1] < widths[0] * 0.75


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.assign(frequency=s["frequency"].where(s.index != 3, -1)), "negative"),
        (lambda s: s.assign(recency=s["recency"].where(s.index != 1, s["T"] + 1)), "recency > T"),
        (lambda s: s.assign(T=s["T"].where(s.index != 2, np.nan)), "NaN"),
        (lambda s: s.assign(monetary_value=s["monetary_value"].where(s.index != 1, np.inf)), "NaN/infinite"),
        (lambda s: s.assign(frequency=s["frequency"].astype(float).where(s.index != 1, 1.5)), "whole numbers"),
        (lambda s: s.assign(recency=s["recency"].where(s.index != 3, 5.0)), "frequency == 0"),
        (lambda s: s.assign(monetary_value=s["monetary_value"].where(s.index != 1, 0.0)), "must be > 0"),
        (lambda s: s.drop(columns="T"), "missing column"),
        (lambda s: s.assign(frequency="1"), "numeric"),
        (lambda s: s.iloc[:0], "no rows"),
        (lambda s: s.assign(T=0.0, recency=0.0), "observed for any time"),
    ],
)
def test_bad_summaries_raise_clear_errors(cdnow, change, message):
    # index 1: a repeat buyer; 3: a user without repeat purchases
    assert cdnow.loc[1, "frequency"] > 0 and cdnow.loc[3, "frequency"] == 0
    bad = change(cdnow)
    with pytest.raises(ValueError, match=message):
        fit_btyd(bad)


def test_bad_summary_error_names_the_rows(cdnow):
    bad = cdnow.copy()
    bad.loc[[5, 8], "recency"] = 100.0
    with pytest.raises(ValueError, match=r"\[5, 8\]"):
        fit_btyd(bad)


def test_no_repeat_buyer_and_bad_arguments(cdnow, cdnow_model):
    with pytest.raises(ValueError, match="no user with a repeat purchase"):
        fit_btyd(cdnow[cdnow["frequency"] == 0])
    with pytest.raises(ValueError, match="penalizer"):
        fit_btyd(cdnow, penalizer=-1)
    with pytest.raises(ValueError, match="horizon_days"):
        cdnow_model.expected_value(cdnow, -5)
    with pytest.raises(ValueError, match="confidence"):
        cdnow_model.expected_value_interval(cdnow, 10, confidence=1.5)
    with pytest.raises(ValueError, match="method"):
        cdnow_model.expected_value_interval(cdnow, 10, method="bootstrap")
    with pytest.raises(ValueError, match="labels"):
        cdnow_model.expected_value_interval(cdnow, 10, groups=["a", "b"])
    with pytest.raises(ValueError, match="index differs"):
        cdnow_model.expected_value_interval(cdnow, 10, groups=pd.Series("a", index=cdnow.index[::-1]))
