"""Per-user LTV: BG/NBD (how often) x Gamma-Gamma (how much), fitted fast on millions of users.

lifetimes' fitters differentiate the likelihood of every raw row with autograd, which
takes tens of seconds per million users. Here users with identical summaries are
collapsed into one weighted row, the likelihoods and their analytic gradients are
evaluated with numpy on the collapsed rows (the special functions only once per
distinct frequency) and minimized with L-BFGS-B plus a Newton polish. The objective is
lifetimes' own (mean negative log-likelihood over users, the same time scaling
1 / max(T), initial point and penalizer `penalizer * sum(params**2)`), so the
estimates are lifetimes' estimates; they are loaded into real `lifetimes` fitters so
lifetimes' prediction and plotting functions work on the result.

Summary convention (lifetimes'): one row per user; `frequency` = number of repeat
purchases (purchase days after the first one), `recency` = age at the last repeat
purchase (0 if none), `T` = age at the end of observation, `monetary_value` = mean
value of the repeat purchases (ignored when frequency is 0). Times in days here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.generate_data import beta_geometric_nbd_model
from lifetimes.utils import ConvergenceError
from scipy import optimize, special
from threadpoolctl import threadpool_limits

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")

# |log parameter| beyond this means the parameter is not identified by the data
_LOG_PARAM_BOUND = 30.0
_LIFETIMES_X0 = 0.1  # lifetimes starts every log-parameter at 0.1
_GRADIENT_TOLERANCE = 1e-6
_NEWTON_GTOL = 1e-9  # Newton polish target for max |gradient| of the mean objective
_WARM_START_ROWS = 20_000  # collapsed rows in the sample that finds the starting point on big inputs


# ----------------------------------------------------------------------------- input checks


def _examples(index: pd.Index, mask: np.ndarray, limit: int = 5) -> str:
    labels = list(index[mask][:limit])
    more = int(mask.sum()) - len(labels)
    return f"{labels}" + (f" and {more} more" if more > 0 else "")


def validate_summary(summary: pd.DataFrame, *, monetary: bool = True) -> None:
    """Raise ValueError naming the rows and field if `summary` breaks lifetimes' convention."""
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    needed = SUMMARY_COLUMNS if monetary else SUMMARY_COLUMNS[:3]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(
            f"summary is missing column(s) {missing}; expected {list(needed)} "
            "(lifetimes' convention, one row per user, times in days)"
        )
    if len(summary) == 0:
        raise ValueError("summary has no rows")
    values = {}
    for col in needed:
        if not (pd.api.types.is_numeric_dtype(summary[col]) and not pd.api.types.is_bool_dtype(summary[col])):
            raise ValueError(f"summary column {col!r} must be numeric, got dtype {summary[col].dtype}")
        v = summary[col].to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v)
        if bad.any():
            raise ValueError(f"summary column {col!r} has NaN/infinite values at index {_examples(summary.index, bad)}")
        neg = v < 0
        if neg.any():
            raise ValueError(f"summary column {col!r} has negative values at index {_examples(summary.index, neg)}")
        values[col] = v
    x, tx, T = values["frequency"], values["recency"], values["T"]
    frac = x != np.floor(x)
    if frac.any():
        raise ValueError(
            f"summary column 'frequency' must count repeat purchases (whole numbers); "
            f"non-integer at index {_examples(summary.index, frac)}"
        )
    late = tx > T
    if late.any():
        raise ValueError(
            f"summary has recency > T (last purchase after the end of observation) at index "
            f"{_examples(summary.index, late)}"
        )
    orphan = (x == 0) & (tx != 0)
    if orphan.any():
        raise ValueError(
            f"summary has recency != 0 with frequency == 0 (lifetimes' convention: no repeat purchase "
            f"means recency 0) at index {_examples(summary.index, orphan)}"
        )
    if not (T > 0).any():
        raise ValueError("summary column 'T' is 0 for every user; nobody has been observed for any time")
    if monetary:
        free = (x > 0) & (values["monetary_value"] <= 0)
        if free.any():
            raise ValueError(
                f"summary column 'monetary_value' must be > 0 for users with repeat purchases "
                f"(Gamma-Gamma); <= 0 at index {_examples(summary.index, free)}"
            )


def _collapse(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of `columns`, the count of each, and each input row's distinct-row number."""
    n = len(columns[0])
    key = _whole_number_key(columns)
    if key is None:  # general values: number each column, then the combinations
        key = np.zeros(n, dtype=np.int64)
        span = 1
        for col in columns:
            codes, uniques = pd.factorize(col, sort=False)
            if span * len(uniques) >= 2**62:  # re-number before the combined code could overflow
                key, distinct_keys = pd.factorize(key, sort=False)
                span = len(distinct_keys)
            key = key * len(uniques) + codes
            span *= len(uniques)
    inverse, _ = pd.factorize(key, sort=False)
    inverse = np.asarray(inverse, dtype=np.int64)
    n_distinct = int(inverse.max()) + 1 if n else 0
    counts = np.bincount(inverse, minlength=n_distinct).astype(float)
    distinct = []
    for col in columns:
        rep = np.empty(n_distinct, dtype=np.asarray(col).dtype)
        rep[inverse] = col  # every row of a group carries the same value
        distinct.append(rep)
    return distinct, counts, inverse


def _whole_number_key(columns) -> np.ndarray | None:
    """One int64 code per row when every column holds small whole numbers (day counts), else None."""
    key = None
    span = 1
    for col in columns:
        col = np.asarray(col)
        if col.dtype.kind == "f":
            if not np.array_equal(col, np.floor(col)):
                return None
        elif col.dtype.kind not in "iu":
            return None
        lo, hi = col.min(), col.max()
        if lo < 0 or (hi + 1) * span >= 2**62:
            return None
        key = col.astype(np.int64) if key is None else key * int(hi + 1) + col.astype(np.int64)
        span *= int(hi + 1)
    return key


# ----------------------------------------------------------------------------- likelihoods


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: OpenBLAS threads thrash on a busy machine (a 150k-element `@` measured 10x slower)
    return float(np.einsum("i,i->", u, v))


class BGNBDLikelihood:
    """lifetimes' BG/NBD objective and its analytic gradient, on collapsed rows.

    Objective (same as `BetaGeoFitter._negative_log_likelihood`): minus the weighted mean
    log-likelihood plus `penalizer * sum(exp(log_params)**2)`, in log-parameters
    (log r, log alpha, log a, log b), with times as given (lifetimes passes them scaled
    by 1 / max(T)).

    Per row, ll = A1 + A2 + logaddexp(A3, A4 [x > 0]) with
    A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = ln B(a, b+x) - ln B(a, b),
    A3 = -(r+x) ln(alpha+T), A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x).
    A1 + A2 depend only on x, so they are evaluated once per distinct frequency;
    for x = 0 the row reduces to -r ln(alpha+T) (plus r ln(alpha) in A1).
    """

    def __init__(self, frequency, recency, T, weights, penalizer_coef: float = 0.0):
        x = np.asarray(frequency, dtype=np.int64)
        tx = np.asarray(recency, dtype=float)
        T = np.asarray(T, dtype=float)
        w = np.asarray(weights, dtype=float)
        self.penalizer_coef = float(penalizer_coef)
        self.total_weight = float(w.sum())
        self.n_rows = len(w)
        per_x = np.bincount(x, weights=w)
        self._x_values = np.flatnonzero(per_x).astype(float)
        self._x_weights = per_x[per_x > 0]
        zero = x == 0
        self._T0, self._w0 = T[zero], w[zero]
        rep = ~zero
        self._x, self._tx, self._T, self._w = x[rep].astype(float), tx[rep], T[rep], w[rep]

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(np.asarray(log_params, dtype=float))
        r, alpha, a, b = params
        W = self.total_weight
        xs, nx = self._x_values, self._x_weights

        # terms that depend on x only
        A12 = (
            special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha)
            + special.gammaln(a + b) + special.gammaln(b + xs) - special.gammaln(b) - special.gammaln(a + b + xs)
        )
        ll = _dot(nx, A12)
        dig_r, dig_ab = special.digamma(r), special.digamma(a + b)
        dig_abx = special.digamma(a + b + xs)
        g_r = _dot(nx, special.digamma(r + xs) - dig_r + np.log(alpha))
        g_alpha = W * r / alpha
        g_a = _dot(nx, dig_ab - dig_abx)
        g_b = _dot(nx, dig_ab + special.digamma(b + xs) - special.digamma(b) - dig_abx)

        # users without a repeat purchase: -r ln(alpha + T)
        if self._T0.size:
            lnT0 = np.log(alpha + self._T0)
            w0_lnT0 = _dot(self._w0, lnT0)
            ll -= r * w0_lnT0
            g_r -= w0_lnT0
            g_alpha -= r * _dot(self._w0, 1.0 / (alpha + self._T0))

        # repeat buyers: A3 + softplus(A4 - A3)
        if self._x.size:
            x, tx, T, w = self._x, self._tx, self._T, self._w
            c = r + x
            inv_T, inv_tx = 1.0 / (alpha + T), 1.0 / (alpha + tx)
            lnT = np.log(alpha + T)
            D = np.log(alpha + tx) - lnT  # <= 0 since t_x <= T
            inv_bx = 1.0 / (b + x - 1.0)
            d = np.log(a) + np.log(inv_bx) - c * D  # A4 - A3
            softplus = np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))
            ll += _dot(w, softplus - c * lnT)
            p4 = special.expit(d)  # weight of the "dropped out after t_x" branch
            wp4 = w * p4
            g_r += -_dot(w, lnT) - _dot(wp4, D)
            g_alpha += _dot(w, c * (p4 * (inv_T - inv_tx) - inv_T))
            g_a += wp4.sum() / a
            g_b -= _dot(wp4, inv_bx)

        grad_params = np.array([g_r, g_alpha, g_a, g_b])
        value = -ll / W + self.penalizer_coef * np.sum(params**2)
        grad = -grad_params * params / W + 2.0 * self.penalizer_coef * params**2
        return float(value), grad


class GammaGammaLikelihood:
    """lifetimes' Gamma-Gamma objective and its analytic gradient, on collapsed rows.

    Same objective as `GammaGammaFitter._negative_log_likelihood` (mean over repeat
    buyers, log-parameters log p, log q, log v, penalizer on the parameters). Only
    ln(x m + v) has to be evaluated per row; everything else is a per-frequency table or a
    constant of the data.
    """

    def __init__(self, frequency, monetary_value, weights, penalizer_coef: float = 0.0):
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        w = np.asarray(weights, dtype=float)
        self.penalizer_coef = float(penalizer_coef)
        self.total_weight = W = float(w.sum())
        self.n_rows = len(w)
        per_x = np.bincount(x.astype(np.int64), weights=w)
        self._x_values = np.flatnonzero(per_x).astype(float)
        self._x_weights = per_x[per_x > 0]
        self._x, self._xm, self._w, self._wx = x, x * m, w, w * x
        lnm, lnx = np.log(m), np.log(x)
        self._S_lnm = _dot(w, lnm)
        self._S_xlnm = _dot(w, x * lnm)
        self._S_xlnx = _dot(w, x * lnx)
        self._W = W

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(np.asarray(log_params, dtype=float))
        p, q, v = params
        W = self._W
        xs, nx = self._x_values, self._x_weights
        px = p * xs
        L = np.log(self._xm + v)
        wL = _dot(self._w, L)
        wxL = _dot(self._wx, L)
        ll = (
            _dot(nx, special.gammaln(px + q) - special.gammaln(px))
            - W * special.gammaln(q) + W * q * np.log(v)
            + p * self._S_xlnm - self._S_lnm + p * self._S_xlnx
            - p * wxL - q * wL
        )
        dig_pxq = special.digamma(px + q)
        g_p = _dot(nx, xs * (dig_pxq - special.digamma(px))) + self._S_xlnm + self._S_xlnx - wxL
        g_q = _dot(nx, dig_pxq) - W * special.digamma(q) + W * np.log(v) - wL
        g_v = W * q / v - _dot(self._w, (p * self._x + q) / (self._xm + v))
        grad_params = np.array([g_p, g_q, g_v])
        value = -ll / W + self.penalizer_coef * np.sum(params**2)
        grad = -grad_params * params / W + 2.0 * self.penalizer_coef * params**2
        return float(value), grad


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


def _fit_collapsed(likelihood_cls, columns, counts, penalizer, n_params: int, what: str):
    """Minimize lifetimes' objective on collapsed rows; returns log-params, objective, Hessian.

    Large inputs: L-BFGS-B from lifetimes' start on a weighted random sample of the
    collapsed rows (rows heavier than 1 / sampling rate always kept, the others
    re-weighted, so the sample objective is unbiased), then Newton steps on all rows from
    there (a handful of gradient evaluations instead of ~40). Small inputs, or if that
    does not converge: L-BFGS-B on all rows, then the same Newton polish. The final
    Hessian (central differences of the analytic gradient) is lifetimes' `_hessian_`.
    BLAS is held to one thread: L-BFGS-B's tiny dense updates go through OpenBLAS, whose
    threads made each iteration ~10x slower on a busy 2-core machine (measured).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        full = likelihood_cls(*columns, counts, penalizer)
        x0 = np.full(n_params, _LIFETIMES_X0)
        n = len(counts)
        theta = grad = None
        if n > 2 * _WARM_START_ROWS:
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
        return theta, value, H


# ----------------------------------------------------------------------------- fitters


def fit_bgnbd(frequency, recency, T, penalizer: float = 0.0, index=None) -> BetaGeoFitter:
    """A `lifetimes.BetaGeoFitter` fitted on per-user rows, as `BetaGeoFitter(penalizer).fit` would be.

    Inputs are assumed valid (see `validate_summary`). The returned fitter's `data` holds
    the per-user rows with weight 1, exactly like a fit on the raw rows, so lifetimes'
    plotting functions (which count users in `data`) stay correct.
    """
    x = np.asarray(frequency).astype(np.int64)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    scale = 1.0 / T.max()  # lifetimes._scale_time
    (ux, utx, uT), counts, _ = _collapse(x, tx, T)
    theta, value, H = _fit_collapsed(BGNBDLikelihood, (ux, utx * scale, uT * scale), counts, penalizer, 4, "BG/NBD")

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
    fitter.variance_matrix_ = fitter._compute_variance_matrix()
    fitter.standard_errors_ = fitter._compute_standard_errors()
    fitter.confidence_intervals_ = fitter._compute_confidence_intervals()
    fitter.n_collapsed_rows_ = len(counts)
    return fitter


def fit_gamma_gamma(frequency, monetary_value, penalizer: float = 0.0, index=None) -> GammaGammaFitter:
    """A `lifetimes.GammaGammaFitter` fitted on repeat buyers, as `GammaGammaFitter(penalizer).fit` would be."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    (ux, um), counts, _ = _collapse(x, m)
    theta, value, H = _fit_collapsed(GammaGammaLikelihood, (ux, um), counts, penalizer, 3, "Gamma-Gamma")

    fitter = GammaGammaFitter(penalizer_coef=penalizer)
    fitter._negative_log_likelihood_ = value
    fitter._hessian_ = H
    fitter.data = pd.DataFrame(
        {"monetary_value": m, "frequency": x, "weights": np.ones_like(x, dtype=int)}, index=index
    )
    fitter.params_ = pd.Series(np.exp(theta), index=list(GAMMA_GAMMA_PARAMS))
    fitter.variance_matrix_ = fitter._compute_variance_matrix()
    fitter.standard_errors_ = fitter._compute_standard_errors()
    fitter.confidence_intervals_ = fitter._compute_confidence_intervals()
    fitter.n_collapsed_rows_ = len(counts)
    return fitter


# ----------------------------------------------------------------------------- predictions


def bgnbd_expected_purchases(r, alpha, a, b, t, frequency, recency, T) -> np.ndarray:
    """E[repeat purchases in (T, T+t] | x, t_x, T], FHL (2005) eq. 10, broadcasting over all inputs.

    Same formula as lifetimes' `conditional_expected_number_of_purchases_up_to_time`,
    including its Euler-transform fallback when 2F1 overflows, with two fixes: 2F1 may be
    negative (c = a + b + x - 1 < 0, i.e. x = 0 and a + b < 1, which parameter draws
    reach), where lifetimes' log(2F1) gives NaN, so the sign is carried separately; and
    the P(alive) denominator is evaluated as a logistic so large frequencies do not overflow.
    """
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    _a, _b, _c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hyp = special.hyp2f1(_a, _b, _c, z)
        ln_hyp, sign = np.log(np.abs(hyp)), np.sign(hyp)
        bad = ~np.isfinite(hyp)
        if np.any(bad):
            alt = special.hyp2f1(_c - _a, _c - _b, _c, z)
            ln_hyp = np.where(bad, np.log(np.abs(alt)) + (_c - _a - _b) * np.log1p(-z), ln_hyp)
            sign = np.where(bad, np.sign(alt), sign)
        second = 1.0 - sign * np.exp(ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + t + T)))
        first = (a + b + x - 1) / (a - 1)
        log_odds_dead = np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (
            np.log(alpha + T) - np.log(alpha + tx)
        )
        p_alive = np.where(x > 0, special.expit(-log_odds_dead), 1.0)
    return first * second * p_alive


def _discount_nodes(horizon_days: float, n_per_piece: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes/weights on [0, H], pieces [0,1], [1,2], [2,4], ... (E(t) bends fastest near 0)."""
    edges = [0.0]
    step = 1.0
    while edges[-1] + step < horizon_days:
        edges.append(min(edges[-1] + step, horizon_days))
        step = edges[-1]  # doubling
    edges.append(float(horizon_days))
    gx, gw = np.polynomial.legendre.leggauss(n_per_piece)
    nodes, weights = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        nodes.append((hi - lo) / 2 * gx + (hi + lo) / 2)
        weights.append((hi - lo) / 2 * gw)
    return np.concatenate(nodes), np.concatenate(weights)


def bgnbd_discounted_purchases(r, alpha, a, b, horizon_days, frequency, recency, T, daily_discount_rate) -> np.ndarray:
    """Expected repeat purchases in the next `horizon_days`, each discounted by (1+rate)^-t at time t.

    Continuous discounting of the expected purchase curve E(t):
    int_0^H (1+d)^-t dE(t) = (1+d)^-H E(H) + ln(1+d) int_0^H (1+d)^-t E(t) dt,
    the integral by composite Gauss-Legendre (accurate to ~1e-9 relative, tested).
    """
    E_H = bgnbd_expected_purchases(r, alpha, a, b, horizon_days, frequency, recency, T)
    if daily_discount_rate == 0 or horizon_days == 0:
        return E_H
    log_d = np.log1p(daily_discount_rate)
    total = np.exp(-log_d * horizon_days) * E_H
    nodes, weights = _discount_nodes(horizon_days)
    for s, wgt in zip(nodes, weights):
        total = total + log_d * wgt * np.exp(-log_d * s) * bgnbd_expected_purchases(
            r, alpha, a, b, s, frequency, recency, T
        )
    return total


def gamma_gamma_expected_spend(p, q, v, frequency, monetary_value) -> np.ndarray:
    """E[value of a future purchase | x, m]: a credibility mix of m and the population mean v p / (q - 1)."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    weight = p * x / (p * x + q - 1)
    population_mean = v * p / (q - 1)
    return np.where(x > 0, (1 - weight) * population_mean + weight * m, population_mean)


def _check_horizon(horizon_days: float, daily_discount_rate: float) -> None:
    if not np.isfinite(horizon_days) or horizon_days < 0:
        raise ValueError(f"horizon_days must be a finite number >= 0, got {horizon_days!r}")
    if not np.isfinite(daily_discount_rate) or daily_discount_rate < 0:
        raise ValueError(f"daily_discount_rate must be a finite number >= 0, got {daily_discount_rate!r}")


@dataclass
class BTYDModel:
    """A fitted BG/NBD + Gamma-Gamma pair (`fit_btyd`), plus the covariance of its log-parameters.

    `log_params_covariance_` is the inverse Hessian of the total (not mean) penalized
    negative log-likelihood in (log r, log alpha[days], log a, log b, log p, log q, log v);
    the two models have separate likelihoods, so it is block-diagonal. (lifetimes'
    own `variance_matrix_` is kept on the fitters as lifetimes computes it; its off-diagonal
    entries are not a proper delta-method covariance, its diagonal is.)
    """

    bgnbd: BetaGeoFitter
    gamma_gamma: GammaGammaFitter
    log_params_covariance_: pd.DataFrame
    n_users_: int
    n_repeat_buyers_: int
    collapsed_rows_: dict = field(default_factory=dict)

    @property
    def params_(self) -> pd.Series:
        return pd.concat([self.bgnbd.params_, self.gamma_gamma.params_])

    def _check_gamma_gamma(self, q: float) -> None:
        if q <= 1:
            raise ValueError(
                f"Gamma-Gamma q = {q:.4g} <= 1: the population mean spend v p / (q - 1) is not finite; "
                "refit with a penalizer or check monetary_value"
            )

    def expected_purchases(self, summary: pd.DataFrame, horizon_days: float, daily_discount_rate: float = 0.0) -> pd.Series:
        """Expected repeat purchase-days per user in the next `horizon_days` (discounted if a rate is given)."""
        validate_summary(summary, monetary=False)
        _check_horizon(horizon_days, daily_discount_rate)
        (ux, utx, uT), _, inverse = _collapse(*_summary_arrays(summary)[:3])
        values = bgnbd_discounted_purchases(
            *self.bgnbd.params_[list(BGNBD_PARAMS)], horizon_days, ux, utx, uT, daily_discount_rate
        )
        return pd.Series(values[inverse], index=summary.index, name="expected_purchases")

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Gamma-Gamma expected value per future purchase; users with frequency 0 get the population mean."""
        validate_summary(summary)
        p, q, v = self.gamma_gamma.params_[list(GAMMA_GAMMA_PARAMS)]
        self._check_gamma_gamma(q)
        x, _, _, m = _summary_arrays(summary)
        return pd.Series(gamma_gamma_expected_spend(p, q, v, x, m), index=summary.index, name="expected_spend")

    def expected_value(self, summary: pd.DataFrame, horizon_days: float, daily_discount_rate: float = 0.0) -> pd.Series:
        """Expected revenue per user over the next `horizon_days`, in the currency of `monetary_value`.

        BG/NBD expected purchases x Gamma-Gamma expected spend (the usual independence
        assumption of the pair). With `daily_discount_rate` d, revenue expected t days
        after the end of observation is worth (1+d)^-t.
        """
        purchases = self.expected_purchases(summary, horizon_days, daily_discount_rate)
        spend = self.expected_spend(summary)
        return (purchases * spend).rename("expected_value")

    def sample_log_params(self, n_draws: int, random_state=0) -> tuple[np.ndarray, np.ndarray]:
        """Parameter draws from the asymptotic normal of the log-parameters (BG/NBD rows, Gamma-Gamma rows).

        Gamma-Gamma draws with q <= 1 (infinite mean spend) are redrawn.
        """
        rng = np.random.default_rng(random_state)
        cov = self.log_params_covariance_.to_numpy()
        bg_mean = np.log(self.bgnbd.params_[list(BGNBD_PARAMS)].to_numpy(dtype=float))
        gg_mean = np.log(self.gamma_gamma.params_[list(GAMMA_GAMMA_PARAMS)].to_numpy(dtype=float))
        bg = np.exp(rng.multivariate_normal(bg_mean, cov[:4, :4], size=n_draws))
        gg = np.empty((0, 3))
        for _ in range(20):
            more = np.exp(rng.multivariate_normal(gg_mean, cov[4:, 4:], size=2 * n_draws))
            gg = np.vstack([gg, more[more[:, 1] > 1]])
            if len(gg) >= n_draws:
                return bg, gg[:n_draws]
        raise ValueError(
            "Gamma-Gamma q is too uncertain: most parameter draws have q <= 1 (infinite mean spend); "
            "an interval cannot be sampled"
        )

    def expected_value_interval(
        self,
        summary: pd.DataFrame,
        horizon_days: float,
        confidence: float = 0.99,
        n_draws: int = 500,
        groups=None,
        daily_discount_rate: float = 0.0,
        random_state=0,
        chunk_size: int = 20_000,
    ) -> pd.DataFrame:
        """Expected value with an interval from the parameters' estimation uncertainty.

        Method: draw `n_draws` parameter sets from the asymptotic normal of the
        log-parameters (mean = MLE, covariance = `log_params_covariance_`; log space keeps
        every draw positive), recompute the expected value under each draw, and take the
        central `confidence` quantiles. `expected_value` is the value at the MLE.

        Without `groups`: one row per user (index of `summary`). With `groups` (labels
        aligned with `summary`, e.g. cohort x segment): one row per group, for the SUM over
        its users, the quantiles taken on the per-draw sums (so users' shared parameter
        uncertainty adds up correctly), plus `n_users`.

        What it does not cover: the Poisson/spend noise of individual users (it is an
        interval on the expected value, not a prediction interval on realised revenue) and
        model misspecification; the back-test's coverage measures how much that matters.
        Cost: about n_draws x (distinct (frequency, recency, T) rows) 2F1 evaluations.
        """
        validate_summary(summary)
        _check_horizon(horizon_days, daily_discount_rate)
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        if n_draws < 2:
            raise ValueError(f"n_draws must be >= 2, got {n_draws!r}")
        q_lo, q_hi = (1 - confidence) / 2, 1 - (1 - confidence) / 2
        point = self.expected_value(summary, horizon_days, daily_discount_rate)
        bg, gg = self.sample_log_params(n_draws, random_state)
        x, tx, T, m = _summary_arrays(summary)
        (ux, utx, uT), _, inverse = _collapse(x, tx, T)

        def purchases(rows: np.ndarray) -> np.ndarray:  # (len(rows), n_draws)
            return bgnbd_discounted_purchases(
                bg[:, 0], bg[:, 1], bg[:, 2], bg[:, 3], horizon_days,
                ux[rows, None], utx[rows, None], uT[rows, None], daily_discount_rate,
            )

        def spend(users: np.ndarray) -> np.ndarray:  # (len(users), n_draws)
            return gamma_gamma_expected_spend(gg[:, 0], gg[:, 1], gg[:, 2], x[users, None], m[users, None])

        if groups is None:
            lower = np.empty(len(summary))
            upper = np.empty(len(summary))
            order = np.argsort(inverse, kind="stable")  # users sharing a row sit together
            for start in range(0, len(order), chunk_size):
                users = order[start:start + chunk_size]
                rows, local = np.unique(inverse[users], return_inverse=True)
                draws = purchases(rows)[local] * spend(users)
                lower[users], upper[users] = np.quantile(draws, [q_lo, q_hi], axis=1)
            return pd.DataFrame({"expected_value": point.to_numpy(), "lower": lower, "upper": upper}, index=summary.index)

        labels = pd.Series(groups, index=summary.index) if not isinstance(groups, pd.Series) else groups
        if len(labels) != len(summary):
            raise ValueError(f"groups has {len(labels)} labels for {len(summary)} summary rows")
        codes, uniques = pd.factorize(labels.to_numpy(), use_na_sentinel=False)
        n_groups = len(uniques)
        sums = np.zeros((n_groups, n_draws))
        for start in range(0, len(summary), chunk_size):
            users = np.arange(start, min(start + chunk_size, len(summary)))
            rows, local = np.unique(inverse[users], return_inverse=True)
            draws = purchases(rows)[local] * spend(users)
            np.add.at(sums, codes[users], draws)
        lo, hi = np.quantile(sums, [q_lo, q_hi], axis=1)
        point_sums = np.bincount(codes, weights=point.to_numpy(), minlength=n_groups)
        return pd.DataFrame(
            {
                "expected_value": point_sums,
                "lower": lo,
                "upper": hi,
                "n_users": np.bincount(codes, minlength=n_groups),
            },
            index=pd.Index(uniques, name=labels.name),
        )


def _summary_arrays(summary: pd.DataFrame):
    x = summary["frequency"].to_numpy(dtype=float).astype(np.int64)
    tx = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    m = summary["monetary_value"].to_numpy(dtype=float) if "monetary_value" in summary.columns else None
    return x, tx, T, m


def fit_btyd(summary: pd.DataFrame, penalizer: float = 0.0) -> BTYDModel:
    """Fit BG/NBD on every user and Gamma-Gamma on repeat buyers (frequency > 0) of `summary`.

    `summary` is in lifetimes' convention (see module docstring; `rfm_summary` builds it
    from daily revenue rows). `penalizer` is applied to both models as lifetimes'
    `penalizer_coef`. Raises ValueError on malformed summaries and
    `lifetimes.utils.ConvergenceError` (a ValueError) if a fit does not converge.
    """
    validate_summary(summary)
    if not np.isfinite(penalizer) or penalizer < 0:
        raise ValueError(f"penalizer must be a finite number >= 0, got {penalizer!r}")
    x, tx, T, m = _summary_arrays(summary)
    repeat = x > 0
    if not repeat.any():
        raise ValueError("summary has no user with a repeat purchase (frequency > 0); Gamma-Gamma cannot be fitted")
    bgnbd = fit_bgnbd(x, tx, T, penalizer, index=summary.index)
    gamma_gamma = fit_gamma_gamma(x[repeat], m[repeat], penalizer, index=summary.index[repeat])

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
