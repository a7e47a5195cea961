"""The four-parameter rational retention curve r(t) = (a + b t) / (1 + c t + d t^2), fitted by NLS.

A bounded Levenberg-Marquardt for many curves at once (the batched fits use it directly);
``RationalRetention`` fits one with scipy. Bounds and why they keep r in [0, 1] and
non-increasing: docs/ltv_cohort.md ("Retention curve").
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from adperf_assets.ltv.access_rate import _as_1d, _check_rate_curve, _check_times, _horizons
from adperf_assets.ltv.standard_errors import _quad_se, _sums_before

_C_MAX = _D_MAX = 1e4  # rational c, d upper bounds (keep the solver off infinity)


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
    """The four-parameter rational retention curve r(t) = (a + b t) / (1 + c t + d t^2) of the game studio's LTV post.

    The post's formula was an image that is lost; this form (Pade-like, r(0) = a, tail ~ b / (d t))
    is the issue's choice. Fitted by bounded non-linear least squares (scipy TRF), several
    starts, the best kept. Bounds: docs/ltv_cohort.md ("Retention curve").
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
        val = _sums_before(_rational(self._p(), tt), h)[0]
        return val, _quad_se(_sums_before(_rational_jac(self._p(), tt), h), self.covariance_[None])[0]
