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
    """What ``fit`` estimated: within-ad noise ``s2`` (variance of a ratio per dollar of volume),
    between-ad variance ``t2`` of the multiplier, ``k = s2 / t2`` (inf: no between-ad signal) and
    how many ads and within-ad degrees of freedom they came from."""

    s2: float
    t2: float
    k: float
    ads: int
    within_df: int


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


class AdValueEstimator:
    """Buhlmann-Straub credibility of each ad's revenue so far against its segment's curve.

    ``fit(cells)`` estimates ``params_`` (an ``AdValueParams``) from all the ads' cells; ``predict(cells)``
    returns one row per ad (index: ``keys``) with ``PREDICTION_COLUMNS``. ``level`` is the interval's
    coverage (two-sided).
    """

    def __init__(self, keys=AD_KEYS, level: float = 0.99):
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        self.keys = tuple(keys)
        self.level = level

    def fit(self, cells: pd.DataFrame) -> AdValueEstimator:
        check_cells(cells, self.keys)
        ads, codes = _per_ad(cells, self.keys)
        e_c = cells["users"].to_numpy(float) * cells["seg_to_date_usd"].to_numpy(float)
        r_c = cells["revenue_usd"].to_numpy(float)
        has = e_c > 0
        vol = ads["volume"].to_numpy()
        x_ad = np.divide(ads["revenue_usd"].to_numpy(), vol, out=np.zeros(len(ads)), where=vol > 0)
        # within-ad noise: sum_c E_c (X_c - X_i)^2 has expectation (T_i - 1) s2
        x_c = np.divide(r_c, e_c, out=np.zeros(len(e_c)), where=has)
        ss_within = float(np.sum(e_c[has] * (x_c[has] - x_ad[codes[has]]) ** 2))
        t_i = np.bincount(codes[has], minlength=len(ads))
        df = int(np.sum(np.maximum(t_i - 1, 0)))
        s2 = ss_within / df if df > 0 else np.nan
        # between ads, around the segment (mean 1): sum_i E_i (X_i - 1)^2 has expectation t2 sum E_i + I s2
        used = vol > 0
        n_ads = int(used.sum())
        if n_ads == 0 or not np.isfinite(s2):
            raise AdValueInputError("cells have no ad with more than one install day of segment-expected revenue "
                                    "(users x seg_to_date_usd > 0): nothing to estimate the noise from")
        t2 = max((float(np.sum(vol[used] * (x_ad[used] - 1.0) ** 2)) - n_ads * s2) / float(vol[used].sum()), 0.0)
        k = s2 / t2 if t2 > 0 else np.inf
        self.params_ = AdValueParams(s2=s2, t2=t2, k=k, ads=n_ads, within_df=df)
        return self

    def predict(self, cells: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "params_"):
            raise RuntimeError("AdValueEstimator: call fit(cells) before predict")
        check_cells(cells, self.keys)
        p = self.params_
        ads, _ = _per_ad(cells, self.keys)
        n, r, e, h = (ads[c].to_numpy() for c in ("installs", "revenue_usd", "volume", "at_horizon"))
        x = np.divide(r, e, out=np.ones(len(ads)), where=e > 0)
        z = e / (e + p.k) if np.isfinite(p.k) else np.zeros(len(ads))
        theta = z * x + (1 - z)
        rest = np.maximum(h - e, 0.0)
        total = r + theta * rest  # >= r: the floor holds by construction (theta >= 0)
        # error of the total: (X - theta)(E + Z rest) + (1 - Z)(1 - theta) rest, the two parts uncorrelated
        var_t = (np.divide(p.s2, e, out=np.zeros(len(ads)), where=e > 0) * (e + z * rest) ** 2
                 + (1 - z) ** 2 * p.t2 * rest ** 2)
        per = np.divide(total, n, out=np.full(len(ads), np.nan), where=n > 0)
        se = np.divide(np.sqrt(var_t), n, out=np.full(len(ads), np.nan), where=n > 0)
        lo, hi = _skewed_interval(per, se, self.level)
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
