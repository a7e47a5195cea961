"""Per cell (the users of one ad, install day and segment): the LTV the day's ``ltv_estimates`` give
it, and its estimated return with the interval. Definitions: docs/roas_report.md.
"""

from __future__ import annotations

import numpy as np

from adperf_assets.report.coding import CodedRun, day_slice
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.payback import value_at


def ltv_of_cells(run: CodedRun, day: int, c_inst: np.ndarray, c_seg: np.ndarray, horizon: int):
    """For the day's cells: LTV per user at every horizon of the day's ``ltv_estimates`` (first row per
    cohort x segment x horizon, as a left merge would take it) and interval/estimator/MAPE at ``horizon``."""
    r = day_slice(run.l_rday, day, day)
    h_all = run.l_horizon[r]
    horizons = sorted(int(h) for h in np.unique(h_all))
    nseg = max(len(run.seg_values), 1)
    ckey = c_inst * nseg + c_seg
    kv = np.full((len(ckey), len(horizons)), np.nan)
    at_h = None
    for j, h in enumerate(horizons):
        rows = np.flatnonzero((h_all == h) & (run.l_seg[r] >= 0)) + r.start
        keys, first = np.unique(run.l_inst[rows] * nseg + run.l_seg[rows], return_index=True)
        pos = np.minimum(np.searchsorted(keys, ckey), max(len(keys) - 1, 0))
        found = (keys[pos] == ckey) if len(keys) else np.zeros(len(ckey), bool)
        src = rows[first[pos]] if len(keys) else np.zeros(len(ckey), np.int64)
        kv[found, j] = run.l_value[src[found]]
        if h == horizon:
            at_h = (found, src)
    n = len(ckey)
    lower, upper, mape = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    est_code = np.full(n, -1, np.int64)
    if at_h is not None:
        found, src = at_h
        lower[found], upper[found] = run.l_lower[src[found]], run.l_upper[src[found]]
        mape[found], est_code[found] = run.l_mape[src[found]], run.l_estimator[src[found]]
    return horizons, int(r.stop - r.start), kv, lower, upper, mape, est_code


def cell_estimates(users: np.ndarray, realised: np.ndarray, realised_h: np.ndarray, has_segment: np.ndarray,
                   age: np.ndarray, horizons: list[int], kv: np.ndarray, lo_pu: np.ndarray, hi_pu: np.ndarray,
                   config: ReportConfig):
    """Per cell the estimate ``est`` with its interval ``lo``/``hi`` (money) and whether it has an estimate."""
    n = users.astype(float)
    per_user_h = kv[:, horizons.index(config.horizon_days)] if config.horizon_days in horizons else np.full(len(n), np.nan)
    has = has_segment & ~np.isnan(per_user_h)
    no_iv = np.isnan(lo_pu) | np.isnan(hi_pu)
    if config.estimate_basis == "segment_average":
        est = n * per_user_h
        lo = np.where(no_iv, 0.0, n * lo_pu)
        hi = np.where(no_iv, np.inf, n * hi_pu)
    else:  # realised_plus_expected: what the cell's users returned within the horizon + the curve's rest
        knots = np.asarray(horizons, dtype=float)
        seen = np.minimum(age, config.horizon_days).astype(float)
        v_seen = (value_at(seen, knots, np.nan_to_num(kv)) if horizons else np.zeros(len(n)))
        ahead = n * np.maximum(np.nan_to_num(per_user_h) - v_seen, 0.0)
        est = realised_h + ahead
        done = age >= config.horizon_days
        lo = np.where(done, est, np.where(no_iv, realised_h, np.maximum(est - n * (per_user_h - lo_pu), realised_h)))
        hi = np.where(done, est, np.where(no_iv, np.inf, est + n * (hi_pu - per_user_h)))
    est = np.where(has, est, realised)
    lo = np.where(has, np.minimum(lo, est), est)
    hi = np.where(has, np.maximum(hi, est), est)
    return has, est, lo, hi
