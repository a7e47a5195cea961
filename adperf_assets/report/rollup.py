"""One level's rows (ad, ad group, campaign, account or network) from the day's per-ad sums and cells:
totals, estimate and interval, ROAS, D-n ROAS, payback and recommendation. See docs/roas_report.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.report.ad_basis import rollup_ads
from adperf_assets.report.coding import CodedRun, as_dates, day_numbers
from adperf_assets.report.columns import ID_COLUMNS, LEVEL_KEYS, NAME_OF
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.dn_roas import dn_columns
from adperf_assets.report.payback import payback_days
from adperf_assets.report.recommend import recommend


def group_ids(catalog: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray]:
    """Per ad (the catalog is sorted by the ad keys) its group number at ``level`` (groups in sorted key
    order, as a sorted groupby numbers them) and the first ad of each group."""
    change = np.zeros(max(len(catalog) - 1, 0), bool)
    for k in LEVEL_KEYS[level]:
        v = catalog[k].to_numpy(object)
        change |= v[1:] != v[:-1]
    starts = np.flatnonzero(np.concatenate([[True], change])) if len(catalog) else np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(change)]).astype(np.int64)[:len(catalog)], starts


def _intervals(gid: np.ndarray, ng: int, seg: np.ndarray, nseg: int, est, lo, hi, rule: str):
    """``combine_intervals`` for integer groups (same sums, see ``report.intervals``); groups without cells get 0."""
    if rule == "comonotone":
        return tuple(np.bincount(gid, x, minlength=ng) for x in (est, lo, hi))
    keys, inv = np.unique(gid * nseg + seg, return_inverse=True)
    inv = inv.reshape(-1)
    s_est, s_lo, s_hi = (np.bincount(inv, x, minlength=len(keys)) for x in (est, lo, hi))
    g = keys // nseg
    e = np.bincount(g, s_est, minlength=ng)
    down = np.bincount(g, (s_est - s_lo) ** 2, minlength=ng)
    up = np.bincount(g, (s_hi - s_est) ** 2, minlength=ng)
    return e, np.maximum(e - np.sqrt(down), 0.0), e + np.sqrt(up)


def rollup(run: CodedRun, level: str, catalog: pd.DataFrame, per_ad: dict, first_spend: np.ndarray,
           last_spend: np.ndarray, cells: dict, by_day: np.ndarray, day: pd.Timestamp, today: int, first_day: int,
           cfg: ReportConfig) -> dict[str, np.ndarray]:
    """The rows of one level as columns (one per group of ads at ``level``)."""
    gid_of_aid, starts = group_ids(catalog, level)
    ng = len(starts)
    col = {k: np.bincount(gid_of_aid, v, minlength=ng) for k, v in per_ad.items()}
    f_day = np.full(ng, np.iinfo(np.int64).max)
    np.minimum.at(f_day, gid_of_aid, day_numbers(first_spend))
    l_day = np.full(ng, np.iinfo(np.int64).min)
    np.maximum.at(l_day, gid_of_aid, last_spend)
    keys = LEVEL_KEYS[level]
    kept = set(keys) | {NAME_OF[k] for k in keys if k in NAME_OF}
    out = {"report_date": np.full(ng, day.to_datetime64()), "level": np.full(ng, level, dtype=object)}
    for cname in ID_COLUMNS:
        out[cname] = catalog[cname].to_numpy(object)[starts] if cname in kept else np.full(ng, "", dtype=object)

    c_gid = gid_of_aid[cells["aid"]]
    if "ad_iv" in cells:  # estimate_basis ad_credibility: per-ad estimates (report.ad_basis)
        est, lo, hi = rollup_ads(gid_of_aid, ng, *cells["ad_iv"], cfg.interval_rule)
    else:
        est, lo, hi = _intervals(c_gid, ng, cells["seg"], max(len(run.seg_values), 1), cells["est"], cells["lo"],
                                 cells["hi"], cfg.interval_rule)
    has = cells["has"]
    w = has & ~np.isnan(cells["mape"]) & (cells["est"] > 0)
    den = np.bincount(c_gid[w], cells["est"][w], minlength=ng)
    num = np.bincount(c_gid[w], (cells["est"] * cells["mape"])[w], minlength=ng)
    counted = np.bincount(c_gid[w], minlength=ng) > 0
    mape = np.full(ng, np.nan)
    mape[counted] = num[counted] / den[counted]
    names = [set() for _ in range(ng)]
    named = has & (cells["est_code"] >= 0)
    n_codes = max(len(run.estimator_names), 1)
    pairs = np.unique(c_gid[named] * n_codes + cells["est_code"][named])  # the distinct (group, estimator)
    for g, e in zip((pairs // n_codes).tolist(), (pairs % n_codes).tolist()):
        names[g].add(str(run.estimator_names[e]))
    estimators = np.asarray(["+".join(sorted(x)) for x in names], dtype=object)
    no_est = np.bincount(c_gid[~has], cells["users"][~has], minlength=ng)

    cost, ret = col["cost"], col["return"]
    pos = cost > 0
    safe = np.where(pos, cost, 1.0)
    days_live = today - f_day + 1
    out.update({
        "first_spend_date": as_dates(f_day), "last_spend_date": np.where(
            l_day == np.iinfo(np.int64).min, np.datetime64("NaT", "ns"), as_dates(np.maximum(l_day, 0))),
        "days_live": days_live, "is_active": col["cost_today"] > 0, "history_truncated": f_day <= first_day,
        "spend_installs": col["spend_installs"], "users": col["users"].astype(np.int64),
        "cost_to_date_usd": cost, "cost_on_day_usd": col["cost_today"], "paid_to_date_usd": col["paid"],
        "return_to_date_usd": ret, "horizon_days": np.full(ng, cfg.horizon_days, np.int64),
        "estimated_return_usd": est, "estimated_lower_usd": lo, "estimated_upper_usd": hi,
        "users_without_estimate": no_est.astype(np.int64), "estimate_mape": mape, "estimators": estimators,
        "roas": np.where(pos, ret / safe, np.nan), "estimated_roas": np.where(pos, est / safe, np.nan),
        "estimated_roas_lower": np.where(pos, lo / safe, np.nan),
        "estimated_roas_upper": np.where(pos, hi / safe, np.nan)})
    out.update(dn_columns(col, cfg.roas_days, day, today, f_day, days_live))

    # payback on the group's curve: realised day by day, then the cells' LTV curves
    realised = np.add.reduceat(by_day, starts, axis=0)
    ok = cells["ok"]
    horizons = cells["horizons"]
    pbs = payback_days(cost, np.cumsum(realised, axis=1), days_live, c_gid[ok], cells["inst"][ok] - f_day[c_gid[ok]],
                       cells["users"][ok], np.asarray(horizons, dtype=float) if horizons else np.array([1.0]),
                       cells["kv"][ok] if horizons else np.zeros((int(ok.sum()), 1)), cfg.payback_search_days)
    pb_day = np.asarray([np.nan if pb.day is None else float(pb.day) for pb in pbs], dtype=float)
    known = ~np.isnan(pb_day)
    pb_date = np.full(ng, np.datetime64("NaT", "ns"))
    pb_date[known] = as_dates(f_day[known] + pb_day[known].astype(np.int64) - 1)
    recs, whys = [], []
    e_roas, e_lo, e_hi = (out[k].tolist() for k in ("estimated_roas", "estimated_roas_lower", "estimated_roas_upper"))
    for i, (pb, p, c, dl) in enumerate(zip(pbs, pos.tolist(), cost.tolist(), days_live.tolist())):
        rec, why = recommend(c, dl, e_roas[i] if p else None, e_lo[i] if p else None, e_hi[i] if p else None, cfg)
        if pb.basis == "none" and pb.note != "no cost" and rec != "keep":
            why = f"{why}; payback: {pb.note}"
        recs.append(rec)
        whys.append(why)
    out.update({"payback_day": pb_day, "payback_date": pb_date,
                "payback_basis": np.asarray([pb.basis for pb in pbs], object), "recommendation": np.asarray(recs, object),
                "reason": np.asarray(whys, object)})
    return out
