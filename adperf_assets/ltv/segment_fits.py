"""Every segment's pooled curve as of each estimate day, fitted in one batch (``segment_curves``).

For the daily ``retention_fit`` asset and the back-test alike: pools each segment's cohorts of a
trailing window, fits the blended retention to all curves at once and adds revenue per user by
age, tail ARPU and the spreads the intervals need. Derivation: docs/ltv_cohort.md ("Segment curves").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.access_rate import MIN_DAYS
from adperf_assets.ltv.activity_cube import MAX_AGE, ActivityCube, _day_index
from adperf_assets.ltv.cohort import ARPU_WINDOW, daily_retention_ratio
from adperf_assets.ltv.curve_revenue import _arpu, _user_cv, arpu_age_profile
from adperf_assets.ltv.curve_set import CurveSet
from adperf_assets.ltv.pooling import pooled_sums
from adperf_assets.ltv.retention_batch import RetentionFits, fit_many

CV_MIN_DAYS, CV_MAX_DAYS = 7, 28


class NotEnoughHistoryError(ValueError):
    """No segment has a week of activity yet: there is no curve to fit (the first estimate of the
    game studio's LTV post comes after 7 days)."""


def _subset(fits: RetentionFits, idx: np.ndarray) -> RetentionFits:
    return fits.subset(idx)


def _cumulative_se(fits: RetentionFits, points: np.ndarray, T: int, chunk: int = 256) -> np.ndarray:
    """Standard error of sum_{u<h} R(u) at h in ``points`` (others NaN), shape (K, T + 1)."""
    K = len(fits)
    se = np.full((K, T + 1), np.nan)
    se[:, 0] = 0.0
    pts = np.asarray(sorted(set(int(p) for p in points if 1 <= p <= T)), dtype=int)
    if len(pts) == 0:
        return se
    for i in range(0, K, chunk):
        idx = np.arange(i, min(K, i + chunk))
        se[np.ix_(idx, pts)] = _subset(fits, idx).cumulative(pts)[1]
    return se

def segment_curves(
    cube: ActivityCube,
    estimate_days,
    window_days: int = 90,
    *,
    arpu_window: int = ARPU_WINDOW,
    variance: str = "model_averaged",
    horizon_days: int = MAX_AGE,
    survival_se: bool = False,
    se_days=None,
    segments: np.ndarray | None = None,
) -> tuple[CurveSet, pd.DataFrame]:
    """Fit every segment's pooled curve as of each estimate day (docs/ltv_cohort.md).

    Returns the fitted ``CurveSet`` and a frame of the (day, segment) pairs that got no curve
    and why (fewer than 7 observed days, or nobody active on the install day). ``survival_se``
    adds the per-day standard error of R(t) (for the daily asset; the back-test does not read it). ``se_days``: the horizons h at which the standard error of the expected active days
    sum_{t<h} R(t) is computed (default every day; the estimates need it at their horizons and at
    the end of each curve's observed days, so the back-test passes only those -- the rest is NaN).
    """
    if not 1 <= window_days <= cube.max_age:
        raise ValueError(f"window_days must be between 1 and {cube.max_age}, got {window_days}")
    if horizon_days > cube.max_age:
        raise ValueError(f"horizon_days {horizon_days} exceeds the cube's {cube.max_age} days since install")
    days = pd.DatetimeIndex(pd.to_datetime(list(estimate_days)))
    if len(days) and (days.max() > cube.last_day or days.min() < cube.first_day):
        raise ValueError(f"estimate days {days.min().date()}..{days.max().date()} are outside the activity "
                         f"loaded ({cube.first_day.date()}..{cube.last_day.date()})")
    S = len(cube.segments)
    seg_all = np.arange(S) if segments is None else np.asarray(segments)
    e_idx = _day_index(days, cube.first_day)
    seg = np.tile(seg_all, len(e_idx))
    end = np.repeat(e_idx, len(seg_all))
    cohorts, n, a, v, L = pooled_sums(cube, seg, end, window_days)
    cohorts, n, a, v = (x[:, :horizon_days] for x in (cohorts, n, a, v))
    L = np.minimum(L, horizon_days)
    ok = (L >= MIN_DAYS) & (a[:, 0] > 0)
    keys = cube.segments.iloc[seg].reset_index(drop=True)
    keys.insert(0, "report_date", cube.first_day + pd.to_timedelta(end, unit="D"))
    skipped = keys[~ok].assign(curve_days=L[~ok], reason=np.where(L[~ok] < MIN_DAYS, f"fewer than {MIN_DAYS} days",
                                                                 "nobody active on the install day"))
    keep = np.flatnonzero(ok)
    keys = keys.iloc[keep].reset_index(drop=True)
    seg, end, L = seg[keep], end[keep], L[keep]
    cohorts, n, a, v = cohorts[keep], n[keep], a[keep], v[keep]
    K, T = len(keep), horizon_days
    if K == 0:
        raise NotEnoughHistoryError(f"no segment has {MIN_DAYS} observed days of activity in the window; "
                                    f"the first estimate needs a week of data")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, a / np.where(n > 0, n, 1.0), 0.0)
    fits = fit_many(rate, np.where(n > 0, n, 1.0), L, variance=variance)
    R = fits.survival(np.arange(T))
    cum = np.concatenate([np.zeros((K, 1)), np.cumsum(R, axis=1)], axis=1)
    cum_se = _cumulative_se(fits, np.arange(1, T + 1) if se_days is None else se_days, T)
    r_se = fits.survival_se(np.arange(T)) if survival_se else np.full((K, T), np.nan)
    arpu, arpu_se, floored = _arpu(a, v, L, arpu_window)
    t = np.arange(T)[None, :]
    # one age profile of revenue per active user per estimate day, from all its segments pooled
    ends, which = np.unique(end, return_inverse=True)
    pool_a = np.zeros((len(ends), T))
    pool_v = np.zeros((len(ends), T))
    np.add.at(pool_a, which, a)
    np.add.at(pool_v, which, v)
    pool_L = np.zeros(len(ends), dtype=int)
    np.maximum.at(pool_L, which, L)
    d_tau, d_k = arpu_age_profile(pool_a, pool_v, pool_L)
    d_tau, d_k = d_tau[which], d_k[which]
    g = (1.0 + t / d_tau[:, None]) ** (-d_k[:, None])
    in_w = (t >= np.maximum(L - arpu_window, 0)[:, None]) & (t < L[:, None])
    wa = np.where(in_w, a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_w = np.where(wa.sum(axis=1) > 0, (wa * g).sum(axis=1) / wa.sum(axis=1), 1.0)
        mu = np.where(t < L[:, None], v / np.where(n > 0, n, 1.0), arpu[:, None] * g / g_w[:, None] * R)
    # spread of revenue between users, from the window's cohorts (and all segments pooled as fallback)
    lo = np.maximum(end - window_days + 1, 0)
    h_ref = np.clip(L // 2, CV_MIN_DAYS, CV_MAX_DAYS)
    cv = np.array([_user_cv(cube.cum_value[s], cube.size[s], lo_k, e - h + 1, h)
                   for s, lo_k, e, h in zip(seg, lo, end, h_ref)])
    all_cum = cube.cum_value.sum(axis=0)
    all_size = cube.size.sum(axis=0)
    fallback = np.array([_user_cv(all_cum, all_size, lo_k, e - h + 1, h) for lo_k, e, h in zip(lo, end, h_ref)])
    geo = np.array([daily_retention_ratio(rate[k, :L[k]]) for k in range(K)]).reshape(K, 2)
    se_sbg = np.sqrt(np.maximum(np.stack([fits.sbg_covariance[:, 0, 0], fits.sbg_covariance[:, 1, 1]], 1), 0))
    se_sbg = np.where(np.isnan(se_sbg), np.inf, se_sbg)
    rat_var = np.stack([fits.rational_covariance[:, i, i] for i in range(4)], 1)
    se_rat = np.where(np.isnan(rat_var), np.inf, np.sqrt(np.maximum(rat_var, 0)))
    params = pd.DataFrame({
        "sbg_alpha": fits.alpha, "sbg_beta": fits.beta, "sbg_alpha_se": se_sbg[:, 0], "sbg_beta_se": se_sbg[:, 1],
        "sbg_converged": fits.sbg_converged.astype(bool), "sbg_log_likelihood": fits.log_likelihood,
        **{f"rational_{p}": fits.rational[:, i] for i, p in enumerate("abcd")},
        **{f"rational_{p}_se": se_rat[:, i] for i, p in enumerate("abcd")},
        "rational_rss": fits.rss, "day0_rate": fits.day0, "fit_start_day": fits.start_day, "fit_start_rate": fits.level, "arpu_decay_tau": d_tau, "arpu_decay_k": d_k,
    })
    curves = CurveSet(
        keys=keys, window_days=window_days, value_column=cube.value_column, curve_days=L, cohorts=cohorts,
        cohort_size=n, active_users=a, revenue=v, retention=R, retention_se=r_se, active_days=cum,
        active_days_se=cum_se, revenue_per_user=mu, arpu=arpu, arpu_se=arpu_se, arpu_floored=floored,
        user_revenue_cv=cv, cv_days=h_ref, cv_fallback=fallback, geometric_ratio=geo[:, 0],
        geometric_ratio_se=geo[:, 1], params=params,
    )
    return curves, skipped.reset_index(drop=True)
