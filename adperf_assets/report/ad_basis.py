"""The ``ad_credibility`` estimate basis: each ad's estimated return from ``report.ad_value``'s per-ad
credibility estimator, fed with the report's cells, and how it rolls up. See docs/roas_report.md
("Estimate basis ad_credibility").

Per cell (ad x install day x segment) with an LTV estimate the estimator gets its ``users``, their
``revenue_usd`` within the horizon so far (a net refund counts as 0), their segment curve's value per
user over the days seen (``seg_to_date_usd``, capped at the horizon) and at the horizon
(``seg_horizon_usd``). Each ad's estimated return is installs x the estimator's per-install estimate
(interval alike), plus the realised return of its cells without an estimate (zero width, as today).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.report.ad_value import AdValueEstimator, AdValueInputError
from adperf_assets.report.payback import value_at

LEVEL = 0.99  # the report's intervals are 99%


def estimator_cells(aid: np.ndarray, users: np.ndarray, realised_h: np.ndarray, has: np.ndarray, age: np.ndarray,
                    horizons: list[int], kv: np.ndarray, horizon: int) -> pd.DataFrame:
    """The estimator's input: one row per cell with an estimate (``has``), keyed by ``aid``."""
    h = horizons.index(horizon)
    knots = np.asarray(horizons, dtype=float)
    kv_h = np.nan_to_num(kv[has])
    at_h = np.maximum(kv_h[:, h], 0.0)
    seen = np.minimum(age[has], horizon).astype(float)
    to_date = np.minimum(value_at(seen, knots, kv_h), at_h) if len(knots) else np.zeros(int(has.sum()))
    return pd.DataFrame({"aid": aid[has], "users": users[has].astype(float),
                         "revenue_usd": np.maximum(realised_h[has], 0.0), "seg_to_date_usd": to_date,
                         "seg_horizon_usd": at_h})


def ad_estimates(aid: np.ndarray, n_ads: int, users: np.ndarray, realised: np.ndarray, realised_h: np.ndarray,
                 has: np.ndarray, age: np.ndarray, horizons: list[int], kv: np.ndarray, horizon: int):
    """Per ad (``0..n_ads-1``): ``est, lo, hi`` (money), ``floor`` (what its users returned within the
    horizon: the lower bound never goes below it) and a note (empty, or why the estimator could not be
    fitted: then ``est`` is ``None`` and the caller falls back)."""
    est = np.bincount(aid[~has], realised[~has], minlength=n_ads).astype(float)
    if not has.any():
        return est, est.copy(), est.copy(), est.copy(), ""
    cells = estimator_cells(aid, users, realised_h, has, age, horizons, kv, horizon)
    try:
        pred = AdValueEstimator(keys=("aid",), level=LEVEL).fit(cells).predict(cells)
    except AdValueInputError as e:
        return None, None, None, None, f"ad_credibility not fitted ({e}); segment curve's rest used instead"
    a = pred.index.get_level_values("aid").to_numpy(np.int64) if isinstance(pred.index, pd.MultiIndex) \
        else pred.index.to_numpy(np.int64)
    n = pred["installs"].to_numpy(float)
    total = n * pred["estimate_per_install_usd"].to_numpy(float)
    floor = est.copy()
    floor[a] += pred["revenue_usd"].to_numpy(float)
    lo, hi = est.copy(), est.copy()
    est[a] += total
    lo[a] += np.clip(n * pred["lower_usd"].to_numpy(float), pred["revenue_usd"].to_numpy(float), total)
    hi[a] += np.maximum(n * pred["upper_usd"].to_numpy(float), total)
    return est, lo, hi, floor, ""


def rollup_ads(gid_of_aid: np.ndarray, ng: int, est: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               floor: np.ndarray, rule: str):
    """Per group the sum of its ads' estimates; the interval: ``segments_independent`` adds the ads'
    half-widths below and above in quadrature (the estimator's errors are independent across ads: each
    is its own users' noise and its own multiplier), never below the group's floor; ``comonotone`` adds
    the bounds."""
    e = np.bincount(gid_of_aid, est, minlength=ng)
    if rule == "comonotone":
        return e, np.bincount(gid_of_aid, lo, minlength=ng), np.bincount(gid_of_aid, hi, minlength=ng)
    down = np.bincount(gid_of_aid, (est - lo) ** 2, minlength=ng)
    up = np.bincount(gid_of_aid, (hi - est) ** 2, minlength=ng)
    f = np.bincount(gid_of_aid, floor, minlength=ng)
    return e, np.minimum(np.maximum(e - np.sqrt(down), f), e), e + np.sqrt(up)
