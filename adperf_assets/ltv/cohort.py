"""One curve's LTV, the studio way: moving-average ARPU x the blended retention's expected active days.

``LTV(H) = ARPU * sum_{t<H} R(t)`` with its interval, and the geometric-series baseline the game
studio's LTV post replaced; also the ARPU x days interval and geometric sums the per-cohort
estimates share. Derivation and measured errors: docs/ltv_cohort.md ("One curve's LTV").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from adperf_assets.ltv.access_rate import (
    MIN_DAYS,
    _as_1d,
    _check_rate_curve,
    _cohort_sizes,
    _horizons,
    clean_access_rate,
)
from adperf_assets.ltv.blended import BlendedRetention
from adperf_assets.ltv.install_day import START_DAY
from adperf_assets.ltv.keys import HORIZONS

ARPU_WINDOW = 28
COLUMNS = ["horizon", "ltv", "lower", "upper", "ltv_se", "arpu", "arpu_se", "active_days", "active_days_se"]


def arpu_moving_average(daily_arpu, window: int = ARPU_WINDOW, active_users=None) -> tuple[float, float]:
    """Mean of the last ``window`` days' ARPU and its standard error.

    Plain mean with se = sd / sqrt(n) (the game studio's LTV post), or, given ``active_users`` per day, the
    mean weighted by active users (= window revenue / window active user-days) with the
    matching weighted standard error. Daily values may be negative (a day of net refunds);
    the average may not.
    """
    a = _as_1d(daily_arpu, "daily_arpu", lo=None)
    if not isinstance(window, (int, np.integer)) or window < 2:
        raise ValueError(f"arpu_window must be a whole number of days >= 2, got {window!r}")
    if len(a) < 2:
        raise ValueError(f"daily_arpu has {len(a)} days; at least 2 are needed")
    tail = a[-window:]
    if active_users is None:
        w = np.ones_like(tail)
    else:
        w = _as_1d(active_users, "active_users", lo=0.0)
        if len(w) != len(a):
            raise ValueError(f"active_users has {len(w)} days but daily_arpu has {len(a)}")
        w = w[-window:]
        if w.sum() <= 0:
            raise ValueError(f"nobody was active in the last {len(tail)} days; ARPU is undefined")
    m = len(tail)
    mean = float((w * tail).sum() / w.sum())
    if mean < 0:
        raise ValueError(f"the {m}-day moving average of daily_arpu is negative ({mean!r}); "
                         "refunds exceed revenue, so there is no LTV to estimate")
    se = np.sqrt(m / (m - 1) * (w**2 * (tail - mean) ** 2).sum()) / w.sum()
    return mean, float(se)


def _check_inputs(daily_arpu, access_rate, confidence):
    r = _check_rate_curve(access_rate, "access_rate", min_days=1)
    a = _as_1d(daily_arpu, "daily_arpu", lo=None)
    if len(a) != len(r):
        raise ValueError(f"daily_arpu has {len(a)} days but access_rate has {len(r)}")
    if len(r) < MIN_DAYS:
        raise ValueError(f"only {len(r)} observed days; the estimate needs at least {MIN_DAYS}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return a, r


def product_variance(a, a_se, d, d_se):
    """Variance of the product A x D of two independent estimates (exact): D^2 se_A^2 + A^2 se_D^2 + se_A^2 se_D^2."""
    return d**2 * a_se**2 + a**2 * d_se**2 + a_se**2 * d_se**2


def product_interval(a, a_se, d, d_se, z):
    """A x D (ARPU x active days), its standard error, and the normal interval +- z se, lower end floored at 0."""
    value = a * d
    se = np.sqrt(product_variance(a, a_se, d, d_se))
    return value, se, np.maximum(value - z * se, 0.0), value + z * se


def geometric_active_days(ratio: np.ndarray, ratio_se: np.ndarray, horizons: np.ndarray):
    """sum_{t<H} r^t per ratio r (K,) and horizon H, and its delta-method standard error, each (K, len(H))."""
    r = ratio[:, None]
    t = np.arange(horizons.max(), dtype=float)
    below = t[None, :] < horizons[:, None]
    days = ((r**t)[:, None, :] * below).sum(axis=-1)
    slope = (np.where(t > 0, t * r ** np.maximum(t - 1, 0), 0.0)[:, None, :] * below).sum(axis=-1)
    return days, np.abs(slope) * ratio_se[:, None]


def _table(horizons, arpu, arpu_se, days, days_se, confidence) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    ltv, se, lower, upper = product_interval(arpu, arpu_se, days, days_se, z)
    return pd.DataFrame({
        "horizon": horizons, "ltv": ltv, "lower": lower, "upper": upper,
        "ltv_se": se, "arpu": arpu, "arpu_se": arpu_se, "active_days": days, "active_days_se": days_se,
    }, columns=COLUMNS)


def cohort_ltv(
    daily_arpu,
    access_rate,
    cohort_size,
    horizons=HORIZONS,
    confidence: float = 0.99,
    *,
    arpu_window: int = ARPU_WINDOW,
    arpu_weighting: str = "plain",
    variance: str = "model_averaged",
    retention: BlendedRetention | None = None,
    start_day: int = START_DAY,
) -> pd.DataFrame:
    """LTV per horizon with its interval: moving-average ARPU x blended retention (docs/ltv_cohort.md).

    ``daily_arpu[t]`` = revenue / active users on day t since install, ``access_rate[t]`` =
    active users / cohort size (t = 0..T-1, T >= 7, ``access_rate[0]`` normally 1),
    ``cohort_size`` a number or per-day n(t) of pooled cohorts (``pooling.combine_cohorts``
    gives all three columns). ``arpu_weighting``: "plain" (the daily values' mean) or "active"
    (weighted by active users). ``retention``: an already fitted ``BlendedRetention`` (e.g.
    ``fit_many(...).blended(k)``) to skip the fit; else the fit starts on ``start_day`` (1: the
    install day is taken as observed, not as churn -- install_day.py). Returns one row per horizon, ``COLUMNS``:
    ``horizon`` (days), ``ltv``, ``lower``, ``upper`` (revenue per installed user, the currency
    of ``daily_arpu``), ``ltv_se``, ``arpu``, ``arpu_se``, ``active_days`` (expected active days
    per user in the horizon) and ``active_days_se``.
    """
    a, r = _check_inputs(daily_arpu, access_rate, confidence)
    n = _cohort_sizes(cohort_size, len(r))
    h = _horizons(horizons)
    if arpu_weighting not in ("plain", "active"):
        raise ValueError(f"arpu_weighting must be 'plain' or 'active', got {arpu_weighting!r}")
    arpu, arpu_se = arpu_moving_average(a, arpu_window, r * n if arpu_weighting == "active" else None)
    if retention is None:
        retention = BlendedRetention(variance).fit(r, n, start_day=start_day)
    days, days_se = retention.cumulative(h)
    return _table(h, arpu, arpu_se, days, days_se, confidence)


def geometric_ltv(
    daily_arpu,
    access_rate,
    horizons=HORIZONS,
    confidence: float = 0.99,
    *,
    arpu_window: int = ARPU_WINDOW,
) -> pd.DataFrame:
    """Geometric-series baseline ARPU (1 - r^H) / (1 - r), same columns as ``cohort_ltv``.

    r from ``daily_retention_ratio``: ln R(t) = t ln r, least squares through the origin on the
    cleaned access rate's positive days.
    """
    a, r = _check_inputs(daily_arpu, access_rate, confidence)
    h = _horizons(horizons)
    arpu, arpu_se = arpu_moving_average(a, arpu_window)
    ratio, ratio_se = daily_retention_ratio(r)
    days, days_se = geometric_active_days(np.array([ratio]), np.array([ratio_se]), h)
    return _table(h, arpu, arpu_se, days[0], days_se[0], confidence)


def daily_retention_ratio(access_rate) -> tuple[float, float]:
    """Common ratio r of R(t) ~ r^t and its standard error, on the cleaned rate's positive days."""
    rate = clean_access_rate(access_rate)
    t = np.arange(len(rate), dtype=float)
    keep = (rate > 0) & (t > 0)
    if not keep.any():
        return 0.0, 0.0
    y = np.log(rate[keep] / rate[0])
    x = t[keep]
    slope = float((x @ y) / (x @ x))
    dof = max(len(x) - 1, 1)
    s2 = float(((y - slope * x) ** 2).sum() / dof)
    ratio = float(np.exp(slope))
    return ratio, ratio * float(np.sqrt(s2 / (x @ x)))
