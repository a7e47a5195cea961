"""Retention curves of the studio method (seed 002): cleaned access rate, rational NLS, sBG MLE, their average.

The seed estimates retention from the *access rate* -- the share of an install cohort that
is active on day ``t`` after install -- instead of waiting to decide who churned. Days are
indexed ``t = 0, 1, 2, ...`` (``t = 0`` is the install day, rate 1). Steps:

1. ``clean_access_rate(rates)``: where a day's rate rises above an earlier day's, replace it
   with the minimum so far (a running minimum), so the curve can be read as survival.
2. Fit two models to the cleaned curve; the seed found the rational curve under- and the
   sBG over-estimates late retention, so the answer is their average. (On a population
   that is exactly sBG the sBG fit is unbiased and the rational one low, so the average
   ran 6-10% low there; on real data the seed saw the errors cancel.)

API (no Dagster here; the asset layer calls these)
-------------------------------------------------
``clean_access_rate(rates) -> ndarray``
``ShiftedBetaGeometric().fit(survivors)``  Fader & Hardie (2007) MLE on a survivor count series;
    ``.fit_rates(rate, cohort_size)`` the same from a (cleaned) access-rate curve, where
    ``cohort_size`` is a number or the per-day ``n(t)`` of combined cohorts (see below).
    Fitted: ``params_ {"alpha","beta"}``, ``log_likelihood_``, ``covariance_`` (inverse observed
    information; NaN, and standard errors inf, when it is singular -- nobody or everybody
    churned -- and ``converged_`` False), ``standard_errors_``; ``survival(t)``,
    ``survival_se(t)``, ``cumulative(h)``.
``RationalRetention().fit(t, rate, weights=None)``  r(t) = (a + b t) / (1 + c t + d t^2), NLS
    (``scipy.optimize.least_squares``, three starts, the best kept) under 0 <= a <= 1,
    c >= 0, d >= 0, 0 <= b <= a c, which keeps r in [0, 1] and non-increasing for every
    t >= 0, not only on the fitted range (r'(t) has the sign of b - a c - 2 a d t - b d t^2).
    Fitted: ``params_ {"a","b","c","d"}``, ``covariance_`` (s^2 (J'WJ)^-1 with parameters on a
    bound held fixed), ``standard_errors_``, ``rss_``; same prediction methods.
``BlendedRetention(variance=...).fit(rate, cohort_size)``  cleans, fits both to the curve
    relative to its install-day rate r0 = rate[0] (1 for a true access rate), averages and
    scales back by r0; or ``BlendedRetention.from_fits(sbg, rational, variance, day0)``.
    ``params_`` {"sbg": ..., "rational": ..., "day0": r0}, ``standard_errors_``,
    ``survival(t)``, ``survival_se(t)``, ``cumulative(horizons) -> (days, se)`` where
    ``days[i] = sum_{t < horizons[i]} R(t)``, the expected active days per user.
``combine_cohorts(activity) -> DataFrame``  pools cohorts as the seed does (below).
``fit_many(rates, cohort_sizes, lengths=None, n_jobs=1) -> RetentionFits``  the same fits for
    K curves at once (vectorised numpy: 10,000 curves of 7..90 days in ~7 s of CPU, see
    ``benchmarks/retention_fits.py``). ``RetentionFits`` holds arrays per curve (``alpha``,
    ``beta``, ``sbg_covariance``, ``log_likelihood``, ``sbg_converged``, ``rational`` (K,4),
    ``rational_covariance``, ``rss``, ``lengths``, ``day0``), ``survival(t)`` and
    ``cumulative(horizons)`` for all curves, and ``blended(k)`` -> BlendedRetention for one
    (pass it to ``cohort.cohort_ltv(retention=...)``).

Combined cohorts. The seed's first estimate uses 7 days of the first cohort; each later day
adds the newer cohorts' days. ``combine_cohorts`` gives, per day ``t``, the rate averaged over
the cohorts that have reached day ``t`` weighted by cohort size, and ``n(t)``, the summed size
of those cohorts (non-increasing in ``t``). The sBG likelihood for such a curve is the
Fader-Hardie one written as a chain of conditional binomials: on the step ``k -> k + 1`` the
``n(k+1) r(k)`` users at risk (in cohorts old enough to show day ``k + 1``) each churn with
probability ``alpha / (alpha + beta + k)``:

    LL = sum_k n(k+1) [ (r(k) - r(k+1)) ln(alpha / (alpha+beta+k)) + r(k+1) ln((beta+k) / (alpha+beta+k)) ].

With constant ``n`` and ``r = survivors / n`` this is exactly the paper's likelihood; with
pooled cohorts it assumes the cohorts censored at day ``k`` had the pooled rate there. The
rational fit weights day ``t`` by ``n(t)``, so days seen by more cohorts count more.

Variance of the average. ``variance="independent"`` is the seed appendix: the two fits are
treated as independent, Var((s + c) / 2) = (Var s + Var c) / 4, each from the delta method on
its own parameter covariance. It ignores that both fit the same data (they are positively
correlated) and that the two curves disagree by more than their sampling error (model
error), so its intervals are too narrow: on a simulated sBG population the 99%
LTV interval covered the truth for 80% of cohorts from 7 days and 88.5% from 14 days
(adperf_assets_tests/ltv/test_cohort.py).
``variance="model_averaged"`` (the default; 98% and 96.5% there) is
Buckland, Burnham & Augustin (1997)'s unconditional variance for an equal-weight model
average: se = (sqrt(Var s + (s - m)^2) + sqrt(Var c + (c - m)^2)) / 2 with m = (s + c) / 2,
i.e. the fits are treated as perfectly correlated and the spread between them is added as
model uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

MIN_DAYS = 7  # the seed's first estimate comes after a week of data

_LOG_MIN, _LOG_MAX = np.log(1e-4), np.log(1e5)  # sBG alpha, beta kept in [1e-4, 1e5]
_C_MAX = _D_MAX = 1e4  # rational c, d upper bounds (keep the solver off infinity)
_VARIANCES = ("model_averaged", "independent")


# --------------------------------------------------------------------------- validation


def _num(x) -> str:
    """A value for an error message: ``nan``, ``1.5``, ``'2026-01-01'`` (no numpy reprs)."""
    return repr(x.item() if hasattr(x, "item") else x)


def _as_1d(values, name: str, *, lo: float | None = 0.0, hi: float | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {_num(arr[i])}; every value must be a finite number")
    if lo is not None and (arr < lo).any():
        i = int(np.flatnonzero(arr < lo)[0])
        raise ValueError(f"{name}[{i}] = {_num(arr[i])} is below {lo}")
    if hi is not None and (arr > hi).any():
        i = int(np.flatnonzero(arr > hi)[0])
        raise ValueError(f"{name}[{i}] = {_num(arr[i])} is above {hi}")
    return arr


def _check_rate_curve(rate, name: str = "access_rate", min_days: int = 2) -> np.ndarray:
    r = _as_1d(rate, name, lo=0.0, hi=1.0)
    if len(r) < min_days:
        raise ValueError(f"{name} has {len(r)} days; at least {min_days} are needed")
    return r


def _cohort_sizes(cohort_size, length: int, name: str = "cohort_size") -> np.ndarray:
    n = np.asarray(cohort_size, dtype=float)
    if n.ndim == 0:
        n = np.full(length, float(n))
    n = _as_1d(n, name, lo=None)
    if len(n) != length:
        raise ValueError(f"{name} has {len(n)} values but the rate curve has {length} days")
    if (n <= 0).any():
        i = int(np.flatnonzero(n <= 0)[0])
        raise ValueError(f"{name}[{i}] = {_num(n[i])}; cohort sizes must be positive")
    return n


def clean_access_rate(rates) -> np.ndarray:
    """Running minimum of the daily access rate (the seed's pre-processing).

    A day whose rate rises above an earlier day's is replaced by the minimum so far, so the
    result is non-increasing and has the same length. Rates must be finite and in [0, 1].
    """
    r = _check_rate_curve(rates, min_days=1)
    return np.minimum.accumulate(r)


def _check_non_increasing(r: np.ndarray, name: str = "access_rate") -> None:
    rises = np.flatnonzero(np.diff(r) > 1e-12)
    if len(rises):
        i = int(rises[0]) + 1
        raise ValueError(
            f"{name}[{i}] = {_num(r[i])} rises above {name}[{i - 1}] = {_num(r[i - 1])}; "
            "pass it through clean_access_rate() first"
        )


# --------------------------------------------------------------------------- sBG core


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


def _check_times(t, name: str = "t") -> np.ndarray:
    return _as_1d(np.atleast_1d(t), name, lo=0.0)


def _quad_se(jac: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sqrt(g' cov g) for gradients jac (K, n, p) and covariances (K, p, p).

    A NaN covariance (singular information: the data do not bound the parameters, e.g.
    nobody or everybody churned) gives an infinite standard error wherever the quantity
    depends on the parameters at all.
    """
    undefined = np.isnan(cov).any(axis=(1, 2))
    var = np.einsum("knp,kpq,knq->kn", jac, np.nan_to_num(cov), jac)
    se = np.sqrt(np.maximum(var, 0.0))
    moves = np.abs(jac).sum(axis=-1) > 0
    return np.where(undefined[:, None] & moves, np.inf, se)


def _horizons(horizons) -> np.ndarray:
    h = np.atleast_1d(np.asarray(horizons))
    if h.ndim != 1 or len(h) == 0:
        raise ValueError("horizons must be a non-empty list of whole numbers of days")
    if not np.all(np.isfinite(h.astype(float))) or np.any(h.astype(float) != np.round(h.astype(float))):
        raise ValueError(f"horizons must be whole numbers of days, got {list(h)}")
    h = h.astype(int)
    if (h < 1).any():
        raise ValueError(f"horizons must be at least 1 day, got {list(h)}")
    return h


def _cumulative_matrix(horizons: np.ndarray) -> np.ndarray:
    """(len(h), max(h)) 0/1 matrix: row i sums days t < h[i]."""
    days = np.arange(horizons.max())
    return (days[None, :] < horizons[:, None]).astype(float)


# --------------------------------------------------------------------------- sBG model


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
        w = _cumulative_matrix(h)
        return (w @ s[0]), _quad_se(np.einsum("ht,ktp->khp", w, jac), self.covariance_[None])[0]


# --------------------------------------------------------------------------- rational model


def _rational(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """r(t) for params p (K,4) = (a,b,c,d), shape (K, len(t))."""
    a, b, c, d = (p[:, i : i + 1] for i in range(4))
    return (a + b * t) / (1.0 + c * t + d * t * t)


def _rational_jac(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d r / d(a,b,c,d), shape (K, len(t), 4)."""
    a, b, c, d = (p[:, i : i + 1] for i in range(4))
    den = 1.0 + c * t + d * t * t
    num = a + b * t
    tt = np.broadcast_to(t, den.shape)
    return np.stack([1.0 / den, tt / den, -num * tt / den**2, -num * tt**2 / den**2], axis=-1)


def _to_abcd(q: np.ndarray) -> np.ndarray:
    """(a, u, c, d) -> (a, b = a c u, c, d)."""
    return np.stack([q[:, 0], q[:, 0] * q[:, 2] * q[:, 1], q[:, 2], q[:, 3]], axis=1)


def _to_q(p: np.ndarray) -> np.ndarray:
    """Project (a,b,c,d) onto the feasible box of (a, u, c, d)."""
    a = np.clip(p[:, 0], 1e-6, 1.0)
    c = np.clip(p[:, 2], 1e-6, _C_MAX)
    d = np.clip(p[:, 3], 0.0, _D_MAX)
    u = np.clip(p[:, 1] / (a * c), 0.0, 1.0)
    return np.stack([a, u, c, d], axis=1)


def _q_jac(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d r / d(a, u, c, d), shape (K, len(t), 4)."""
    p = _to_abcd(q)
    j = _rational_jac(p, t)
    a, u, c = q[:, 0:1], q[:, 1:2], q[:, 2:3]
    return np.stack(
        [j[..., 0] + j[..., 1] * (c * u), j[..., 1] * (a * c), j[..., 2] + j[..., 1] * (a * u), j[..., 3]],
        axis=-1,
    )


_Q_LO = np.array([0.0, 0.0, 0.0, 0.0])
_Q_HI = np.array([1.0, 1.0, _C_MAX, _D_MAX])


def _rational_start(t: np.ndarray, r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Linearised least squares r = a + b t - c t r - d t^2 r (Levy's method), projected."""
    X = np.stack([np.ones_like(r), np.broadcast_to(t, r.shape), -t * r, -(t**2) * r], axis=-1)
    Xw = X * w[..., None]
    A = np.einsum("ktp,ktq->kpq", Xw, X) + 1e-9 * np.eye(4)
    rhs = np.einsum("ktp,kt->kp", Xw, r)
    p = np.linalg.solve(A, rhs[..., None])[..., 0]
    return _to_q(p)


def _rational_starts(t: np.ndarray, r: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Starting points (each (K,4) in (a,u,c,d)): the fit has local minima, so try several.

    Besides the linearised fit: a slow hyperbola and a near-cliff (large c) that lets day
    0 -> 1 drop sharply and the rest decay like (b/c) / (1 + (d/c) t). On 1,000 synthetic
    curves these three found the best of a wider set of starts on every curve (a steeper
    hyperbola (u, c, d) = (0.9, 5, 0.05) never added anything).
    """
    a0 = np.clip(r[:, 0], 1e-3, 1.0)
    fixed = ((0.5, 1.0, 0.01), (0.3, 100.0, 3.0))
    return [_rational_start(t, r, w)] + [
        np.stack([a0, np.full_like(a0, u), np.full_like(a0, c), np.full_like(a0, d)], axis=1) for u, c, d in fixed
    ]


def _rational_fit_best(t, r, w):
    """Best of ``_rational_fit_batch`` over ``_rational_starts``, per curve."""
    best_q, best_f = None, None
    for q0 in _rational_starts(t, r, w):
        q, f = _rational_fit_batch(t, r, w, q0)
        if best_q is None:
            best_q, best_f = q, f
        else:
            better = f < best_f
            best_q[better], best_f[better] = q[better], f[better]
    return best_q, best_f


def _rational_model_jac(q: np.ndarray, t: np.ndarray, r: np.ndarray, sw: np.ndarray):
    """Weighted residuals (K,T) and Jacobian in (a, u, c, d), laid out (K,4,T) for matmul."""
    a, u, c, d = (q[:, i : i + 1] for i in range(4))
    inv = 1.0 / (1.0 + c * t + d * t * t)
    model = (a + a * c * u * t) * inv
    tinv = t * inv
    J = np.empty((q.shape[0], 4, r.shape[1]))
    J[:, 0] = (1.0 + c * u * t) * inv
    J[:, 1] = a * c * tinv
    J[:, 2] = (a * u - model) * tinv
    J[:, 3] = -model * t * tinv
    J *= sw[:, None, :]
    return (model - r) * sw, J


def _rational_cost(q: np.ndarray, t: np.ndarray, r: np.ndarray, sw: np.ndarray) -> np.ndarray:
    a, u, c, d = (q[:, i : i + 1] for i in range(4))
    res = ((a + a * c * u * t) / (1.0 + c * t + d * t * t) - r) * sw
    return (res * res).sum(axis=1)


def _rational_fit_batch(t, r, w, q0=None, max_iter: int = 300, tol: float = 1e-12):
    """Bounded Levenberg-Marquardt on sum w (r_model - r)^2 for K curves in (a, u, c, d).

    Parameters on a bound whose gradient points outward are frozen for the step (a simple
    active set); steps are projected onto the box. Gradients are recomputed only for curves
    whose step was accepted; finished curves are dropped from the working arrays once a
    quarter of them are done. Returns q (K,4) and weighted RSS (K,).
    """
    t = t[None, :] if t.ndim == 1 else t
    q_out = _rational_start(t, r, w) if q0 is None else np.clip(q0, _Q_LO, _Q_HI)
    f_out = np.empty(r.shape[0])
    eye = np.eye(4)
    rows = np.arange(r.shape[0])  # working set -> original curve
    rr, sw, q = r, np.sqrt(w), q_out.copy()
    res, J = _rational_model_jac(q, t, rr, sw)
    f = (res * res).sum(axis=1)
    g = (J @ res[..., None])[..., 0]
    H = J @ J.transpose(0, 2, 1)
    lam = np.full(len(rows), 1e-3)
    live = np.ones(len(rows), dtype=bool)
    for _ in range(max_iter):
        if not live.any():
            break
        if live.sum() < 0.75 * len(rows):  # compact: write back finished curves, keep the rest
            q_out[rows], f_out[rows] = q, f
            rows, rr, sw, q, f, g, H, lam = (x[live] for x in (rows, rr, sw, q, f, g, H, lam))
            live = np.ones(len(rows), dtype=bool)
        free = ~(((q <= _Q_LO + 1e-12) & (g > 0)) | ((q >= _Q_HI - 1e-12) & (g < 0)))
        F = free[:, :, None] & free[:, None, :]
        dH = np.diagonal(H, axis1=1, axis2=2)
        M = np.where(F, H, 0.0) + eye * (lam[:, None, None] * (dH[:, None, :] + 1e-12) + (~free)[:, None, :])
        rhs = np.where(free, -g, 0.0)
        try:
            step = np.linalg.solve(M, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(m, v, rcond=None)[0] for m, v in zip(M, rhs)])
        new = np.clip(q + step, _Q_LO, _Q_HI)
        f_new = _rational_cost(new, t, rr, sw)
        better = live & (f_new < f)
        rel = (f - f_new) / np.maximum(f, 1e-300)
        pg = np.abs(np.where(free, g, 0.0)).max(axis=1)
        done = live & ((better & (rel < tol)) | (lam > 1e10) | (pg < 1e-14) | (f < 1e-28))
        acc = np.flatnonzero(better)
        if len(acc):
            q[acc], f[acc] = new[acc], f_new[acc]
            res_a, J_a = _rational_model_jac(q[acc], t, rr[acc], sw[acc])
            g[acc] = (J_a @ res_a[..., None])[..., 0]
            H[acc] = J_a @ J_a.transpose(0, 2, 1)
        lam = np.where(better, np.maximum(lam / 3.0, 1e-12), lam * 4.0)
        live &= ~done
    q_out[rows], f_out[rows] = q, f
    return q_out, f_out


def _rational_covariance(p: np.ndarray, t: np.ndarray, r: np.ndarray, w: np.ndarray, npts: np.ndarray):
    """Covariance of (a,b,c,d), shape (K,4,4): s^2 (J'WJ)^-1, s^2 = weighted RSS / (points - 4).

    Computed in (a, u, c, d) with the parameters that sit on a bound held fixed (the usual
    covariance conditional on the active constraints: a normal approximation that spills
    over a bound, e.g. d < 0, describes curves the model forbids), then mapped to (a,b,c,d)
    by the delta method.
    """
    t = t[None, :] if t.ndim == 1 else t
    q = _to_q(p)
    q[:, 0], q[:, 2] = p[:, 0], p[:, 2]  # keep exact a, c (to_q floors them for the ratio)
    res = _rational(p, t) - r
    s2 = (w * res * res).sum(axis=1) / np.maximum(npts - 4, 1)
    Jq = _q_jac(q, t)
    info = np.einsum("ktp,kt,ktq->kpq", Jq, w, Jq)
    span = _Q_HI - _Q_LO
    free = ~((q <= _Q_LO + 1e-9 * np.minimum(span, 1.0)) | (q >= _Q_HI - 1e-9 * np.minimum(span, 1.0)))
    F = free[:, :, None] & free[:, None, :]
    cov_q = np.linalg.pinv(np.where(F, info, 0.0), hermitian=True) * s2[:, None, None]
    cov_q = np.where(F, cov_q, 0.0)
    a, u, c = q[:, 0], q[:, 1], q[:, 2]
    Tm = np.zeros((len(q), 4, 4))
    Tm[:, 0, 0] = Tm[:, 2, 2] = Tm[:, 3, 3] = 1.0
    Tm[:, 1, 0], Tm[:, 1, 1], Tm[:, 1, 2] = c * u, a * c, a * u
    return np.einsum("kip,kpq,kjq->kij", Tm, cov_q, Tm)


class RationalRetention:
    """The seed's four-parameter rational retention curve r(t) = (a + b t) / (1 + c t + d t^2).

    The seed's formula was an image that is lost; this form (Pade-like, r(0) = a, tail ~ b / (d t))
    is the issue's choice. Fitted by bounded non-linear least squares (scipy TRF), several
    starts, the best kept. Bounds: see the module docstring.
    """

    def fit(self, t, rate, weights=None) -> "RationalRetention":
        """Fit on days ``t`` (>= 0) and rates in [0, 1]; ``weights`` e.g. n(t) of pooled cohorts."""
        tt = _as_1d(t, "t", lo=0.0)
        r = _check_rate_curve(rate, "rate", min_days=5)
        if len(tt) != len(r):
            raise ValueError(f"t has {len(tt)} values but rate has {len(r)}")
        w = np.ones_like(r) if weights is None else _as_1d(weights, "weights", lo=0.0)
        if len(w) != len(r):
            raise ValueError(f"weights has {len(w)} values but rate has {len(r)}")
        if not (w > 0).any():
            raise ValueError("weights are all zero")
        w = w / w[w > 0].mean()
        sw = np.sqrt(w)

        def residuals(q):
            return (_rational(_to_abcd(q[None]), tt)[0] - r) * sw

        def jac(q):
            return _q_jac(q[None], tt)[0] * sw[:, None]

        best = None
        for q0 in _rational_starts(tt, r[None], w[None]):
            q0 = q0[0]
            sol = optimize.least_squares(
                residuals, np.clip(q0, _Q_LO, _Q_HI), jac=jac, bounds=(_Q_LO, _Q_HI),
                method="trf", x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=2000,
            )
            if best is None or sol.cost < best.cost:
                best = sol
        p = _to_abcd(best.x[None])
        cov = _rational_covariance(p, tt, r[None], w[None], np.array([len(r)]))[0]
        return self._set(p[0], cov, float(2.0 * best.cost), len(r))

    def _set(self, p, cov, rss, n_points) -> "RationalRetention":
        self.params_ = dict(zip("abcd", map(float, p)))
        self.covariance_ = np.asarray(cov, dtype=float)
        self.standard_errors_ = dict(zip("abcd", map(float, np.sqrt(np.maximum(np.diag(cov), 0.0)))))
        self.rss_ = float(rss)
        self.n_points_ = n_points
        return self

    def _p(self) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise RuntimeError("call fit() first")
        return np.array([[self.params_[k] for k in "abcd"]])

    def survival(self, t) -> np.ndarray:
        """r(t), vectorised over t >= 0 (r(0) = a, fitted, close to 1 on access-rate data)."""
        return _rational(self._p(), _check_times(t)[None, :])[0]

    def survival_se(self, t) -> np.ndarray:
        tt = _check_times(t)
        return _quad_se(_rational_jac(self._p(), tt[None, :]), self.covariance_[None])[0]

    def cumulative(self, horizons):
        """(sum_{t<h} r(t), its standard error) per horizon h."""
        h = _horizons(horizons)
        tt = np.arange(h.max(), dtype=float)[None, :]
        w = _cumulative_matrix(h)
        val = w @ _rational(self._p(), tt)[0]
        jac = np.einsum("ht,ktp->khp", w, _rational_jac(self._p(), tt))
        return val, _quad_se(jac, self.covariance_[None])[0]


# --------------------------------------------------------------------------- the average


def _combine_se(v_s, se_s, v_c, se_c, variance: str):
    if variance == "independent":
        return 0.5 * np.sqrt(se_s**2 + se_c**2)
    spread = 0.5 * (v_s - v_c)  # = s - m = -(c - m)
    return 0.5 * (np.sqrt(se_s**2 + spread**2) + np.sqrt(se_c**2 + spread**2))


class BlendedRetention:
    """R(t) = r0 (S_sBG(t) + r_rational(t)) / 2 on the cleaned access rate (the studio method).

    Both models are fitted to the curve relative to its install-day rate r0 = rate[0] (1 for
    an access rate by definition; below 1 if the cohort size counts installs that never
    opened the app), so the sBG's S(0) = 1 and the rational fit describe the same thing.
    ``variance``: "model_averaged" (default) or "independent" (the seed appendix); see the
    module docstring for what each assumes about the two fits' correlation.
    """

    def __init__(self, variance: str = "model_averaged"):
        if variance not in _VARIANCES:
            raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        self.variance = variance

    def fit(self, rate, cohort_size, *, clean: bool = True) -> "BlendedRetention":
        """Fit both models on ``rate[t]``, t = 0..T-1 (T >= 7), of ``cohort_size`` users.

        ``cohort_size``: a number, or n(t) per day for pooled cohorts. ``clean=True`` applies
        ``clean_access_rate`` first (the seed's method); with ``clean=False`` the curve must
        already be non-increasing.
        """
        r = _check_rate_curve(rate, min_days=MIN_DAYS)
        n = _cohort_sizes(cohort_size, len(r))
        if clean:
            r = clean_access_rate(r)
        else:
            _check_non_increasing(r)
        if r[0] <= 0:
            raise ValueError("access_rate[0] is 0: nobody was active on the install day")
        self.rate_ = r
        self.cohort_size_ = n
        self.day0_ = float(r[0])
        relative = r / r[0]
        self.sbg_ = ShiftedBetaGeometric().fit_rates(relative, n * r[0])  # survivor counts n r(t)
        self.rational_ = RationalRetention().fit(np.arange(len(r)), relative, weights=n)
        return self

    @classmethod
    def from_fits(cls, sbg: ShiftedBetaGeometric, rational: RationalRetention,
                  variance: str = "model_averaged", day0: float = 1.0) -> "BlendedRetention":
        """Blend two fitted models (of the curve relative to day 0, whose rate is ``day0``)."""
        out = cls(variance)
        out.sbg_, out.rational_, out.day0_ = sbg, rational, float(day0)
        return out

    def _fits(self):
        if not hasattr(self, "sbg_"):
            raise RuntimeError("call fit() first")
        return self.sbg_, self.rational_

    @property
    def params_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.params_), "rational": dict(c.params_), "day0": self.day0_}

    @property
    def standard_errors_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.standard_errors_), "rational": dict(c.standard_errors_)}

    def survival(self, t) -> np.ndarray:
        s, c = self._fits()
        return self.day0_ * 0.5 * (s.survival(t) + c.survival(t))

    def survival_se(self, t) -> np.ndarray:
        s, c = self._fits()
        return self.day0_ * _combine_se(s.survival(t), s.survival_se(t), c.survival(t), c.survival_se(t),
                                        self.variance)

    def cumulative(self, horizons):
        """(sum_{t<h} R(t), its standard error) per horizon h: expected active days per user."""
        s, c = self._fits()
        vs, ses = s.cumulative(horizons)
        vc, sec = c.cumulative(horizons)
        return self.day0_ * 0.5 * (vs + vc), self.day0_ * _combine_se(vs, ses, vc, sec, self.variance)


# --------------------------------------------------------------------------- pooled cohorts


def combine_cohorts(
    activity: pd.DataFrame,
    *,
    cohort_col: str = "install_date",
    day_col: str = "days_since_install",
    max_days: int | None = None,
) -> pd.DataFrame:
    """Pool install cohorts into one curve, the seed's way.

    ``activity``: one row per cohort x day since install (days 0, 1, ... without gaps) with
    ``active_users`` and optionally ``revenue_usd`` and ``cohort_size`` (default: the cohort's
    day-0 active users). Returns one row per day ``t`` with ``days_since_install``, ``cohorts``
    (how many reached t), ``cohort_size`` = n(t) (their summed size), ``active_users``,
    ``revenue_usd``, ``access_rate`` = active / n(t) (the size-weighted mean of the cohorts'
    rates) and ``daily_arpu`` = revenue / active users (NaN where nobody was active).
    Feed ``access_rate`` and ``cohort_size`` to ``BlendedRetention.fit`` or ``cohort_ltv``.
    """
    required = [cohort_col, day_col, "active_users"]
    missing = [c for c in required if c not in activity.columns]
    if missing:
        raise ValueError(f"activity is missing column(s) {missing}; it has {list(activity.columns)}")
    labels = activity.index  # rows are reported by the caller's labels, found by position
    df = activity.reset_index(drop=True)

    def fail(mask, what) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ValueError(f"activity row {_num(labels[i])}: {what(i)}")

    fail(df[cohort_col].isna(), lambda i: f"{cohort_col} is missing")
    for col in [day_col, "active_users"] + [c for c in ("revenue_usd", "cohort_size") if c in df]:
        raw = df[col]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        fail(~np.isfinite(values), lambda i: f"{col} = {_num(raw.iloc[i])} is not a finite number")
        df[col] = values
    for col in [day_col, "active_users"] + (["cohort_size"] if "cohort_size" in df else []):
        fail(df[col] < 0, lambda i: f"{col} = {_num(df[col].iloc[i])} is negative")
    fail(df.duplicated([cohort_col, day_col]),
         lambda i: f"duplicate {cohort_col} x {day_col} = ({_num(df[cohort_col].iloc[i])}, {_num(df[day_col].iloc[i])})")
    if max_days is not None:
        df = df[df[day_col] < max_days]
    df = df.sort_values([cohort_col, day_col], kind="stable")
    g = df.groupby(cohort_col, sort=False)
    expected = g.cumcount().to_numpy()
    gap = df[day_col].to_numpy() != expected
    if gap.any():
        i = int(np.flatnonzero(gap)[0])
        raise ValueError(
            f"activity: cohort {_num(df[cohort_col].iloc[i])} has no row for day {expected[i]} (next row "
            f"{_num(labels[df.index[i]])} is day {_num(df[day_col].iloc[i])}); days must run 0, 1, 2, ... without gaps"
        )
    if "cohort_size" in df:
        sizes_per_cohort = g["cohort_size"].nunique()
        if (sizes_per_cohort > 1).any():
            raise ValueError(f"activity: cohort {_num(sizes_per_cohort[sizes_per_cohort > 1].index[0])} "
                             "has more than one cohort_size")
        size = g["cohort_size"].transform("first")
    else:
        size = g["active_users"].transform("first")
    zero = (size <= 0).to_numpy()
    if zero.any():
        raise ValueError(f"activity: cohort {_num(df[cohort_col].iloc[int(np.flatnonzero(zero)[0])])} has size 0")
    over = (df["active_users"] > size + 1e-9).to_numpy()
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(f"activity row {_num(labels[df.index[i]])}: active_users {_num(df['active_users'].iloc[i])} "
                         f"exceeds the cohort size {_num(size.iloc[i])} of cohort {_num(df[cohort_col].iloc[i])}")
    df = df.assign(_size=size, revenue_usd=df["revenue_usd"] if "revenue_usd" in df else 0.0)
    out = df.groupby(day_col).agg(
        cohorts=(cohort_col, "size"), cohort_size=("_size", "sum"),
        active_users=("active_users", "sum"), revenue_usd=("revenue_usd", "sum"),
    )
    out.index = out.index.astype(int)
    out = out.rename_axis("days_since_install").reset_index()
    out["access_rate"] = out["active_users"] / out["cohort_size"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["daily_arpu"] = np.where(out["active_users"] > 0, out["revenue_usd"] / out["active_users"], np.nan)
    return out


# --------------------------------------------------------------------------- many curves


@dataclass
class RetentionFits:
    """Fits of K curves from ``fit_many``; arrays indexed by curve."""

    alpha: np.ndarray  # (K,)
    beta: np.ndarray  # (K,)
    sbg_covariance: np.ndarray  # (K,2,2)
    log_likelihood: np.ndarray  # (K,)
    sbg_converged: np.ndarray  # (K,) bool
    rational: np.ndarray  # (K,4) a, b, c, d
    rational_covariance: np.ndarray  # (K,4,4)
    rss: np.ndarray  # (K,) weighted residual sum of squares
    lengths: np.ndarray  # (K,) observed days per curve
    day0: np.ndarray  # (K,) install-day rate; the models describe the curve relative to it
    variance: str = "model_averaged"

    def __len__(self) -> int:
        return len(self.alpha)

    def blended(self, k: int) -> BlendedRetention:
        sbg = ShiftedBetaGeometric()._set(
            np.array([self.alpha[k], self.beta[k]]), self.log_likelihood[k], self.sbg_covariance[k],
            bool(self.sbg_converged[k]), int(self.lengths[k]),
        )
        rat = RationalRetention()._set(self.rational[k], self.rational_covariance[k], self.rss[k], int(self.lengths[k]))
        return BlendedRetention.from_fits(sbg, rat, self.variance, self.day0[k])

    def survival(self, t) -> np.ndarray:
        """Blended R(t) for every curve, shape (K, len(t))."""
        tt = _check_times(t)
        both = _sbg_survival(self.alpha, self.beta, tt) + _rational(self.rational, tt[None, :])
        return self.day0[:, None] * 0.5 * both

    def cumulative(self, horizons):
        """(sum_{t<h} R(t), standard error), each shape (K, len(horizons))."""
        h = _horizons(horizons)
        tt = np.arange(h.max(), dtype=float)
        w = _cumulative_matrix(h)
        s, js = _sbg_survival(self.alpha, self.beta, tt, grad=True)
        vs = s @ w.T
        ses = _quad_se(np.einsum("ht,ktp->khp", w, js), self.sbg_covariance)
        c = _rational(self.rational, tt[None, :])
        vc = c @ w.T
        sec = _quad_se(np.einsum("ht,ktp->khp", w, _rational_jac(self.rational, tt[None, :])), self.rational_covariance)
        r0 = self.day0[:, None]
        return r0 * 0.5 * (vs + vc), r0 * _combine_se(vs, ses, vc, sec, self.variance)


def _fit_block(task) -> dict:
    """Fit one block of curves (R, N, lengths), already cleaned and zero past each length."""
    R, N, L = task
    t = np.arange(R.shape[1], dtype=float)
    churn, stay = _sbg_counts(R, N)
    theta, ll, conv = _sbg_fit_batch(churn, stay)
    w = N / (N.sum(axis=1, keepdims=True) / L[:, None])
    q, f = _rational_fit_best(t, R, w)
    p = _to_abcd(q)
    return {
        "theta": theta, "ll": ll, "conv": conv, "cov": _sbg_covariance(theta, churn, stay),
        "q": p, "rss": f, "rcov": _rational_covariance(p, t, R, w, L),
    }


def fit_many(rates, cohort_sizes, lengths=None, *, clean: bool = True,
             variance: str = "model_averaged", chunk: int = 1000, n_jobs: int = 1) -> RetentionFits:
    """Fit the blended model to K access-rate curves at once (vectorised numpy).

    ``rates``: (K, T) array, curve k observed on days 0..lengths[k]-1 (later cells are ignored
    and may be NaN). ``cohort_sizes``: (K,) or (K, T) n(t). ``lengths``: (K,) ints >= 7, default
    T. The sBG is fitted by damped Newton with the analytic Hessian, the rational curve by a
    bounded Levenberg-Marquardt, both over all curves together (``chunk`` curves per block to
    bound memory; blocks group curves of similar length), optionally over ``n_jobs`` processes.
    Results agree with the one-curve classes to optimiser tolerance (see the benchmark).
    """
    if variance not in _VARIANCES:
        raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
    R = np.array(rates, dtype=float)
    if R.ndim != 2:
        raise ValueError(f"rates must be a (curves, days) array, got shape {R.shape}")
    K, T = R.shape
    L = np.full(K, T) if lengths is None else np.asarray(lengths)
    if L.shape != (K,) or (L != np.round(L)).any():
        raise ValueError(f"lengths must be {K} whole numbers, got shape {L.shape}")
    L = L.astype(int)
    if (L < MIN_DAYS).any() or (L > T).any():
        k = int(np.flatnonzero((L < MIN_DAYS) | (L > T))[0])
        raise ValueError(f"curve {k}: length {L[k]} must be between {MIN_DAYS} and {T} days")
    mask = np.arange(T)[None, :] < L[:, None]
    N = np.array(cohort_sizes, dtype=float)
    if N.ndim == 1:
        if N.shape != (K,):
            raise ValueError(f"cohort_sizes must have shape ({K},) or ({K}, {T}), got {N.shape}")
        N = np.repeat(N[:, None], T, axis=1)
    if N.shape != (K, T):
        raise ValueError(f"cohort_sizes must have shape ({K},) or ({K}, {T}), got {N.shape}")
    for name, arr, lo, hi in (("rates", R, 0.0, 1.0), ("cohort_sizes", N, 1e-300, np.inf)):
        bad = mask & ~(np.isfinite(arr) & (arr >= lo) & (arr <= hi))
        if bad.any():
            k, t = map(int, np.argwhere(bad)[0])
            raise ValueError(f"{name}[{k}, {t}] = {_num(arr[k, t])} is not a number in [{lo}, {hi}]")
    R = np.where(mask, R, 0.0)
    N = np.where(mask, N, 0.0)
    if clean:
        R = np.where(mask, np.minimum.accumulate(np.where(mask, R, 1.0), axis=1), 0.0)
    else:
        rise = mask[:, 1:] & (np.diff(R, axis=1) > 1e-12)
        if rise.any():
            k, t = map(int, np.argwhere(rise)[0])
            raise ValueError(f"rates[{k}, {t + 1}] rises above day {t}; pass clean=True")
    day0 = R[:, 0].copy()
    if (day0 <= 0).any():
        k = int(np.flatnonzero(day0 <= 0)[0])
        raise ValueError(f"rates[{k}, 0] is 0: nobody was active on the install day")
    R = R / day0[:, None]  # fit the curve relative to day 0; survivor counts stay n r(t)
    N = N * day0[:, None]
    # blocks of curves of similar length, each padded only to its own longest curve
    order = np.argsort(L, kind="stable")
    blocks = [order[i : i + chunk] for i in range(0, K, chunk)]
    tasks = [(R[b, : L[b].max()], N[b, : L[b].max()], L[b]) for b in blocks]
    if n_jobs > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(_fit_block, tasks))
    else:
        results = [_fit_block(task) for task in tasks]
    cat = {}
    for key in results[0]:
        whole = np.empty((K,) + results[0][key].shape[1:], dtype=results[0][key].dtype)
        for b, res in zip(blocks, results):
            whole[b] = res[key]
        cat[key] = whole
    ab = np.exp(cat["theta"])
    return RetentionFits(
        alpha=ab[:, 0], beta=ab[:, 1], sbg_covariance=cat["cov"], log_likelihood=cat["ll"],
        sbg_converged=cat["conv"], rational=cat["q"], rational_covariance=cat["rcov"], rss=cat["rss"],
        lengths=L, day0=day0, variance=variance,
    )
