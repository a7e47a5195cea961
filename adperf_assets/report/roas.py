"""The ROAS report of report days, per ad and rolled up per ad group, campaign, account and network.

``build_report`` codes the inputs once (``report.coding``) and assembles each day from per-ad sums,
per-cell estimates (``report.cells``) and per-level roll-ups (``report.rollup``). Column definitions
and rules: docs/roas_report.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.report.ad_basis import ad_estimates
from adperf_assets.report.cells import cell_estimates, ltv_of_cells
from adperf_assets.report.coding import (
    CodedRun,
    as_dates,
    code_run,
    day_numbers,
    day_slice,
)
from adperf_assets.report.columns import (
    ID_COLUMNS,
    LEVEL_KEYS,
    NAME_OF,
    REPORT_COLUMNS,
    roas_columns,
    typed,
)
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.curves import CURVE_LEVELS, day_curves
from adperf_assets.report.dn_roas import dn_sums
from adperf_assets.report.inputs import (
    BEHAVIOR_COLUMNS,
    INSTALL_COLUMNS,
    LTV_COLUMNS,
    SEGMENT_COLUMNS,
    SPEND_COLUMNS,
    ReportInputError,
    ReportInputs,
    prepare_inputs,
)
from adperf_assets.report.intervals import combine_intervals
from adperf_assets.report.rollup import rollup

_day_numbers = day_numbers  # the name the tests' reference_roas imports from here

# what this module defined before the split, still importable from here
__all__ = ["BEHAVIOR_COLUMNS", "ID_COLUMNS", "INSTALL_COLUMNS", "LEVEL_KEYS", "LTV_COLUMNS", "NAME_OF",
           "REPORT_COLUMNS", "SEGMENT_COLUMNS", "SPEND_COLUMNS", "DayInfo", "ReportInputError", "ReportInputs",
           "build_day", "build_report", "prepare_inputs", "roas_columns", "typed"]


@dataclass
class DayInfo:
    """What a report day read and could not place, for the asset's metadata and log."""

    report_date: pd.Timestamp
    ads: int = 0
    users: int = 0
    unmatched_users: int = 0  # attributed to an ad id without spend in the window
    unmatched_return_usd: float = 0.0
    unmatched_ads: list[str] = field(default_factory=list)
    users_without_segment: int = 0
    users_without_estimate: int = 0
    ltv_rows: int = 0
    ltv_horizons: list[int] = field(default_factory=list)
    estimate_note: str = ""  # estimate_basis ad_credibility: why the day fell back to the segment curve's rest
    curves: pd.DataFrame | None = None  # cohort ROAS curves (report.curves), on the day they were asked for


def build_day(inputs: ReportInputs, report_date, config: ReportConfig | None = None) -> tuple[pd.DataFrame, DayInfo]:
    """The report rows of one day (every configured level) and what could not be placed."""
    cfg = config or ReportConfig()
    return _build_day(code_run(inputs, cfg.roas_days), report_date, cfg)


def _build_day(run: CodedRun, report_date, cfg: ReportConfig, curves: bool = False) -> tuple[pd.DataFrame, DayInfo]:
    day = pd.Timestamp(report_date).normalize()
    start = day - pd.Timedelta(days=cfg.max_ad_age_days - 1)
    today, first_day = int(day_numbers([day])[0]), int(day_numbers([start])[0])
    info = DayInfo(report_date=day)
    s = day_slice(run.s_day, first_day, today)
    if s.stop == s.start:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in roas_columns(cfg.roas_days)}), info

    # the ads: hierarchy and names from each ad's latest row (the last one of the latest day)
    akeys = run.s_akey[s]
    u, ridx = np.unique(akeys[::-1], return_index=True)
    latest = s.stop - 1 - ridx
    catalog = (run.s_ids.iloc[latest].assign(_akey=u)
               .sort_values(["network", "account_id", "campaign_id", "ad_group_id", "ad_id"]).reset_index(drop=True))
    n_ads = len(catalog)
    info.ads = n_ads
    aid_of = np.full(len(run.labels), -1, np.int64)
    aid_of[catalog["_akey"].to_numpy(np.int64)] = np.arange(n_ads)

    d = day_slice(run.d_day, first_day, today)
    d_aid, d_day, d_cost = aid_of[run.d_akey[d]], run.d_day[d], run.d_cost[d]
    per_ad = {"cost": np.bincount(d_aid, d_cost, minlength=n_ads),
              "spend_installs": np.bincount(d_aid, run.d_inst[d], minlength=n_ads),
              "cost_today": np.bincount(d_aid[d_day == today], d_cost[d_day == today], minlength=n_ads)}
    first_spend = np.full(n_ads, np.iinfo(np.int64).max)
    last_spend = np.full(n_ads, np.iinfo(np.int64).min)
    paid = d_cost > 0
    np.minimum.at(first_spend, d_aid[paid], d_day[paid])
    np.maximum.at(last_spend, d_aid[paid], d_day[paid])
    any_first = np.full(n_ads, np.iinfo(np.int64).max)
    np.minimum.at(any_first, d_aid, d_day)
    first_spend = np.where(first_spend == np.iinfo(np.int64).max, any_first, first_spend)

    # the ads' cells (users installed in the window) and their revenue up to the day
    c = day_slice(run.c_inst, first_day, today)
    c_aid = aid_of[run.c_akey[c]]
    c_users, c_has_seg = run.c_users[c], run.c_has[c]
    lost = c_aid < 0
    r = day_slice(run.r_inst, first_day, today)
    sel = r.start + np.flatnonzero(run.r_day[r] <= today)
    r_cell, r_cred, r_day = run.r_cell[sel] - c.start, run.r_credited[sel], run.r_day[sel]
    n_cells = c.stop - c.start
    realised = np.bincount(r_cell, r_cred, minlength=n_cells)
    paid_c = np.bincount(r_cell, run.r_paid[sel], minlength=n_cells)
    within = run.r_age[sel] < cfg.horizon_days
    realised_h = np.bincount(r_cell[within], r_cred[within], minlength=n_cells)
    keep = ~lost
    info.unmatched_users = int(c_users[lost].sum())
    info.unmatched_return_usd = float(realised[lost].sum())
    info.unmatched_ads = sorted(set(run.labels[run.c_akey[c][lost]].tolist()))
    info.users = int(c_users[keep].sum())
    info.users_without_segment = int(c_users[keep & ~c_has_seg].sum())

    c_inst = run.c_inst[c]
    k_aid = c_aid[keep]
    per_ad["users"] = np.bincount(k_aid, c_users[keep], minlength=n_ads).astype(float)
    per_ad["return"] = np.bincount(k_aid, realised[keep], minlength=n_ads)
    per_ad["paid"] = np.bincount(k_aid, paid_c[keep], minlength=n_ads)
    per_ad.update(dn_sums(cfg.roas_days, today, keep, c_aid, c_inst, {n: v[c] for n, v in run.c_first_days.items()},
                          d_aid, d_day, d_cost, n_ads))
    # realised return per ad and day of the window (earlier days count on the first), for payback
    width = today - first_day + 1
    r_aid = c_aid[r_cell]
    on_ad = r_aid >= 0
    by_day = np.bincount(r_aid[on_ad] * width + (np.maximum(r_day[on_ad], first_day) - first_day), r_cred[on_ad],
                         minlength=n_ads * width).reshape(n_ads, width)

    # the cells' estimates (only the matched ones make rows)
    c_aid, c_users, c_has_seg, c_inst = c_aid[keep], c_users[keep], c_has_seg[keep], c_inst[keep]
    c_seg = run.c_seg[c][keep]
    horizons, info.ltv_rows, kv, lo_pu, hi_pu, mape_c, est_c = ltv_of_cells(run, today, c_inst, c_seg,
                                                                             cfg.horizon_days)
    info.ltv_horizons = horizons
    if info.ltv_rows and cfg.horizon_days not in horizons:
        raise ReportInputError(f"ltv_estimates of {day.date()} has horizons {horizons}; the report's "
                               f"horizon_days={cfg.horizon_days} is not one of them")
    has, est, lo, hi = cell_estimates(c_users, realised[keep], realised_h[keep], c_has_seg, today - c_inst + 1,
                                       horizons, kv, lo_pu, hi_pu, cfg)
    info.users_without_estimate = int(c_users[~has].sum())
    bad = ~((lo <= est + 1e-9) & (est <= hi + 1e-9)) | np.isnan(est) | np.isnan(lo) | np.isnan(hi)
    if bad.any():  # let combine_intervals name the cell
        sv = run.seg_values.iloc[c_seg].reset_index(drop=True)
        combine_intervals(pd.DataFrame({"aid": c_aid, "platform": sv["platform"], "attribution": sv["seg_attribution"],
                                        "network": sv["seg_network"], "is_emulator": sv["is_emulator"],
                                        "est": est, "lo": lo, "hi": hi}), by=["aid"], rule=cfg.interval_rule)
    cells = {"aid": c_aid, "users": c_users.astype(float), "inst": c_inst, "seg": c_seg, "has": has, "est": est,
             "lo": lo, "hi": hi, "mape": mape_c, "est_code": est_c, "kv": kv, "horizons": horizons,
             "ok": has & ~np.isnan(kv).any(axis=1) if horizons else np.zeros(len(c_aid), bool)}
    c_age = today - c_inst + 1  # days each cell's users have been seen
    if cfg.estimate_basis == "ad_credibility":
        a_est, a_lo, a_hi, a_floor, info.estimate_note = ad_estimates(
            c_aid, n_ads, c_users, realised[keep], realised_h[keep], has, c_age, horizons, kv, cfg.horizon_days)
        if a_est is not None:
            cells["ad_iv"] = (a_est, a_lo, a_hi, a_floor)

    parts = [rollup(run, level, catalog, per_ad, as_dates(first_spend), last_spend, cells, by_day, day,
                    today, first_day, cfg) for level in cfg.levels]
    if curves:
        r_age = run.r_age[sel]
        info.curves = pd.concat([day_curves(lv, catalog, per_ad["cost"], r_aid[on_ad], r_age[on_ad], r_cred[on_ad],
                                            cells, c_age, parts[cfg.levels.index(lv)], cfg.horizon_days)
                                 for lv in CURVE_LEVELS if lv in cfg.levels],
            ignore_index=True)
        info.curves.insert(0, "report_date", day)
    return pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in roas_columns(cfg.roas_days)}), info


def build_report(inputs: ReportInputs, days, config: ReportConfig | None = None,
                 curves_on=None) -> tuple[pd.DataFrame, list[DayInfo]]:
    """Each of ``days`` computed alike (a single-run backfill); the inputs are coded once for all of them.
    ``curves_on``: a report day whose ``DayInfo.curves`` gets the cohort ROAS curves (``report.curves``)."""
    cfg = config or ReportConfig()
    run = code_run(inputs, cfg.roas_days)
    frames, infos = [], []
    for d in days:
        frame, info = _build_day(run, d, cfg, curves_on is not None
                                 and pd.Timestamp(d).normalize() == pd.Timestamp(curves_on).normalize())
        frames.append(frame)
        infos.append(info)
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    return typed(out, cfg), infos
