"""Per-user LTV: BG/NBD (how often) x Gamma-Gamma (how much), fitted fast and exactly as lifetimes would.

Identical summaries are collapsed into weighted rows, lifetimes' own objective is minimized with analytic
gradients (L-BFGS-B, then Newton) and the estimates are loaded into real ``lifetimes`` fitters. Likelihoods,
summary checks and the fitted model live in ``btyd_likelihood``, ``btyd_summary``, ``btyd_model``
(re-exported here). How and why: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.generate_data import beta_geometric_nbd_model
from lifetimes.utils import ConvergenceError
from scipy import optimize

from adperf_assets.ltv.btyd_likelihood import BGNBDLikelihood, GammaGammaLikelihood
from adperf_assets.ltv.btyd_model import BTYDModel
from adperf_assets.ltv.btyd_predict import (  # noqa: F401  (re-exported)
    bgnbd_discounted_alive_purchases,
    bgnbd_discounted_purchases,
    bgnbd_expected_purchases,
    bgnbd_p_alive,
    gamma_gamma_expected_spend,
    gamma_gamma_spend_weight,
)
from adperf_assets.ltv.btyd_summary import (  # noqa: F401  (re-exported)
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    SUMMARY_COLUMNS,
    _collapse,
    _one_blas_thread,
    _summary_arrays,
    validate_summary,
)

__all__ = [
    "BTYDModel",
    "BGNBDLikelihood",
    "GammaGammaLikelihood",
    "bgnbd_discounted_purchases",
    "bgnbd_expected_purchases",
    "fit_bgnbd",
    "fit_btyd",
    "fit_gamma_gamma",
    "gamma_gamma_expected_spend",
    "validate_summary",
]

# |log parameter| beyond this means the parameter is not identified by the data
_LOG_PARAM_BOUND = 30.0
_LIFETIMES_X0 = 0.1  # lifetimes starts every log-parameter at 0.1
_GRADIENT_TOLERANCE = 1e-6
_NEWTON_GTOL = 1e-9  # Newton polish target for max |gradient| of the mean objective
_WARM_START_ROWS = 20_000  # collapsed rows in the sample that finds the starting point on big inputs

# ----------------------------------------------------------------------------- the fast exact fit


def _numeric_hessian(fun, theta: np.ndarray, grad: np.ndarray | None = None, step: float = 1e-6) -> np.ndarray:
    """Hessian by differences of the analytic gradient, symmetrized.

    Forward differences when the gradient at `theta` is given (one evaluation per
    parameter; error ~1e-6 relative, plenty for Newton steps and standard errors),
    central differences otherwise.
    """
    k = theta.size
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        if grad is None:
            H[i] = (fun(theta + e)[1] - fun(theta - e)[1]) / (2 * step)
        else:
            H[i] = (fun(theta + e)[1] - grad) / step
    return (H + H.T) / 2


def _lbfgsb(fun, x0: np.ndarray, gtol: float) -> optimize.OptimizeResult:
    bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * len(x0)
    return optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 5000, "maxcor": 20, "ftol": 1e-15, "gtol": gtol},
    )


def _newton(fun, theta: np.ndarray, max_steps: int = 30) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Newton steps with backtracking from near the optimum; returns theta, value, gradient, Hessian.

    The Hessian is kept while each step shrinks the gradient at least 3-fold (it then
    converges about 20-fold per evaluation here) and retaken otherwise.
    """
    value, grad = fun(theta)
    H = _numeric_hessian(fun, theta, grad)
    for _ in range(max_steps):
        if np.max(np.abs(grad)) < _NEWTON_GTOL:
            break
        try:
            direction = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        if direction @ grad <= 0:  # H not positive definite here: not a descent direction
            break
        # near the optimum f is flat to rounding (~1e-14 relative): there the gradient decides
        noise = 1e-12 * max(1.0, abs(value))
        for t in 0.5 ** np.arange(8):
            candidate = theta - t * direction
            if np.all(np.abs(candidate) < _LOG_PARAM_BOUND):
                c_value, c_grad = fun(candidate)
                if np.isfinite(c_value) and (
                    c_value < value - noise
                    or (c_value <= value + noise and np.max(np.abs(c_grad)) < np.max(np.abs(grad)))
                ):
                    break
        else:
            break
        slow = np.max(np.abs(c_grad)) > np.max(np.abs(grad)) / 3
        theta, value, grad = candidate, c_value, c_grad
        if slow:
            H = _numeric_hessian(fun, theta, grad)
    return theta, value, grad, H


def _well_conditioned(H: np.ndarray) -> bool:
    eig = np.linalg.eigvalsh(H)
    return bool(eig[0] > 0 and eig[0] > 1e-9 * eig[-1])


def _fit_collapsed(likelihood_cls, columns, counts, penalizer, n_params: int, what: str, start=None):
    """Minimize lifetimes' objective on collapsed rows; returns log-params, objective, Hessian.

    ``start`` (log-parameters, e.g. the previous report day's optimum): Newton steps on all rows from
    there first; kept only if they reach the same gradient target and a well-conditioned Hessian as the
    polish below, else the cold paths run as if no start had been given. Same optimum to the Newton
    tolerance, a few gradient evaluations instead of an L-BFGS-B run.

    Large inputs: L-BFGS-B from lifetimes' start on a weighted random sample of the
    collapsed rows (rows heavier than 1 / sampling rate always kept, the others
    re-weighted, so the sample objective is unbiased), then Newton steps on all rows from
    there (a handful of gradient evaluations instead of ~40). Small inputs, or if that
    does not converge: L-BFGS-B on all rows, then the same Newton polish. The final
    Hessian (central differences of the analytic gradient) is lifetimes' `_hessian_`.
    BLAS is held to one thread: L-BFGS-B's tiny dense updates go through OpenBLAS, whose
    threads thrash on a busy machine (docs/ltv_btyd.md).
    """
    with _one_blas_thread():
        full = likelihood_cls(*columns, counts, penalizer)
        x0 = np.full(n_params, _LIFETIMES_X0)
        n = len(counts)
        theta = grad = None
        if start is not None:
            start = np.asarray(start, dtype=float)
            if start.shape == (n_params,) and np.all(np.abs(start) < _LOG_PARAM_BOUND - 1):
                theta, value, grad, H = _newton(full, start)
                if not (np.max(np.abs(grad)) <= 100 * _NEWTON_GTOL and _well_conditioned(H)):
                    theta = grad = None
        if theta is None and n > 2 * _WARM_START_ROWS:
            rate = _WARM_START_ROWS / n
            heavy = counts * rate >= 1
            keep = heavy | (np.random.default_rng(0).random(n) < rate)
            weights = np.where(heavy, counts, counts / rate)[keep]
            sample = likelihood_cls(*(c[keep] for c in columns), weights, penalizer)
            start = _lbfgsb(sample, x0, gtol=1e-7)
            if np.all(np.isfinite(start.x)) and np.all(np.abs(start.x) < _LOG_PARAM_BOUND - 1):
                theta, value, grad, H = _newton(full, start.x)
        if theta is None or np.max(np.abs(grad)) > 100 * _NEWTON_GTOL or not _well_conditioned(H):
            # no start, no convergence, or a flat ridge (e.g. a, b -> inf on a sample that cannot
            # tell them apart): redo it lifetimes' way on all rows
            res = _lbfgsb(full, x0, gtol=1e-10)
            theta, value, grad, H = _newton(full, res.x)
        at_bound = np.abs(theta) >= _LOG_PARAM_BOUND - 1e-6
        if at_bound.any() or not np.isfinite(value) or np.max(np.abs(grad)) > _GRADIENT_TOLERANCE:
            raise ConvergenceError(
                f"{what} fit did not converge (objective {value}, max |gradient| {np.max(np.abs(grad)):.2e}, "
                f"log-parameters {np.round(theta, 3).tolist()}). "
                "The data may not identify the parameters; try a positive penalizer."
            )
        # Newton keeps a Hessian while it converges fast, so its last one is from an earlier point (with a
        # start: another day's optimum); the covariance takes central differences at the optimum itself
        H = _numeric_hessian(full, theta)
        return theta, value, H


# ----------------------------------------------------------------------------- fitters


def fit_bgnbd(frequency, recency, T, penalizer: float = 0.0, index=None, start=None) -> BetaGeoFitter:
    """A `lifetimes.BetaGeoFitter` fitted on per-user rows, as `BetaGeoFitter(penalizer).fit` would be.

    ``start``: optional (r, alpha, a, b), alpha in days, to start the optimiser from (``_fit_collapsed``).

    Inputs are assumed valid (see `validate_summary`). The returned fitter's `data` holds
    the per-user rows with weight 1, exactly like a fit on the raw rows, so lifetimes'
    plotting functions (which count users in `data`) stay correct.
    """
    x = np.asarray(frequency).astype(np.int64)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    scale = 1.0 / T.max()  # lifetimes._scale_time
    (ux, utx, uT), counts, _ = _collapse(x, tx, T)
    theta0 = None
    if start is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            theta0 = np.log(np.asarray(start, dtype=float) * np.array([1.0, scale, 1.0, 1.0]))
    theta, value, H = _fit_collapsed(BGNBDLikelihood, (ux, utx * scale, uT * scale), counts, penalizer, 4, "BG/NBD",
                                     start=theta0)

    fitter = BetaGeoFitter(penalizer_coef=penalizer)
    fitter._scale = scale
    fitter._negative_log_likelihood_ = value
    fitter._hessian_ = H
    fitter.params_ = pd.Series(np.exp(theta), index=list(BGNBD_PARAMS))
    fitter.params_["alpha"] /= scale
    fitter.data = pd.DataFrame(
        {"frequency": x, "recency": tx, "T": T, "weights": np.ones_like(tx, dtype=int)}, index=index
    )
    fitter.generate_new_data = lambda size=1: beta_geometric_nbd_model(
        T, *fitter._unload_params(*BGNBD_PARAMS), size=size
    )
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    _set_errors(fitter, len(x))
    fitter.n_collapsed_rows_ = len(counts)
    return fitter


def _set_errors(fitter, n_users: int) -> None:
    """lifetimes' ``variance_matrix_``, ``standard_errors_`` and ``confidence_intervals_``, the same arithmetic
    as its ``_compute_*`` methods in numpy (theirs cost a few pandas operations each, per fit of every day)."""
    params = fitter.params_
    p = params.to_numpy()
    variance = p**2 * np.linalg.inv(fitter._hessian_) / n_users  # data["weights"].sum(): one per user
    se = np.sqrt(np.diag(variance))
    fitter.variance_matrix_ = pd.DataFrame(variance, columns=params.index, index=params.index)
    fitter.standard_errors_ = pd.Series(se, index=params.index)
    fitter.confidence_intervals_ = pd.DataFrame(
        {"lower 95% bound": p - 1.96 * se, "upper 95% bound": p + 1.96 * se}, index=params.index)


def fit_gamma_gamma(frequency, monetary_value, penalizer: float = 0.0, index=None, start=None) -> GammaGammaFitter:
    """A `lifetimes.GammaGammaFitter` fitted on repeat buyers, as `GammaGammaFitter(penalizer).fit` would be;
    ``start``: optional (p, q, v) to start the optimiser from."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    (ux, um), counts, _ = _collapse(x, m)
    theta0 = None
    if start is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            theta0 = np.log(np.asarray(start, dtype=float))
    theta, value, H = _fit_collapsed(GammaGammaLikelihood, (ux, um), counts, penalizer, 3, "Gamma-Gamma", start=theta0)

    fitter = GammaGammaFitter(penalizer_coef=penalizer)
    fitter._negative_log_likelihood_ = value
    fitter._hessian_ = H
    fitter.data = pd.DataFrame(
        {"monetary_value": m, "frequency": x, "weights": np.ones_like(x, dtype=int)}, index=index
    )
    fitter.params_ = pd.Series(np.exp(theta), index=list(GAMMA_GAMMA_PARAMS))
    _set_errors(fitter, len(x))
    fitter.n_collapsed_rows_ = len(counts)
    return fitter


def fit_btyd(summary: pd.DataFrame, penalizer: float = 0.0, start=None) -> BTYDModel:
    """Fit BG/NBD on every user and Gamma-Gamma on repeat buyers (frequency > 0) of `summary`.

    `summary` is in lifetimes' convention (``btyd_summary``; `rfm_summary` builds it
    from daily revenue rows). `penalizer` is applied to both models as lifetimes'
    `penalizer_coef`. Raises ValueError on malformed summaries and
    `lifetimes.utils.ConvergenceError` (a ValueError) if a fit does not converge. ``start``: optional
    7 parameters (r, alpha, a, b, p, q, v; e.g. yesterday's fit) the optimisers start from; the optimum
    is the same to optimiser tolerance (a day refitted cold agrees with it in a range run).
    """
    validate_summary(summary)
    if not np.isfinite(penalizer) or penalizer < 0:
        raise ValueError(f"penalizer must be a finite number >= 0, got {penalizer!r}")
    x, tx, T, m = _summary_arrays(summary)
    repeat = x > 0
    if not repeat.any():
        raise ValueError("summary has no user with a repeat purchase (frequency > 0); Gamma-Gamma cannot be fitted")
    start = None if start is None else np.asarray(start, dtype=float)
    bgnbd = fit_bgnbd(x, tx, T, penalizer, index=summary.index, start=None if start is None else start[:4])
    gamma_gamma = fit_gamma_gamma(x[repeat], m[repeat], penalizer, index=summary.index[repeat],
                                  start=None if start is None else start[4:])

    cov = np.zeros((7, 7))
    cov[:4, :4] = np.linalg.inv(bgnbd._hessian_) / len(summary)
    cov[4:, 4:] = np.linalg.inv(gamma_gamma._hessian_) / int(repeat.sum())
    names = list(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)
    return BTYDModel(
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        log_params_covariance_=pd.DataFrame(cov, index=names, columns=names),
        n_users_=len(summary),
        n_repeat_buyers_=int(repeat.sum()),
        collapsed_rows_={"bgnbd": bgnbd.n_collapsed_rows_, "gamma_gamma": gamma_gamma.n_collapsed_rows_},
    )
