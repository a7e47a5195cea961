"""Each ad's expected revenue per install at the horizon: its own users' revenue so far, credibility-weighted
toward its segment (Buhlmann-Straub), never below what its users already returned, with a 99% interval.

Pure code (no Dagster). The input is one row per ad x install day (a *cell*; a cell may also be split by
segment): its ``users``, the ``revenue_usd`` they returned so far within the horizon, and what their
segment's LTV curve expects of them per user so far (``seg_to_date_usd``, the curve at the cells' age
capped at the horizon) and at the horizon (``seg_horizon_usd``). ``segment_columns`` makes the last two
from per-segment curves. Derivation and measured figures: docs/per_ad_value.md.

The model, per ad i and cell c: E_ic = users x seg_to_date (the segment-expected revenue so far, the
cell's *volume*), X_ic = revenue / E_ic. Given the ad's multiplier theta_i (how much more its users spend
than their segment's), E[X_ic] = theta_i and Var(X_ic) = s2 / E_ic; across ads E[theta] = 1 (the
segment curve is the mean over the segment's ads) and Var(theta) = t2. The credibility of ad i is
Z_i = E_i / (E_i + k), k = s2 / t2, with s2 from the spread of cells within ads and t2 from the spread
of ads around 1 beyond what s2 explains (``fit``). ``predict`` gives the ad's users' horizon revenue
as revenue so far + theta_hat x (segment-expected revenue still to come), per install.

Robust to whales (robust credibility, Gisler-Reinhard): each cell's revenue is split at a cap
E + u* sqrt(E) into a truncated part and an excess; each part gets its own credibility (the excess around
its collective mean, so the sum stays unbiased), their covariances enter the error; u* is the quantile
of the cells' standardised ratios (``CAP_QUANTILES``, no cap included) with the lowest estimated error.

The point estimate (``point="median"``, the default) is not the parts credited apart: the whole multiplier
is estimated from both of the ad's ratios (below and above the caps) with their between- and within-ad
covariances (multidimensional credibility), and the point is the median of the Gamma posterior with that
mean and error variance: a weak ad below the caps is no longer credited the collective excess, and an ad
with little evidence is shrunk toward the typical ad, not the mean one. The interval is the separate
estimate's (``point="separate"``: the previous estimator), widened to hold the point if needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

AD_KEYS = ("network", "campaign_id", "ad_group_id", "ad_id")
CELL_COLUMNS = ("users", "revenue_usd", "seg_to_date_usd", "seg_horizon_usd")
PREDICTION_COLUMNS = ("installs", "revenue_usd", "segment_per_install_usd", "ratio", "credibility",
                      "theta", "estimate_per_install_usd", "lower_usd", "upper_usd", "floor_per_install_usd",
                      "se_usd")


class AdValueInputError(ValueError):
    """Cells that the estimator cannot use; the message names the column."""


@dataclass(frozen=True)
class AdValueParams:
    """What ``fit`` estimated. ``s2``, ``t2``, ``k = s2 / t2`` (inf: no between-ad signal): within-ad noise
    (variance of a ratio per dollar of volume), between-ad variance of the multiplier and the credibility
    constant, all of the *truncated* revenue; ``ads`` and ``within_df``: what they came from. Truncation
    (docs/per_ad_value.md, robust credibility): each cell's revenue is capped at E + ``cap_u`` sqrt(E)
    (inf: no cap), ``cap_quantile`` the quantile of the cells' standardised ratios it was chosen at;
    ``excess`` is the collective ratio of the revenue above the caps to the volume (the excess ratio's
    collective mean), ``s2_excess`` / ``t2_excess`` its within- and between-ad
    variances, ``s_cross`` / ``t_cross`` the within- and between-ad covariances of the truncated and
    excess ratios."""

    s2: float
    t2: float
    k: float
    ads: int
    within_df: int
    cap_u: float = np.inf
    cap_quantile: float = 1.0
    excess: float = 0.0
    s2_excess: float = 0.0
    t2_excess: float = 0.0
    s_cross: float = 0.0
    t_cross: float = 0.0

    @property
    def t2_multiplier(self) -> float:
        """Between-ad variance of the whole multiplier (truncated part + excess): t2 + t2_excess + 2 t_cross."""
        return self.t2 + self.t2_excess + 2 * self.t_cross


#: Point estimates: ``median`` / ``mean`` of theta's posterior from both the truncated and the excess ratio
#: with their covariances (docs, third part); ``separate``: each part credited apart (the second part's)
POINTS = ("median", "mean", "separate")

#: Candidate truncation points, as quantiles of the cells' standardised ratios (X - 1) sqrt(E); 1.0 is no cap.
CAP_QUANTILES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 1.0)


def check_cells(cells: pd.DataFrame, keys) -> None:
    """Raise ``AdValueInputError`` naming the first missing or bad column."""
    if not isinstance(cells, pd.DataFrame):
        raise AdValueInputError(f"cells must be a pandas DataFrame, got {type(cells).__name__}")
    for c in (*keys, *CELL_COLUMNS):
        if c not in cells.columns:
            raise AdValueInputError(f"cells lack column {c!r} (need {[*keys, *CELL_COLUMNS]})")
    for c in CELL_COLUMNS:
        try:
            v = cells[c].to_numpy(dtype=float)
        except (TypeError, ValueError) as e:
            raise AdValueInputError(f"column {c!r} is not numeric: {e}") from None
        if np.isnan(v).any() or np.isinf(v).any():
            raise AdValueInputError(f"column {c!r} has {int((~np.isfinite(v)).sum())} NaN or infinite value(s)")
        if (v < 0).any():
            raise AdValueInputError(f"column {c!r} has {int((v < 0).sum())} negative value(s), e.g. {v[v < 0][0]}")
    bad = cells["seg_to_date_usd"].to_numpy(float) > cells["seg_horizon_usd"].to_numpy(float) * (1 + 1e-9) + 1e-12
    if bad.any():
        raise AdValueInputError(f"column 'seg_to_date_usd' exceeds 'seg_horizon_usd' in {int(bad.sum())} cell(s): "
                                f"the curve so far cannot be above its value at the horizon")


def segment_columns(cells: pd.DataFrame, curves: dict, horizon: int, segment: str = "segment",
                    age: str = "age_days") -> pd.DataFrame:
    """``cells`` with ``seg_to_date_usd`` and ``seg_horizon_usd`` from ``curves``: per segment value an array
    ``curve[a]`` = expected cumulative revenue per user over its first ``a`` days (``curve[0] = 0``, length
    > ``horizon``). ``age``: days each cell's users have been seen (report day - install day + 1)."""
    for c in (segment, age):
        if c not in cells.columns:
            raise AdValueInputError(f"cells lack column {c!r}")
    a = cells[age].to_numpy()
    if (a < 1).any():
        raise AdValueInputError(f"column {age!r} has values below 1 (an install day is seen on itself)")
    to_date, at_h = np.full(len(cells), np.nan), np.full(len(cells), np.nan)
    seg = cells[segment].to_numpy()
    for s in pd.unique(seg):
        if s not in curves:
            raise AdValueInputError(f"column {segment!r}: no curve for segment {s!r}")
        curve = np.asarray(curves[s], dtype=float)
        if len(curve) <= horizon:
            raise AdValueInputError(f"the curve of segment {s!r} has {len(curve)} days; horizon {horizon} needs more")
        sel = seg == s
        to_date[sel] = curve[np.minimum(a[sel], horizon)]
        at_h[sel] = curve[horizon]
    return cells.assign(seg_to_date_usd=to_date, seg_horizon_usd=at_h)


def _per_ad(cells: pd.DataFrame, keys) -> tuple[pd.DataFrame, np.ndarray]:
    """Per ad sums (sorted by ``keys``) and each cell's ad number."""
    g = cells.groupby(list(keys), sort=True, observed=True)
    codes = g.ngroup().to_numpy()
    sums = g.size().to_frame().iloc[:, :0]  # the keys as the index
    n = len(sums)
    u = cells["users"].to_numpy(float)
    e = u * cells["seg_to_date_usd"].to_numpy(float)
    p = u * cells["seg_horizon_usd"].to_numpy(float)
    r = cells["revenue_usd"].to_numpy(float)
    out = sums.assign(installs=np.bincount(codes, u, minlength=n), revenue_usd=np.bincount(codes, r, minlength=n),
                      volume=np.bincount(codes, e, minlength=n), at_horizon=np.bincount(codes, p, minlength=n))
    return out, codes


def _bs_variances(r_c: np.ndarray, e_c: np.ndarray, codes: np.ndarray, n_ads: int, mean: float,
                  r2_c: np.ndarray | None = None, mean2: float | None = None) -> tuple[float, float, int, int]:
    """Buhlmann-Straub estimates for the ratios X = r / e of cells grouped by ``codes``: within-ad ``s2``
    (sum_c E_c (X_c - X_i)^2 has expectation (T_i - 1) s2), between-ad ``t2`` around ``mean``
    (sum_i E_i (X_i - mean)^2 has expectation t2 sum E_i + I s2), the within df and the ads used.
    With ``r2_c`` / ``mean2``: the same for the covariance of X and X2 = r2 / e (t2 then not clipped at 0)."""
    cov = r2_c is not None
    r2_c, mean2 = (r_c, mean) if not cov else (r2_c, mean2)
    has = e_c > 0
    e_i = np.bincount(codes, e_c, minlength=n_ads)

    def ratios(r):
        r_i = np.bincount(codes, r, minlength=n_ads)
        return (np.divide(r_i, e_i, out=np.zeros(n_ads), where=e_i > 0),
                np.divide(r, e_c, out=np.zeros(len(e_c)), where=has))

    (x_i, x_c), (y_i, y_c) = ratios(r_c), ratios(r2_c)
    ss_within = float(np.sum(e_c[has] * (x_c[has] - x_i[codes[has]]) * (y_c[has] - y_i[codes[has]])))
    df = int(np.sum(np.maximum(np.bincount(codes[has], minlength=n_ads) - 1, 0)))
    s2 = ss_within / df if df > 0 else np.nan
    used = e_i > 0
    if not used.any() or not np.isfinite(s2):
        return s2, 0.0, df, int(used.sum())
    t2 = (float(np.sum(e_i[used] * (x_i[used] - mean) * (y_i[used] - mean2))) - int(used.sum()) * s2) / float(e_i[used].sum())
    return s2, (t2 if cov else max(t2, 0.0)), df, int(used.sum())


def _cap(r_c: np.ndarray, e_c: np.ndarray, cap_u: float) -> np.ndarray:
    """Each cell's revenue capped at E + cap_u sqrt(E) (a cell with no volume is not capped)."""
    if not np.isfinite(cap_u):
        return r_c
    return np.where(e_c > 0, np.minimum(r_c, e_c + cap_u * np.sqrt(e_c)), r_c)


def _fit_at(r_c, e_c, codes, n_ads, cap_u: float, q: float) -> AdValueParams:
    r_t = _cap(r_c, e_c, cap_u)
    excess = float((r_c - r_t).sum() / e_c.sum())
    s2, t2, df, used = _bs_variances(r_t, e_c, codes, n_ads, 1.0 - excess)
    if excess > 0:
        s2_d, t2_d, _, _ = _bs_variances(r_c - r_t, e_c, codes, n_ads, excess)
        s_x, t_x, _, _ = _bs_variances(r_t, e_c, codes, n_ads, 1.0 - excess, r_c - r_t, excess)
    else:
        s2_d, t2_d, s_x, t_x = 0.0, 0.0, 0.0, 0.0
    return AdValueParams(s2=s2, t2=t2, k=s2 / t2 if t2 > 0 else np.inf, ads=used, within_df=df, cap_u=cap_u,
                         cap_quantile=q, excess=excess, s2_excess=s2_d, t2_excess=t2_d, s_cross=s_x, t_cross=t_x)


def _estimate(p: AdValueParams, r: np.ndarray, r_t: np.ndarray, e: np.ndarray, h: np.ndarray):
    """Per ad from its sums (revenue, truncated revenue, volume so far, at the horizon): the ratio X,
    credibility Z, theta_hat, the total horizon revenue estimate, its error variance against theta x the
    segment-expected total and against the expected value of exactly these users (docs/per_ad_value.md)."""
    m = len(r)
    x = np.divide(r, e, out=np.ones(m), where=e > 0)
    y = np.divide(r_t, e, out=np.full(m, 1.0 - p.excess), where=e > 0)
    z = e / (e + p.k) if np.isfinite(p.k) else np.zeros(m)
    # the excess above the caps gets its own credibility (a second Buhlmann-Straub on D / E around `excess`)
    d = np.divide(r - r_t, e, out=np.full(m, p.excess), where=e > 0)
    zd = e / (e + p.s2_excess / p.t2_excess) if p.t2_excess > 0 else np.zeros(m)
    theta = np.maximum(z * y + (1 - z) * (1.0 - p.excess) + zd * d + (1 - zd) * p.excess, 0.0)
    rest = np.maximum(h - e, 0.0)
    total = r + theta * rest  # >= r: the floor holds by construction
    inv_e = np.divide(1.0, e, out=np.zeros(m), where=e > 0)
    # error: [(Y - th~)(E + Z rest) + (1 - Z)(mu - th~) rest] + [(D/E - eps)(E + Zd rest) + (1 - Zd)(exc - eps) rest];
    # against the expected value of exactly the seen users, their own future excess deviates from their
    # ad's by at most s2_excess / E per unit of rest^2 (the part that is not credited)
    var_t = p.s2 * inv_e * (e + z * rest) ** 2 + (1 - z) ** 2 * p.t2 * rest ** 2
    var_d = p.s2_excess * inv_e * (e + zd * rest) ** 2 + (1 - zd) ** 2 * p.t2_excess * rest ** 2
    var_u = var_d + (1 - zd) ** 2 * p.s2_excess * inv_e * rest ** 2
    # the two parts are correlated (a good ad has more revenue below and above the caps)
    cov = p.s_cross * inv_e * (e + z * rest) * (e + zd * rest) + (1 - z) * (1 - zd) * p.t_cross * rest ** 2
    # the part from the noise of the revenue seen (in the estimate, right-skewed: lucky whales push it up)
    noise = (p.s2 * (e + z * rest) ** 2 + p.s2_excess * (e + zd * rest) ** 2
             + 2 * p.s_cross * (e + z * rest) * (e + zd * rest)) * inv_e
    return (x, z, theta, total, np.maximum(var_t + var_d + 2 * cov, 0.0), np.maximum(var_t + var_u + 2 * cov, 0.0),
            np.maximum(noise, 0.0))


def _between_matrix(p: AdValueParams) -> np.ndarray:
    """The between-ad covariance matrix of (truncated multiplier, excess): t2, t_cross / t_cross, t2_excess,
    with t2_excess raised to t_cross^2 / t2 where it is below (the least value that makes the matrix a
    covariance: t2_excess, estimated after removing the whales' large within-ad noise, is the noisiest)."""
    t2, tx, td = p.t2, p.t_cross, p.t2_excess
    if not t2 > 0:
        tx = 0.0
    elif tx ** 2 > t2 * td:
        td = tx ** 2 / t2
    return np.array([[t2, tx], [tx, td]])


def _point(p: AdValueParams, r: np.ndarray, r_t: np.ndarray, e: np.ndarray, point: str):
    """Per ad: the credibility Z (the share of theta's between-ad variance the linear estimate explains),
    and the multiplier: the posterior median (``median``) or mean (``mean``) of theta.

    The mean is the best linear estimator of theta = truncated multiplier + excess from both of the ad's
    ratios (Y, d) (multidimensional Buhlmann-Straub, Jewell): theta_hat = 1 + b' (Y - mu~, d - excess),
    b = (T + S / E)^-1 T 1, its error variance mse = 1' T 1 - 1' T b (T, S: between- and within-ad covariance
    matrices of the two ratios). The median is that of the Gamma with this mean and rate 1 / mse, the
    posterior of the Gamma-Poisson model whose posterior mean is the linear one (docs/per_ad_value.md,
    third part): a right-skewed posterior whose median is below its mean, the more the less evidence."""
    m = len(r)
    exc = p.excess
    dev = np.stack([np.divide(r_t, e, out=np.full(m, 1.0 - exc), where=e > 0) - (1.0 - exc),
                    np.divide(r - r_t, e, out=np.full(m, exc), where=e > 0) - exc], axis=1)
    t = _between_matrix(p)
    s = np.array([[p.s2, p.s_cross], [p.s_cross, p.s2_excess]])
    c = t.sum(axis=1)
    t2 = float(c.sum())
    if not t2 > 0:
        return np.zeros(m), np.ones(m)
    inv_e = np.divide(1.0, e, out=np.zeros(m), where=e > 0)
    sig = t[None] + s[None] * inv_e[:, None, None]
    beta = np.einsum("nij,j->ni", np.linalg.pinv(sig, hermitian=True), c)
    beta[e <= 0] = 0.0  # no volume, no evidence: the segment's value
    mean = np.maximum(1.0 + np.einsum("ni,ni->n", beta, dev), 0.0)
    mse = np.clip(t2 - beta @ c, 0.0, t2)
    z = 1.0 - mse / t2
    if point == "mean":
        return z, mean
    rate = np.divide(1.0, mse, out=np.zeros(m), where=mse > 0)
    med = np.where(mse > 0, stats.gamma.ppf(0.5, mean * rate) / np.where(mse > 0, rate, 1.0), mean)
    return z, np.where(mean > 0, med, 0.0)


class AdValueEstimator:
    """Robust Buhlmann-Straub credibility of each ad's revenue so far against its segment's curve.

    ``fit(cells)`` estimates ``params_`` (an ``AdValueParams``) from all the ads' cells, the truncation
    point included (the one of ``cap_quantiles`` whose estimated mean squared error of the ads' horizon
    multipliers is lowest); ``predict(cells)`` returns one row per ad (index: ``keys``) with
    ``PREDICTION_COLUMNS``. ``level`` is the interval's coverage (two-sided). ``point``: ``median`` (default)
    or ``mean`` of the multiplier's posterior from both ratios, or ``separate`` (each part credited apart,
    the previous estimate); ``theta`` and ``credibility`` are those of the point.
    """

    def __init__(self, keys=AD_KEYS, level: float = 0.99, cap_quantiles=CAP_QUANTILES, point: str = "median"):
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        if point not in POINTS:
            raise ValueError(f"point must be one of {POINTS}, got {point!r}")
        self.point = point
        qs = tuple(float(q) for q in cap_quantiles)
        if not qs or any(not 0 < q <= 1 for q in qs):
            raise ValueError(f"cap_quantiles must be non-empty, each in (0, 1], got {cap_quantiles}")
        self.keys = tuple(keys)
        self.level = level
        self.cap_quantiles = qs

    def fit(self, cells: pd.DataFrame) -> AdValueEstimator:
        check_cells(cells, self.keys)
        ads, codes = _per_ad(cells, self.keys)
        n_ads = len(ads)
        e_c = cells["users"].to_numpy(float) * cells["seg_to_date_usd"].to_numpy(float)
        r_c = cells["revenue_usd"].to_numpy(float)
        has = e_c > 0
        e, h = ads["volume"].to_numpy(), ads["at_horizon"].to_numpy()
        u = (r_c[has] / e_c[has] - 1.0) * np.sqrt(e_c[has])  # standardised ratios: variance s2 each
        best, best_mse = None, np.inf
        for q in sorted(set(self.cap_quantiles), reverse=True):  # no cap first: it wins ties
            cap_u = np.inf if q >= 1 or not has.any() else float(np.quantile(u, q))
            if np.isfinite(cap_u) and cap_u <= 0:
                continue
            prm = _fit_at(r_c, e_c, codes, n_ads, cap_u, q)
            if not np.isfinite(prm.s2):
                continue
            r_t = np.bincount(codes, _cap(r_c, e_c, cap_u), minlength=n_ads)
            *_, var_theta, _, _ = _estimate(prm, ads["revenue_usd"].to_numpy(), r_t, e, h)
            mse = float(np.mean(np.divide(var_theta, h ** 2, out=np.zeros(n_ads), where=h > 0)))
            if mse < best_mse * (1 - 1e-9):
                best, best_mse = prm, mse
        if best is None:
            raise AdValueInputError("cells have no ad with more than one install day of segment-expected revenue "
                                    "(users x seg_to_date_usd > 0): nothing to estimate the noise from")
        self.params_ = best
        return self

    def predict(self, cells: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "params_"):
            raise RuntimeError("AdValueEstimator: call fit(cells) before predict")
        check_cells(cells, self.keys)
        p = self.params_
        ads, codes = _per_ad(cells, self.keys)
        n, r, e, h = (ads[c].to_numpy() for c in ("installs", "revenue_usd", "volume", "at_horizon"))
        e_c = cells["users"].to_numpy(float) * cells["seg_to_date_usd"].to_numpy(float)
        r_t = np.bincount(codes, _cap(cells["revenue_usd"].to_numpy(float), e_c, p.cap_u), minlength=len(ads))
        x, z, theta, total, _, var_t, var_noise = _estimate(p, r, r_t, e, h)
        # the interval: that of the separate-credibility estimate (its error variance; third part of the docs)
        per = np.divide(total, n, out=np.full(len(ads), np.nan), where=n > 0)
        se = np.divide(np.sqrt(var_t), n, out=np.full(len(ads), np.nan), where=n > 0)
        lo, hi = _skewed_interval(per, se, self.level)
        # the truth lies below the estimate by as much as the seen revenue's noise lifted it: a symmetric
        # bound on that part, below the lognormal one where it reaches further (it may pass the floor: the
        # floor bounds the estimate, the truth is an expectation that lucky revenue can exceed)
        sd_noise = np.divide(np.sqrt(var_noise), n, out=np.zeros(len(ads)), where=n > 0)
        lo = np.minimum(lo, np.maximum(per - stats.norm.ppf(0.5 + self.level / 2) * sd_noise, 0.0))
        if self.point != "separate":
            # the point: theta from both ratios (below and above the caps) with their cross-covariances,
            # posterior median or mean; >= 0, so the estimate stays >= the realised revenue (the floor)
            z, theta = _point(p, r, r_t, e, self.point)
            per = np.divide(r + theta * np.maximum(h - e, 0.0), n, out=np.full(len(ads), np.nan), where=n > 0)
            lo, hi = np.minimum(lo, per), np.maximum(hi, per)
        return ads[[]].assign(
            installs=n, revenue_usd=r,
            segment_per_install_usd=np.divide(h, n, out=np.full(len(ads), np.nan), where=n > 0),
            ratio=x, credibility=z, theta=theta, estimate_per_install_usd=per, lower_usd=lo, upper_usd=hi,
            floor_per_install_usd=np.divide(r, n, out=np.full(len(ads), np.nan), where=n > 0), se_usd=se)


def _skewed_interval(est: np.ndarray, se: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """A lognormal interval with the estimate's mean and standard error (values are positive and
    right-skewed): log-sd w = sqrt(log(1 + cv^2)), median est / sqrt(1 + cv^2)."""
    zq = stats.norm.ppf(0.5 + level / 2)
    cv2 = np.divide(se ** 2, est ** 2, out=np.zeros_like(est), where=est > 0)
    w = np.sqrt(np.log1p(cv2))
    med = est / np.sqrt(1 + cv2)
    lo = np.where(est > 0, med * np.exp(-zq * w), 0.0)
    hi = np.where(est > 0, med * np.exp(zq * w), np.where(se > 0, zq * se, 0.0))
    return lo, hi
