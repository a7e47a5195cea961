"""lifetimes' BG/NBD and Gamma-Gamma objectives with analytic gradients, on collapsed (weighted) rows.

The same objective as lifetimes' fitters (mean negative log-likelihood plus its penalizer, in
log-parameters), evaluated with numpy: per-frequency terms once per distinct frequency.
BG/NBD is Fader, Hardie & Lee (2005); Gamma-Gamma Fader, Hardie & Lee (2005) / Colombo & Jiang (1999).
Derivation of the terms: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: OpenBLAS threads thrash on a busy machine (docs/ltv_btyd.md)
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
