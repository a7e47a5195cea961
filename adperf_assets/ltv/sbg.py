"""The shifted-beta-geometric retention model (Fader & Hardie, "How to Project Customer Retention", 2007).

Maximum likelihood by damped Newton for many curves at once (the batched fits use it directly);
``ShiftedBetaGeometric`` fits one. Its likelihood for pooled cohorts: docs/ltv_cohort.md
("Retention curve").
"""

from __future__ import annotations

import numpy as np
from scipy import special

from adperf_assets.ltv.access_rate import (
    _as_1d,
    _check_non_increasing,
    _check_rate_curve,
    _check_times,
    _cohort_sizes,
    _horizons,
    _num,
)
from adperf_assets.ltv.standard_errors import _quad_se, _sums_before

_LOG_MIN, _LOG_MAX = np.log(1e-4), np.log(1e5)  # sBG alpha, beta kept in [1e-4, 1e5]


def _sbg_counts(rates: np.ndarray, sizes: np.ndarray):
    """Churners ``c[k]`` and survivors ``m[k]`` of the step k -> k+1, shape (K, T-1)."""
    n_next = sizes[:, 1:]
    churn = n_next * (rates[:, :-1] - rates[:, 1:])
    stay = n_next * rates[:, 1:]
    return churn, stay


def _sbg_loglik(log_ab: np.ndarray, churn: np.ndarray, stay: np.ndarray, derivs: bool = False):
    """Log-likelihood (K,), and gradient (K,2) / Hessian (K,2,2) in (alpha, beta) if asked."""
    a = np.exp(log_ab[:, 0])[:, None]
    b = np.exp(log_ab[:, 1])[:, None]
    k = np.arange(churn.shape[1], dtype=float)[None, :]
    x = b + k
    y = a + b + k
    at_risk = churn + stay
    with np.errstate(divide="ignore", invalid="ignore"):
        ll_terms = churn * np.log(a) + stay * np.log(x) - at_risk * np.log(y)
    ll_terms = np.where(at_risk > 0, ll_terms, 0.0)
    ll = ll_terms.sum(axis=1)
    if not derivs:
        return ll
    ry, rx = 1.0 / y, 1.0 / x
    ga = (churn / a - at_risk * ry).sum(axis=1)
    gb = (stay * rx - at_risk * ry).sum(axis=1)
    hy = (at_risk * ry * ry).sum(axis=1)
    haa = -churn.sum(axis=1) / a[:, 0] ** 2 + hy
    hbb = -(stay * rx * rx).sum(axis=1) + hy
    grad = np.stack([ga, gb], axis=1)
    hess = np.empty((len(ll), 2, 2))
    hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 0], hess[:, 1, 1] = haa, hy, hy, hbb
    return ll, grad, hess


def _sbg_start(churn: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """Start from the first-step churn share alpha / (alpha + beta) with alpha + beta = 2."""
    at_risk = churn[:, 0] + stay[:, 0]
    p1 = np.where(at_risk > 0, churn[:, 0] / np.where(at_risk > 0, at_risk, 1.0), 0.5)
    p1 = np.clip(p1, 0.02, 0.98)
    return np.log(np.stack([2.0 * p1, 2.0 * (1.0 - p1)], axis=1))


def _sbg_fit_batch(churn: np.ndarray, stay: np.ndarray, max_iter: int = 200, tol: float = 1e-10):
    """Damped Newton on -LL in (ln alpha, ln beta) for K curves at once.

    Returns log-params (K,2), LL (K,), converged (K,). Levenberg-Marquardt damping keeps every
    step a descent step; alpha and beta are kept in [1e-4, 1e5] (degenerate curves -- nobody
    or everybody churns -- end on a bound and are reported as not converged).
    """
    K = churn.shape[0]
    theta = _sbg_start(churn, stay)
    scale = np.maximum((churn + stay)[:, 0], 1.0)  # LL grows with cohort size; compare relatively
    ll = _sbg_loglik(theta, churn, stay)
    lam = np.full(K, 1e-3)
    active = np.ones(K, dtype=bool)
    converged = np.zeros(K, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        th = theta[idx]
        ll0, g, h = _sbg_loglik(th, churn[idx], stay[idx], derivs=True)
        ab = np.exp(th)
        # chain rule to log-parameters; f = -LL
        grad = -(g * ab)
        hess = -(h * ab[:, :, None] * ab[:, None, :])
        hess[:, 0, 0] -= g[:, 0] * ab[:, 0]
        hess[:, 1, 1] -= g[:, 1] * ab[:, 1]
        diag = np.abs(np.stack([hess[:, 0, 0], hess[:, 1, 1]], axis=1)) + 1e-12 * scale[idx, None]
        m00 = hess[:, 0, 0] + lam[idx] * diag[:, 0]
        m11 = hess[:, 1, 1] + lam[idx] * diag[:, 1]
        m01 = hess[:, 0, 1]
        det = m00 * m11 - m01 * m01
        pd_ok = (m00 > 0) & (det > 0)
        safe_det = np.where(pd_ok, det, 1.0)
        step = np.stack(
            [-(m11 * grad[:, 0] - m01 * grad[:, 1]), -(m00 * grad[:, 1] - m01 * grad[:, 0])], axis=1
        ) / safe_det[:, None]
        step = np.where(pd_ok[:, None], step, -grad / (diag * (1.0 + lam[idx, None])))
        step = np.clip(step, -2.0, 2.0)
        new = np.clip(th + step, _LOG_MIN, _LOG_MAX)
        ll_new = _sbg_loglik(new, churn[idx], stay[idx])
        better = ll_new >= ll0
        theta[idx[better]] = new[better]
        ll[idx[better]] = ll_new[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] / 10.0, 1e-12), lam[idx] * 10.0)
        moved = np.abs(new - th).max(axis=1)
        gain = np.abs(ll_new - ll0) / scale[idx]
        done = better & ((moved < tol) | (gain < tol * 1e-2)) | (lam[idx] > 1e12)
        small_grad = np.abs(grad).max(axis=1) / scale[idx] < 1e-9
        done |= small_grad
        converged[idx[done]] = True
        active[idx[done]] = False
    on_bound = ((theta <= _LOG_MIN + 1e-9) | (theta >= _LOG_MAX - 1e-9)).any(axis=1)
    return theta, ll, converged & ~on_bound


def _sbg_covariance(log_ab: np.ndarray, churn: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """Inverse observed information in (alpha, beta), shape (K,2,2); NaN where singular."""
    _, _, h = _sbg_loglik(log_ab, churn, stay, derivs=True)
    info = -h
    det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] * info[:, 1, 0]
    ok = (det > 0) & (info[:, 0, 0] > 0)
    cov = np.full_like(info, np.nan)
    d = det[ok]
    cov[ok, 0, 0] = info[ok, 1, 1] / d
    cov[ok, 1, 1] = info[ok, 0, 0] / d
    cov[ok, 0, 1] = cov[ok, 1, 0] = -info[ok, 0, 1] / d
    return cov


def _sbg_survival(alpha: np.ndarray, beta: np.ndarray, t: np.ndarray, grad: bool = False):
    """S(t) = B(alpha, beta + t) / B(alpha, beta) for K curves, shape (K, len(t))."""
    a, b = alpha[:, None], beta[:, None]
    tt = np.asarray(t, dtype=float)[None, :]
    s = np.exp(special.betaln(a, b + tt) - special.betaln(a, b))
    if not grad:
        return s
    psi_ab, psi_abt = special.digamma(a + b), special.digamma(a + b + tt)
    da = s * (psi_ab - psi_abt)
    db = s * (special.digamma(b + tt) - special.digamma(b) + psi_ab - psi_abt)
    return s, np.stack([da, db], axis=-1)  # (K, len(t), 2)


class ShiftedBetaGeometric:
    """Shifted-beta-geometric retention model, maximum likelihood (Fader & Hardie 2007).

    Each user churns at the end of a period with a fixed probability theta, theta ~ Beta(alpha,
    beta) across users: P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta) and
    S(t) = B(alpha, beta + t) / B(alpha, beta). Time unit = one row of the input (a day here,
    a year in the paper).
    """

    def fit(self, survivors) -> "ShiftedBetaGeometric":
        """Fit on counts: ``survivors[0]`` = cohort size, ``survivors[t]`` = still active at t."""
        s = _as_1d(survivors, "survivors", lo=0.0)
        if len(s) < 2:
            raise ValueError(f"survivors has {len(s)} periods; at least 2 are needed")
        if s[0] <= 0:
            raise ValueError(f"survivors[0] = {_num(s[0])}; the cohort size must be positive")
        _check_non_increasing(s, "survivors")
        return self._fit(s / s[0], np.full(len(s), s[0]))

    def fit_rates(self, rate, cohort_size) -> "ShiftedBetaGeometric":
        """Fit on a non-increasing rate curve (``rate[0]`` = 1) of ``cohort_size`` users.

        ``cohort_size`` is a number, or per day the summed size ``n(t)`` of the cohorts that
        reached day t (``combine_cohorts``). Survivor counts are ``rate * n``.
        """
        r = _check_rate_curve(rate)
        _check_non_increasing(r)
        return self._fit(r, _cohort_sizes(cohort_size, len(r)))

    def _fit(self, r: np.ndarray, n: np.ndarray) -> "ShiftedBetaGeometric":
        churn, stay = _sbg_counts(r[None, :], n[None, :])
        theta, ll, conv = _sbg_fit_batch(churn, stay)
        cov = _sbg_covariance(theta, churn, stay)[0]
        return self._set(np.exp(theta[0]), float(ll[0]), cov, bool(conv[0]), len(r))

    def _set(self, ab, ll, cov, converged, n_periods) -> "ShiftedBetaGeometric":
        self.params_ = {"alpha": float(ab[0]), "beta": float(ab[1])}
        self.log_likelihood_ = float(ll)
        self.covariance_ = np.asarray(cov, dtype=float)
        se = np.sqrt(np.diag(self.covariance_))
        se = np.where(np.isnan(se), np.inf, se)
        self.standard_errors_ = {"alpha": float(se[0]), "beta": float(se[1])}
        self.converged_ = converged
        self.n_periods_ = n_periods
        return self

    def _ab(self):
        if not hasattr(self, "params_"):
            raise RuntimeError("call fit() first")
        return np.array([self.params_["alpha"]]), np.array([self.params_["beta"]])

    def survival(self, t) -> np.ndarray:
        """S(t), vectorised over t >= 0 (S(0) = 1)."""
        a, b = self._ab()
        return _sbg_survival(a, b, _check_times(t))[0]

    def survival_se(self, t) -> np.ndarray:
        """Delta-method standard error of S(t) from ``covariance_``."""
        a, b = self._ab()
        _, jac = _sbg_survival(a, b, _check_times(t), grad=True)
        return _quad_se(jac, self.covariance_[None])[0]

    def cumulative(self, horizons):
        """(sum_{t<h} S(t), its standard error) per horizon h: expected active days."""
        h = _horizons(horizons)
        a, b = self._ab()
        s, jac = _sbg_survival(a, b, np.arange(h.max()), grad=True)
        return _sums_before(s, h)[0], _quad_se(_sums_before(jac, h), self.covariance_[None])[0]
