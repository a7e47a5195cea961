"""The blended retention fitted to many access-rate curves at once (vectorised numpy).

The per-segment curves of every estimate day are fitted in one batch; the results agree with
the one-curve classes to optimiser tolerance. Timings: docs/ltv_cohort.md ("Batched fits").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adperf_assets.ltv.access_rate import MIN_DAYS, _check_times, _horizons, _num
from adperf_assets.ltv.blended import BlendedRetention
from adperf_assets.ltv.install_day import (
    START_DAY,
    anchored_cumulative,
    anchored_survival,
    level_se,
    start_days,
)
from adperf_assets.ltv.rational import (
    RationalRetention,
    _rational,
    _rational_covariance,
    _rational_fit_best,
    _rational_jac,
    _to_abcd,
)
from adperf_assets.ltv.sbg import (
    ShiftedBetaGeometric,
    _sbg_counts,
    _sbg_covariance,
    _sbg_fit_batch,
    _sbg_survival,
)
from adperf_assets.ltv.standard_errors import _VARIANCES, _combine_se, _quad_se, _sums_before


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
    day0: np.ndarray  # (K,) install-day rate
    level: np.ndarray  # (K,) rate on the start day; the models describe the curve from there, relative to it
    level_se: np.ndarray  # (K,) its binomial standard error
    start_day: np.ndarray  # (K,) 1, or 0 where the curve from day 1 holds no churn (install_day.py)
    variance: str = "model_averaged"

    def __len__(self) -> int:
        return len(self.alpha)

    def blended(self, k: int) -> BlendedRetention:
        sbg = ShiftedBetaGeometric()._set(
            np.array([self.alpha[k], self.beta[k]]), self.log_likelihood[k], self.sbg_covariance[k],
            bool(self.sbg_converged[k]), int(self.lengths[k] - self.start_day[k]),
        )
        rat = RationalRetention()._set(self.rational[k], self.rational_covariance[k], self.rss[k],
                                       int(self.lengths[k] - self.start_day[k]))
        return BlendedRetention.from_fits(sbg, rat, self.variance, self.day0[k], level=self.level[k],
                                          level_error=self.level_se[k], start_day=int(self.start_day[k]))

    def _blend(self, u: np.ndarray) -> np.ndarray:
        return 0.5 * (_sbg_survival(self.alpha, self.beta, u) + _rational(self.rational, u[None, :]))

    def subset(self, idx: np.ndarray) -> "RetentionFits":
        """The fits of curves ``idx`` (in that order)."""
        return RetentionFits(**{f: (v[idx] if isinstance(v, np.ndarray) else v)
                                for f, v in ((f, getattr(self, f)) for f in self.__dataclass_fields__)})

    def _per_start_day(self, compute):
        """``compute(fits)`` on the curves of each start day apart, laid back in curve order. The anchored
        formulas evaluate every curve they are given once per start day among them, so a batch mixing
        both (small segments start on day 0) cost twice; each curve's own arithmetic is the same."""
        used = np.unique(self.start_day)
        if len(used) < 2:
            return compute(self)
        parts = [(idx, compute(self.subset(idx))) for idx in (np.flatnonzero(self.start_day == s) for s in used)]

        def lay(pieces):
            out = np.empty((len(self),) + pieces[0][1].shape[1:], dtype=pieces[0][1].dtype)
            for idx, piece in pieces:
                out[idx] = piece
            return out

        if isinstance(parts[0][1], tuple):
            return tuple(lay([(idx, res[i]) for idx, res in parts]) for i in range(len(parts[0][1])))
        return lay(parts)

    def survival(self, t) -> np.ndarray:
        """Blended R(t) for every curve, shape (K, len(t))."""
        t = _check_times(t)
        return self._per_start_day(
            lambda f: anchored_survival(f._blend, f.day0, f.level, f.start_day, t))

    def survival_se(self, t) -> np.ndarray:
        """Standard error of the blended R(t) for every curve, shape (K, len(t)): each curve's
        ``blended(k).survival_se(t)``, in one batch per start day."""
        t = _check_times(t)

        def at(f: "RetentionFits") -> np.ndarray:
            start = int(f.start_day[0])  # one start day per call (_per_start_day)
            u = np.maximum(t - start, 0.0)
            s, js = _sbg_survival(f.alpha, f.beta, u, grad=True)
            c = _rational(f.rational, u[None, :])
            se = _combine_se(s, _quad_se(js, f.sbg_covariance), c,
                             _quad_se(_rational_jac(f.rational, u[None, :]), f.rational_covariance), f.variance)
            se = np.sqrt((f.level[:, None] * se) ** 2 + (0.5 * (s + c) * f.level_se[:, None]) ** 2)
            return np.where(t[None, :] < start, 0.0, se)

        return self._per_start_day(at) if len(self) else np.zeros((0, len(t)))

    def _blend_cumulative(self, h: np.ndarray):
        tt = np.arange(h.max(), dtype=float)
        s, js = _sbg_survival(self.alpha, self.beta, tt, grad=True)
        vs = _sums_before(s, h)
        ses = _quad_se(_sums_before(js, h), self.sbg_covariance)
        c = _rational(self.rational, tt[None, :])
        vc = _sums_before(c, h)
        sec = _quad_se(_sums_before(_rational_jac(self.rational, tt[None, :]), h), self.rational_covariance)
        return 0.5 * (vs + vc), _combine_se(vs, ses, vc, sec, self.variance)

    def cumulative(self, horizons):
        """(sum_{t<h} R(t), standard error), each shape (K, len(horizons))."""
        h = _horizons(horizons)
        return self._per_start_day(
            lambda f: anchored_cumulative(f._blend_cumulative, f.day0, f.level, f.level_se, f.start_day, h))


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


def fit_many(rates, cohort_sizes, lengths=None, *, clean: bool = True, variance: str = "model_averaged",
             start_day: int = START_DAY, chunk: int = 1000, n_jobs: int = 1) -> RetentionFits:
    """Fit the blended model to K access-rate curves at once (vectorised numpy).

    ``rates``: (K, T) array, curve k observed on days 0..lengths[k]-1 (later cells are ignored
    and may be NaN). ``cohort_sizes``: (K,) or (K, T) n(t). ``lengths``: (K,) ints >= 7, default
    T. The sBG is fitted by damped Newton with the analytic Hessian, the rational curve by a
    bounded Levenberg-Marquardt, both over all curves together (``chunk`` curves per block to
    bound memory; blocks group curves of similar length), optionally over ``n_jobs`` processes.
    Results agree with the one-curve classes to optimiser tolerance (see the benchmark).
    ``start_day``: the day the models start (``BlendedRetention``; install_day.py).
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
    start = start_days(R, L, start_day)
    rows = np.arange(K)
    level = R[rows, start]
    level_error = level_se(level, N[rows, start])
    # fit the curve from its start day, relative to its rate there; survivor counts stay n r(t)
    shift = np.minimum(np.arange(T)[None, :] + start[:, None], T - 1)
    L = L - start
    inside = np.arange(T)[None, :] < L[:, None]
    R = np.where(inside, np.take_along_axis(R, shift, 1) / level[:, None], 0.0)
    N = np.where(inside, np.take_along_axis(N, shift, 1) * level[:, None], 0.0)
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
        lengths=L + start, day0=day0, level=level, level_se=level_error, variance=variance, start_day=start,
    )
