"""LTV per install cohort x segment from the segment curves: the studio estimate and the geometric baseline.

A cohort's revenue to date plus its segment's revenue per user for the days it has not seen yet,
scaled by its own activity and spending relative to its segment's, with a 99% interval; what the
``cohort_ltv`` asset publishes and the back-test scores.
Derivation: docs/ltv_cohort.md ("Cohort estimate", "Interval").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.ltv.access_rate import MIN_DAYS
from adperf_assets.ltv.activity_cube import ActivityCube, _day_index
from adperf_assets.ltv.cohort import geometric_active_days, product_interval, product_variance
from adperf_assets.ltv.curve_set import CurveSet
from adperf_assets.ltv.keys import HORIZONS, SEGMENT_KEYS

CREDIBILITY_USERS = 50.0
MIN_FOLLOWED_COHORTS = 28  # install days of cohorts spend_persistence needs (a month), else Z = 0
ESTIMATE_COLUMNS = [
    "report_date", "install_date", *SEGMENT_KEYS, "cohort_size", "horizon", "estimator", "ltv_per_user_usd",
    "lower_usd", "upper_usd", "se_usd", "observed_days", "basis", "revenue_to_date_usd", "activity_ratio",
    "spend_ratio",
]


def empty_estimates() -> pd.DataFrame:
    """No rows, with the column types of ``estimate_ltv``'s output."""
    types = {"report_date": "datetime64[ns]", "install_date": "datetime64[ns]", "is_emulator": bool,
             "cohort_size": "int64", "horizon": "int64", "observed_days": "int64"}
    floats = {"ltv_per_user_usd", "lower_usd", "upper_usd", "se_usd", "revenue_to_date_usd", "activity_ratio",
              "spend_ratio"}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, float if c in floats else object)) for c in ESTIMATE_COLUMNS})


def _gather(a: np.ndarray, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a[k, np.clip(t, 0, a.shape[1] - 1)]


def follow_days(early_days: int, window_days: int) -> int:
    """Later days ``spend_persistence`` compares with the first ``early_days``: up to half the window
    (at least 14), so half the window's cohorts have seen them."""
    return max(window_days // 2 - early_days, 14)


def spend_persistence(cube: ActivityCube, end, early_days, window_days: int) -> np.ndarray:
    """How much of a cohort's early revenue per active day, relative to its segment's, carries into its later days.

    For each pair (estimate day index ``end`` into the cube, ``early_days`` m): the cohorts installed
    in ``[end - window_days + 1, end - m - f + 1]`` (f = ``follow_days(m, window_days)``; those whose
    days 0..m+f-1 are known at ``end``), every segment, give per cohort x segment the revenue per
    active day over days < m (x) and over days m..m+f-1 (y). Within each segment, the weighted least
    squares slope of y on x, weights = early active days (Buhlmann-Straub), is made relative
    (x / mean x, y / mean y) and the segments are pooled: Z = sum cov_s / sum var_s. Returns Z
    clipped to 0..1, 0 where the window holds fewer than ``MIN_FOLLOWED_COHORTS`` install days
    of such cohorts (a slope of a few cohorts is mostly their whales) or no revenue.

    With per-user persistence of the spending level and users independent, the slope of a cohort's
    mean is the same for any cohort size (the early days' noise and the signal both shrink as 1/n),
    so one Z serves cohorts of every size. Segments without revenue are left out.
    """
    end = np.asarray(end, dtype=int)
    early = np.asarray(early_days, dtype=int)
    if end.shape != early.shape:
        raise ValueError(f"end has {end.size} values but early_days has {early.size}")
    if (early < 1).any():
        raise ValueError(f"early_days must be >= 1, got {int(early.min())}")
    Z = np.zeros(end.shape, dtype=float)
    C = cube.size.shape[1]
    # install days with users (a cube may start with empty days before the data does)
    has_users = np.concatenate([[0], np.cumsum(cube.size.sum(axis=0) > 0)])
    for m in np.unique(early):
        f = follow_days(int(m), window_days)
        if m + f > cube.max_age:
            continue
        r1 = cube.cum_value[:, :, m]
        a1 = cube.cum_active[:, :, m]
        r2 = cube.cum_value[:, :, m + f] - r1
        a2 = cube.cum_active[:, :, m + f] - a1
        ok = (a1 > 0) & (a2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts = [np.where(ok, x, 0.0) for x in (a1, r1, r1 * r2 / a2, a1 * r2 / a2, r1**2 / a1)]
        pre = [np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1) for x in parts]
        rows = np.flatnonzero(early == m)
        e = end[rows]
        lo = np.clip(e - window_days + 1, 0, C)
        hi = np.clip(e - m - f + 2, 0, C)  # exclusive
        hi = np.maximum(hi, lo)
        sA1, sR1, sP, sQ, sU = (x[:, hi].T - x[:, lo].T for x in pre)  # (rows, S)
        with np.errstate(divide="ignore", invalid="ignore"):
            xbar = sR1 / sA1
            ybar = sQ / sA1
            cov = sP - xbar * sQ
            var = sU - xbar**2 * sA1
            use = (sA1 > 0) & (xbar > 0) & (ybar > 0)
            cov_rel = np.where(use, cov / (xbar * ybar), 0.0)
            var_rel = np.where(use, var / xbar**2, 0.0)
            num, den = cov_rel.sum(axis=1), var_rel.sum(axis=1)
            z = np.where(den > 0, num / den, 0.0)
        z = np.where(has_users[hi] - has_users[lo] >= MIN_FOLLOWED_COHORTS, z, 0.0)
        Z[rows] = np.clip(np.nan_to_num(z), 0.0, 1.0)
    return Z


def estimate_ltv(
    curves: CurveSet,
    cube: ActivityCube,
    requests: pd.DataFrame,
    horizons=HORIZONS,
    confidence: float = 0.99,
    *,
    credibility_users: float = CREDIBILITY_USERS,
    geometric: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LTV rows (``ESTIMATE_COLUMNS``) for each request (docs/ltv_cohort.md).

    ``requests``: report_date (the estimate day e), install_date, the segment keys. The cohort's
    own days come from ``cube`` (known through e); the segment's from the curve of (e, segment).
    Returns (estimates, unanswered): requests without a curve or cohort are listed with a reason.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    H = np.asarray(horizons, dtype=int)
    if H.ndim != 1 or len(H) == 0 or (H < 1).any() or (H > curves.horizon_days).any():
        raise ValueError(f"horizons must be whole days in 1..{curves.horizon_days}, got {list(horizons)}")
    if curves.value_column != cube.value_column:
        raise ValueError(f"the curves are of {curves.value_column} but the activity is of {cube.value_column}")
    req = requests.reset_index(drop=True)
    e_date = as_datetimes(req["report_date"])
    k = curves.index(e_date, req)
    s = cube.segment_index(req)
    c = _day_index(req["install_date"], cube.first_day)
    e = _day_index(e_date, cube.first_day)
    m = e - c + 1
    in_cube = (s >= 0) & (c >= 0) & (c < cube.size.shape[1]) & (e <= _day_index([cube.last_day], cube.first_day)[0])
    n_c = np.where(in_cube, cube.size[np.maximum(s, 0), np.clip(c, 0, cube.size.shape[1] - 1)], 0.0)
    reason = np.select([k < 0, ~in_cube | (n_c <= 0), m < 1],
                       ["no segment curve that day", "cohort not in the activity", "installed after the estimate day"], "")
    unanswered = req[reason != ""].assign(reason=reason[reason != ""])
    ok = reason == ""
    req, k, s, c, m, n_c = req[ok].reset_index(drop=True), k[ok], s[ok], c[ok], m[ok], n_c[ok]
    if len(req) == 0:
        return empty_estimates(), unanswered.reset_index(drop=True)

    L = curves.curve_days[k]
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    n_t = curves.cohort_size
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n_t > 0, curves.active_users / np.where(n_t > 0, n_t, 1.0), 0.0)
        mu_noise = np.where(n_t > 0, curves.revenue_per_user / np.sqrt(np.where(n_t > 0, n_t, 1.0)), 0.0)
    zero = np.zeros((len(curves), 1))
    cum_mu = np.concatenate([zero, np.cumsum(curves.revenue_per_user, axis=1)], axis=1)
    cum_rate = np.concatenate([zero, np.cumsum(rate, axis=1)], axis=1)
    cum_noise = np.concatenate([zero, np.cumsum(mu_noise, axis=1)], axis=1)

    # the cohort's own activity relative to its segment's over the days seen by both
    seen = np.minimum(m, L)
    own_active = cube.cum_active[s, c, np.minimum(seen, cube.max_age)] / n_c
    seg_active = _gather(cum_rate, k, seen)
    w = n_c / (n_c + credibility_users)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(seg_active > 0, own_active / np.where(seg_active > 0, seg_active, 1.0), 1.0)
    activity = np.where(m >= MIN_DAYS, 1.0 + w * (rel - 1.0), 1.0)
    # the cohort's own revenue per active day relative to its segment's, weighted by the measured persistence
    own_rev = cube.cum_value[s, c, np.minimum(seen, cube.max_age)] / n_c
    seg_rev = _gather(cum_mu, k, seen)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where((own_active > 0) & (seg_rev > 0) & (seg_active > 0),
                     (own_rev / own_active) / (seg_rev / seg_active), 1.0)
    persist = np.zeros(len(req))
    young = m < MIN_DAYS
    if (~young).any():
        persist[~young] = spend_persistence(cube, e[ok][~young], np.clip(seen[~young], 1, max(curves.window_days // 2, 1)),
                                            curves.window_days)
    spend = np.where(young, 1.0, np.maximum(1.0 + persist * (q - 1.0), 0.0))
    ratio = activity * spend
    cv = curves.user_revenue_cv[k]
    cv = np.where(np.isfinite(cv), cv, curves.cv_fallback[k])
    A, se_A = curves.arpu[k], curves.arpu_se[k]
    # the geometric baseline depends on the curve only: its sums over days once per distinct curve
    k_geo, k_inv = np.unique(k, return_inverse=True) if geometric else (k, None)

    frames = []
    for h in H:
        mh = np.minimum(m, h)
        own = cube.cum_value[s, c, np.minimum(mh, cube.max_age)] / n_c
        rem = _gather(cum_mu, k, np.full_like(mh, h)) - _gather(cum_mu, k, mh)
        emp_end = np.maximum(np.minimum(h, L), mh)
        se_emp = cv * (_gather(cum_noise, k, emp_end) - _gather(cum_noise, k, mh))
        tail_start = np.maximum(mh, L)
        has_tail = h > tail_start
        D = np.where(has_tail, _gather(curves.active_days, k, np.full_like(mh, h))
                     - _gather(curves.active_days, k, tail_start), 0.0)
        se_hi = _gather(curves.active_days_se, k, np.full_like(mh, h))
        se_lo = _gather(curves.active_days_se, k, tail_start)
        missing = has_tail & (np.isnan(se_hi) | np.isnan(se_lo))
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(f"the segment curves lack the standard error of the active days at day "
                             f"{h if np.isnan(se_hi[i]) else tail_start[i]}; fit them with se_days covering it")
        with np.errstate(invalid="ignore"):
            se_D = np.where(~has_tail, 0.0, np.where(np.isinf(se_hi) | np.isinf(se_lo), np.inf,
                                                     np.maximum(se_hi - se_lo, 0.0)))
        with np.errstate(invalid="ignore"):
            var_tail = product_variance(A, se_A, D, se_D)
            sd_own = np.where(rem > 0, cv * rem / np.sqrt(n_c), 0.0)
            se_emp = np.where(rem > 0, se_emp, 0.0)
            # a low spend ratio lowers the estimate, not its uncertainty: users who have not bought yet may
            sd = activity * np.maximum(spend, 1.0) * np.sqrt(se_emp**2 + var_tail + sd_own**2)
        sd = np.where(np.isnan(sd) & (rem > 0), np.inf, np.nan_to_num(sd))
        ltv = own + ratio * rem
        # revenue is right-skewed (a few big buyers): the upper end is the larger of the normal one and
        # that of a lognormal remainder with the same mean and sd
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            s2 = np.log1p((sd / (ratio * rem)) ** 2)
            upper_ln = np.where((ratio * rem > 0) & np.isfinite(s2),
                                own + ratio * rem * np.exp(-s2 / 2 + z * np.sqrt(s2)), -np.inf)
        with np.errstate(over="ignore"):  # a near-singular fit's finite but huge sd: an open upper end, as inf
            upper, lower = np.maximum(ltv + z * sd, upper_ln), np.maximum(ltv - z * sd, own)
        frames.append(pd.DataFrame({
            "row": np.arange(len(req)), "horizon": h, "estimator": "cohort", "ltv_per_user_usd": ltv,
            "lower_usd": lower, "upper_usd": upper, "se_usd": sd,
            "observed_days": m, "basis": np.where(m >= MIN_DAYS, "cohort", "segment"),
            "revenue_to_date_usd": own, "activity_ratio": activity, "spend_ratio": spend,
        }))
        if geometric:
            # one horizon at a time: the sums over days run over exactly h days
            days, se_days = geometric_active_days(curves.geometric_ratio[k_geo], curves.geometric_ratio_se[k_geo],
                                                  np.array([h]))
            g, g_se, g_lower, g_upper = product_interval(A, se_A, days[k_inv, 0], se_days[k_inv, 0], z)
            frames.append(pd.DataFrame({
                "row": np.arange(len(req)), "horizon": h, "estimator": "geometric", "ltv_per_user_usd": g,
                "lower_usd": g_lower, "upper_usd": g_upper, "se_usd": g_se,
                "observed_days": m, "basis": "segment", "revenue_to_date_usd": own, "activity_ratio": 1.0,
                "spend_ratio": 1.0,
            }))
    out = pd.concat(frames, ignore_index=True)
    base = req[["report_date", "install_date", *SEGMENT_KEYS]].copy()
    base["report_date"] = as_datetimes(base["report_date"]).astype("datetime64[ns]")
    base["install_date"] = as_datetimes(base["install_date"]).astype("datetime64[ns]")
    base["cohort_size"] = n_c.astype("int64")
    out = base.iloc[out.pop("row").to_numpy()].reset_index(drop=True).join(out)
    out["observed_days"] = out["observed_days"].astype("int64")
    out["horizon"] = out["horizon"].astype("int64")
    out = out.sort_values(["report_date", "install_date", *SEGMENT_KEYS, "estimator", "horizon"],
                          kind="stable").reset_index(drop=True)
    return out[ESTIMATE_COLUMNS], unanswered.reset_index(drop=True)
