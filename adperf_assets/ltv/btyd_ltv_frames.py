"""LTV per user (``user_ltv_frame``) and per install cohort x segment with its interval
(``cohort_ltv_frame``) from the segment fits: revenue realised so far + expected on the days ahead.

The cohort interval adds parameter uncertainty (delta method) and the users' own purchase noise,
with an atom at 0 for "nobody buys again". Method: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from adperf_assets.ltv.btyd_predict import bgnbd_p_alive
from adperf_assets.ltv.btyd_rfm import _group_codes, ltv_column, realised_column
from adperf_assets.ltv.btyd_segments import NO_FIT, SegmentFits, _label, _model_codes, _model_users, _segment_codes
from adperf_assets.ltv.keys import HORIZONS, SEGMENT_KEYS

CONFIDENCE = 0.99  # same level as the cohort method's interval


def user_ltv_frame(fits: SegmentFits, rfm: pd.DataFrame, horizons=HORIZONS) -> pd.DataFrame:
    """Per user (keys and segment of ``rfm``): ``model`` used, ``p_alive``, ``expected_{H}d_usd``
    (revenue still ahead within the horizon) and ``ltv_{H}d_usd`` = realised + expected; NaN where
    no model could be fitted. The summary itself stays in ``rfm`` (one copy of it per day is plenty)."""
    out = rfm[list(USER_KEY_COLUMNS)].reset_index(drop=True)
    for col, values in user_ltv_columns(fits, rfm, horizons).items():
        out[col] = values
    return out


#: The columns of ``user_ltv_frame`` taken from ``rfm`` as they are; ``user_ltv_columns`` gives the rest.
USER_KEY_COLUMNS = ("report_date", "user_id", "install_date", *SEGMENT_KEYS)


def user_ltv_columns(fits: SegmentFits, rfm: pd.DataFrame, horizons=HORIZONS) -> dict:
    """``user_ltv_frame``'s computed columns, in its order, as arrays in ``rfm``'s row order (a range run
    lays many days side by side and builds one frame)."""
    codes, keys = _model_codes(fits, rfm)
    out = {}
    labels = np.array([_label(k) for k in keys] + [NO_FIT], dtype=object)
    out["model"] = labels[codes]
    p_alive = np.full(len(rfm), np.nan)
    expected = {h: np.full(len(rfm), np.nan) for h in horizons}
    for key, (rows, users) in _model_users(fits, rfm, codes, keys).items():
        theta = fits.theta(key)
        r, alpha, a, b = np.exp(theta[:4])
        p_alive[rows] = bgnbd_p_alive(r, alpha, a, b, users.x, users.tx, users.T)
        spend = users.spend(np.exp(theta[4:]))
        for h in horizons:
            expected[h][rows] = users.purchases(np.exp(theta[:4]), h) * spend
    out["p_alive"] = p_alive
    for h in horizons:
        out[f"expected_{h}d_usd"] = expected[h]
    for h in horizons:
        out[ltv_column(h)] = rfm[realised_column(h)].to_numpy(dtype=float) + expected[h]
    return out


_STEP = 1e-4  # central-difference step in log-parameters (as BTYDModel's delta method)


def _group_expected(per_model: list, gcode: np.ndarray, n_groups: int, n_users: int,
                    horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: sum of expected revenue ahead, its delta-method standard deviation from the
    parameters, the standard deviation of the users' own revenue around it (``revenue_variance``)
    and the probability that none of them buys again within the horizon.

    ``per_model``: (rows, _Users, theta, covariance, groups of those rows) per model; every group
    belongs to one model. The per-user terms of all models are laid side by side and summed per
    group by one bincount each (a group's users are added in row order, as a per-model bincount
    would); groups of no model stay NaN."""
    value, var, log_p0 = np.zeros(n_users), np.zeros(n_users), np.zeros(n_users)
    diffs = np.zeros((7, n_users))
    for rows, users, theta, _, _ in per_model:
        bg, gg = np.exp(theta[:4]), np.exp(theta[4:])
        purchases = users.purchases(bg, horizon)
        spend = users.spend(gg)
        for k in range(7):
            step = np.zeros(7)
            step[k] = _STEP
            if k < 4:
                diffs[k, rows] = spend * (users.purchases(np.exp(theta[:4] + step[:4]), horizon)
                                          - users.purchases(np.exp(theta[:4] - step[:4]), horizon)) / (2 * _STEP)
            else:
                diffs[k, rows] = purchases * (users.spend(np.exp(theta[4:] + step[4:]))
                                              - users.spend(np.exp(theta[4:] - step[4:]))) / (2 * _STEP)
        value[rows] = purchases * spend
        var[rows] = users.revenue_variance(theta, horizon)
        log_p0[rows] = users.log_p_no_purchase(theta, horizon)
    grad = np.empty((n_groups, 7))
    for k in range(7):
        grad[:, k] = np.bincount(gcode, weights=diffs[k], minlength=n_groups)
    point = np.bincount(gcode, weights=value, minlength=n_groups)
    param_sd = np.full(n_groups, np.nan)
    for _, _, _, cov, mine in per_model:
        g = grad[mine]
        param_sd[mine] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov, g), 0.0))
    process_sd = np.sqrt(np.bincount(gcode, weights=var, minlength=n_groups))
    p_zero = np.exp(np.bincount(gcode, weights=log_p0, minlength=n_groups))
    fitted = np.zeros(n_groups, dtype=bool)
    for *_, mine in per_model:
        fitted[mine] = True
    for a in (point, process_sd, p_zero):
        a[~fitted] = np.nan
    return point, param_sd, process_sd, p_zero


INTERVALS = ("prediction", "expected")


def revenue_interval(point, sd, p_zero=0.0, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of revenue with mean ``point``, standard deviation ``sd`` and an atom
    ``p_zero`` at 0 (nobody buys): 0 with probability ``p_zero``, else log-normal with the
    matching conditional mean and variance. ``p_zero=0`` gives a plain log-normal (stays > 0).
    The interval is widened to contain ``point`` where the atom pushes the upper quantile below it; an
    infinite ``sd`` gives [0, inf)."""
    point, sd = np.asarray(point, dtype=float), np.asarray(sd, dtype=float)
    p0 = np.clip(np.broadcast_to(np.asarray(p_zero, dtype=float), point.shape), 0.0, 1.0 - 1e-12)
    tail = (1.0 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = point / (1.0 - p0)  # given S > 0
        second = (sd**2 + point**2) / (1.0 - p0)
        s2 = np.log(np.maximum(second / mean**2, 1.0))
        mu = np.log(mean) - s2 / 2

        def quantile(q):
            level = (q - p0) / (1.0 - p0)
            inner = np.exp(mu + np.sqrt(s2) * stats.norm.ppf(np.clip(level, 1e-300, 1.0 - 1e-16)))
            return np.where((point > 0) & (level > 0), inner, 0.0)

        # a zero-heavy sum can have its mean above the upper quantile: keep the estimate inside
        lower, upper = np.minimum(quantile(tail), point), np.maximum(quantile(1.0 - tail), point)
    # an infinite sd (Gamma-Gamma's q + p x <= 2: spend with no finite variance, as whales make it) bounds
    # nothing; the log-normal would give NaN ends
    unbounded = np.isinf(sd) & np.isfinite(point)
    return np.where(unbounded, 0.0, lower), np.where(unbounded, np.inf, upper)


def cohort_ltv_frame(
    fits: SegmentFits, rfm: pd.DataFrame, horizons=HORIZONS, confidence: float = CONFIDENCE,
    interval: str = "prediction",
) -> pd.DataFrame:
    """Per install cohort x segment x horizon: ``cohort_size``, ``realised_usd``, ``expected_usd``,
    ``ltv_usd`` (their sum), ``ltv_per_user_usd`` with ``lower_usd``/``upper_usd`` (per user),
    ``param_sd_usd`` and ``process_sd_usd`` (of the group's expected part), ``age_days``, ``model``.

    ``interval="prediction"`` (default): for the revenue the cohort will realise -- parameter
    uncertainty (delta method) and the users' own purchase noise (``_Users.revenue_variance``)
    added in variance, with the chance that nobody in the cohort buys again as an atom at 0
    (``revenue_interval``); ``"expected"``: for its expected value, parameters only, log-normal.
    Either way on the part still ahead; the realised part is known.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    cols = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "age_days", "cohort_size", "realised_usd",
            "expected_usd", "param_sd_usd", "process_sd_usd", "ltv_usd", "ltv_per_user_usd", "lower_usd",
            "upper_usd", "model"]
    if len(rfm) == 0:
        return pd.DataFrame(columns=cols)
    codes, keys = _model_codes(fits, rfm)
    shared = _model_users(fits, rfm, codes, keys)
    seg_code, segs = _segment_codes(fits, rfm)
    rfm = rfm.reset_index(drop=True)
    group_keys = ["install_date", *SEGMENT_KEYS]
    day_code, day_values = pd.factorize(rfm["install_date"], sort=True)
    if (day_code < 0).any():
        gcode, groups = _group_codes(rfm, group_keys)
    else:  # groups numbered by (install day, segment), as groupby on group_keys does
        uniq, gcode = np.unique(day_code * len(segs) + seg_code, return_inverse=True)
        gcode = gcode.astype(np.int64).reshape(-1)
        # by column (a list of per-group tuples cost a Timestamp per group); dtypes as that list's frame
        groups = pd.DataFrame(segs, columns=list(SEGMENT_KEYS)).iloc[uniq % len(segs)].reset_index(drop=True)
        groups.insert(0, "install_date", np.asarray(day_values)[uniq // len(segs)])
    n_groups = len(groups)
    size = np.bincount(gcode, minlength=n_groups).astype(float)
    gmodel = np.full(n_groups, -1)
    gmodel[gcode] = codes  # every user of a group shares its segment, hence its model
    labels = np.array([_label(k) for k in keys] + [NO_FIT], dtype=object)
    base = groups if isinstance(groups, pd.DataFrame) else pd.DataFrame(groups, columns=group_keys)
    base.insert(0, "report_date", rfm["report_date"].iloc[0])
    age = ((base["report_date"] - base["install_date"]) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    per_model = []
    for key, (rows, users) in shared.items():
        model = fits.models[key]
        per_model.append((rows, users, fits.theta(key), model.log_params_covariance_.to_numpy(), np.unique(gcode[rows])))
    # rows in the order of the sort by install_date, segment, horizon: groups are numbered in
    # (install_date, segment) order, so that is group after group, each with its horizons
    n_h = len(horizons)
    order = np.argsort(np.asarray(horizons), kind="stable")
    hs = np.asarray(horizons, dtype=np.int64)[order]
    per_h = {name: np.empty((n_groups, n_h)) for name in
             ("realised", "point", "param_sd", "process_sd", "lower", "upper")}
    for j, hi in enumerate(order):
        h = horizons[hi]
        realised = np.bincount(gcode, weights=rfm[realised_column(h)].to_numpy(dtype=float), minlength=n_groups)
        point, param_sd, process_sd, p_zero = _group_expected(per_model, gcode, n_groups, len(rfm), h)
        if interval == "prediction":
            lower, upper = revenue_interval(point, np.hypot(param_sd, process_sd), p_zero, confidence)
        else:
            lower, upper = revenue_interval(point, param_sd, 0.0, confidence)
        for name, values in (("realised", realised), ("point", point), ("param_sd", param_sd),
                             ("process_sd", process_sd), ("lower", lower), ("upper", upper)):
            per_h[name][:, j] = values
    flat = {name: values.reshape(-1) for name, values in per_h.items()}
    realised, point = flat["realised"], flat["point"]
    size_rows = np.repeat(size, n_h)
    out = base.iloc[np.repeat(np.arange(n_groups), n_h)].reset_index(drop=True)
    out["horizon"] = np.tile(hs, n_groups)
    out["age_days"] = np.repeat(age, n_h)
    out["cohort_size"] = size_rows.astype(np.int64)
    out["realised_usd"] = realised
    out["expected_usd"] = point
    out["param_sd_usd"] = flat["param_sd"]
    out["process_sd_usd"] = flat["process_sd"]
    out["ltv_usd"] = realised + point
    out["ltv_per_user_usd"] = (realised + point) / size_rows
    out["lower_usd"] = np.where(np.isnan(point), np.nan, (realised + flat["lower"]) / size_rows)
    out["upper_usd"] = np.where(np.isnan(point), np.nan, (realised + flat["upper"]) / size_rows)
    out["model"] = np.repeat(labels[gmodel], n_h)
    return out[cols]
