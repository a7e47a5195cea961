"""The report's per-day math as it was before the per-run coding (pandas groupby/merge per day and
level): the oracle ``test_fast_paths`` checks the fast ``report.roas`` against on messy random worlds.
Inputs, constants and ``typed`` are the package's own (unchanged); only ``build_day`` and its parts are
frozen here. Do not use outside tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.report.ad_value import AdValueEstimator, AdValueInputError
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.intervals import SEGMENT_KEYS, combine_intervals
from adperf_assets.report.payback import payback_day, value_at
from adperf_assets.report.recommend import recommend
from adperf_assets.report.roas import (  # noqa: F401 (prepare_inputs, typed: the test calls them through here)
    ID_COLUMNS,
    LEVEL_KEYS,
    NAME_OF,
    DayInfo,
    ReportInputError,
    ReportInputs,
    _day_numbers,
    prepare_inputs,
    roas_columns,
    typed,
)

_SEG = ["platform", "seg_attribution", "seg_network", "is_emulator"]


def _cells(users: pd.DataFrame, rev: pd.DataFrame, ltv_day: pd.DataFrame, day: pd.Timestamp,
           config: ReportConfig) -> pd.DataFrame:
    """Per ad x install day x segment: users, realised credit (to date and within the horizon), the
    LTV per user at every horizon, and the cell's estimate ``est`` with its interval ``lo``/``hi``."""
    cell_key = ["aid", "install_date", *_SEG, "has_segment"]
    cells = users.groupby(cell_key, sort=False, observed=True).size().rename("users").reset_index()
    within = (rev["report_date"] - rev["install_date"]).dt.days < config.horizon_days
    per_user = pd.DataFrame({"realised": rev.groupby("user_id")["credited"].sum(),
                             "realised_h": rev[within].groupby("user_id")["credited"].sum()})
    u = users[[*cell_key, "user_id"]].join(per_user, on="user_id").fillna({"realised": 0.0, "realised_h": 0.0})
    per_cell = u.groupby(cell_key, sort=False, observed=True)[["realised", "realised_h"]].sum()
    cells = cells.merge(per_cell.reset_index(), on=cell_key, how="left")
    horizons = sorted(ltv_day["horizon"].unique().tolist())
    lt = ltv_day.rename(columns={"attribution": "seg_attribution", "network": "seg_network"})
    key = ["install_date", *_SEG]
    if len(lt):
        wide = lt.pivot_table(index=key, columns="horizon", values="ltv_per_user_usd", aggfunc="first")
        wide.columns = [f"v{h}" for h in wide.columns]
        at_h = lt[lt["horizon"] == config.horizon_days].set_index(key)[
            ["lower_usd", "upper_usd", "estimator", "backtest_mape"]]
        at_h = at_h[~at_h.index.duplicated()]
        cells = cells.merge(wide.reset_index(), on=key, how="left").merge(at_h.reset_index(), on=key, how="left")
    for h in horizons:
        cells[f"v{h}"] = cells.get(f"v{h}", np.nan)
    for c in ("lower_usd", "upper_usd", "backtest_mape"):
        if c not in cells:
            cells[c] = np.nan
    if "estimator" not in cells:
        cells["estimator"] = None
    col_h = f"v{config.horizon_days}"
    n = cells["users"].to_numpy(dtype=float)
    per_user_h = cells[col_h].to_numpy(dtype=float) if col_h in cells else np.full(len(cells), np.nan)
    has = cells["has_segment"].to_numpy() & ~np.isnan(per_user_h)
    lo_pu = cells["lower_usd"].to_numpy(dtype=float)
    hi_pu = cells["upper_usd"].to_numpy(dtype=float)
    no_iv = np.isnan(lo_pu) | np.isnan(hi_pu)
    realised = cells["realised"].to_numpy(dtype=float)
    if config.estimate_basis == "segment_average":
        est = n * per_user_h
        lo = np.where(no_iv, 0.0, n * lo_pu)
        hi = np.where(no_iv, np.inf, n * hi_pu)
    else:  # realised_plus_expected: what the cell's users returned within the horizon + the curve's rest
        age = (day - cells["install_date"]).dt.days.to_numpy() + 1
        knots = np.asarray(horizons, dtype=float)
        kv = cells[[f"v{h}" for h in horizons]].to_numpy(dtype=float) if horizons else np.zeros((len(cells), 0))
        seen = np.minimum(age, config.horizon_days).astype(float)
        v_seen = (value_at(seen, knots, np.nan_to_num(kv)) if horizons else np.zeros(len(cells)))
        ahead = n * np.maximum(np.nan_to_num(per_user_h) - v_seen, 0.0)
        realised_h = cells["realised_h"].to_numpy(dtype=float)
        est = realised_h + ahead
        done = age >= config.horizon_days
        lo = np.where(done, est, np.where(no_iv, realised_h, np.maximum(est - n * (per_user_h - lo_pu), realised_h)))
        hi = np.where(done, est, np.where(no_iv, np.inf, est + n * (hi_pu - per_user_h)))
    est = np.where(has, est, realised)
    lo = np.where(has, np.minimum(lo, est), est)
    hi = np.where(has, np.maximum(hi, est), est)
    cells = cells.assign(has_estimate=has, est=est, lo=lo, hi=hi)
    cells.attrs["horizons"] = horizons
    return cells


def _per_ad_estimates(cells: pd.DataFrame, day: pd.Timestamp, cfg: ReportConfig):
    """ad_credibility: per ad ``est, lo, hi, floor`` (a frame indexed by aid, None if not fitted) and the note."""
    horizons = cells.attrs["horizons"]
    other = cells[~cells["has_estimate"]].groupby("aid")["realised"].sum()
    c = cells[cells["has_estimate"]]
    if c.empty:
        return pd.DataFrame({"est": other, "lo": other, "hi": other, "floor": other}), ""
    kv = np.nan_to_num(c[[f"v{h}" for h in horizons]].to_numpy(float))
    at_h = np.maximum(c[f"v{cfg.horizon_days}"].to_numpy(float), 0.0)
    seen = np.minimum((day - c["install_date"]).dt.days.to_numpy() + 1, cfg.horizon_days).astype(float)
    inp = pd.DataFrame({"aid": c["aid"].to_numpy(), "users": c["users"].to_numpy(float),
                        "revenue_usd": c["realised_h"].clip(lower=0.0).to_numpy(),
                        "seg_to_date_usd": np.minimum(value_at(seen, np.asarray(horizons, float), kv), at_h),
                        "seg_horizon_usd": at_h})
    try:
        p = AdValueEstimator(keys=("aid",), level=0.99).fit(inp).predict(inp)
    except AdValueInputError as e:
        return None, f"ad_credibility not fitted ({e}); segment curve's rest used instead"
    total = p["installs"] * p["estimate_per_install_usd"]
    own = pd.DataFrame({"est": total, "lo": np.clip(p["installs"] * p["lower_usd"], p["revenue_usd"], total),
                        "hi": np.maximum(p["installs"] * p["upper_usd"], total), "floor": p["revenue_usd"]})
    both = pd.concat([own, pd.DataFrame({k: other for k in own.columns})])
    return both.groupby(level=0).sum(), ""


def _level_frame(level: str, catalog: pd.DataFrame) -> pd.DataFrame:
    """Per ad (row of ``catalog``) its group number at ``level`` and the group's id/name columns
    (empty strings for the levels below it)."""
    keys = LEVEL_KEYS[level]
    keep = set(keys) | {NAME_OF[k] for k in keys if k in NAME_OF}
    out = pd.DataFrame({c: catalog[c] if c in keep else "" for c in ID_COLUMNS}, index=catalog.index)
    out["gid"] = catalog.groupby(keys, sort=True).ngroup().to_numpy()
    return out


def build_day(inputs: ReportInputs, report_date, config: ReportConfig | None = None) -> tuple[pd.DataFrame, DayInfo]:
    """The report rows of one day (every configured level) and what could not be placed."""
    cfg = config or ReportConfig()
    day = pd.Timestamp(report_date).normalize()
    start = day - pd.Timedelta(days=cfg.max_ad_age_days - 1)
    info = DayInfo(report_date=day)
    sp = inputs.spend[(inputs.spend["report_date"] >= start) & (inputs.spend["report_date"] <= day)]
    if sp.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in roas_columns(cfg.roas_days)}), info

    # the ads: hierarchy and names from each ad's latest row
    catalog = (sp.sort_values("report_date", kind="stable").drop_duplicates(["network", "ad_id"], keep="last")
               [ID_COLUMNS].sort_values(["network", "account_id", "campaign_id", "ad_group_id", "ad_id"])
               .reset_index(drop=True))
    catalog["aid"] = np.arange(len(catalog))
    aid_of = pd.MultiIndex.from_frame(catalog[["network", "ad_id"]])
    info.ads = len(catalog)

    def aid(frame: pd.DataFrame) -> np.ndarray:
        return aid_of.get_indexer(pd.MultiIndex.from_frame(frame[["network", "ad_id"]]))

    daily = sp.groupby(["network", "ad_id", "report_date"], sort=False).agg(cost=("cost", "sum"),
                                                                            installs=("installs", "sum")).reset_index()
    daily["aid"] = aid(daily)
    paid_days = daily[daily["cost"] > 0]
    per_ad = pd.DataFrame(index=catalog["aid"])
    per_ad["cost"] = daily.groupby("aid")["cost"].sum()
    per_ad["spend_installs"] = daily.groupby("aid")["installs"].sum()
    per_ad["cost_today"] = daily[daily["report_date"] == day].groupby("aid")["cost"].sum()
    per_ad["first_spend"] = paid_days.groupby("aid")["report_date"].min()
    per_ad["first_spend"] = per_ad["first_spend"].fillna(daily.groupby("aid")["report_date"].min())
    per_ad["last_spend"] = paid_days.groupby("aid")["report_date"].max()

    # the ads' users (installed in the window) and their revenue up to the day
    users = inputs.users[(inputs.users["install_date"] >= start) & (inputs.users["install_date"] <= day)]
    users = users.assign(aid=aid(users))
    rev = inputs.revenue[(inputs.revenue["install_date"] >= start) & (inputs.revenue["install_date"] <= day)
                         & (inputs.revenue["report_date"] <= day)]
    rev = rev.assign(aid=aid(rev))
    lost = users["aid"] < 0
    info.unmatched_users = int(lost.sum())
    info.unmatched_return_usd = float(rev.loc[rev["aid"] < 0, "credited"].sum())
    info.unmatched_ads = sorted((users.loc[lost, "network"] + ":" + users.loc[lost, "ad_id"]).unique().tolist())
    users, rev = users[~lost], rev[rev["aid"] >= 0]
    info.users = len(users)
    info.users_without_segment = int((~users["has_segment"]).sum())

    per_ad["users"] = users.groupby("aid").size()
    per_ad["return"] = rev.groupby("aid")["credited"].sum()
    per_ad["paid"] = rev.groupby("aid")["paid"].sum()
    age = (rev["report_date"] - rev["install_date"]).dt.days.to_numpy()
    for n in cfg.roas_days:
        cut = day - pd.Timedelta(days=n - 1)
        mature = (rev["install_date"] <= cut).to_numpy() & (age < n)
        per_ad[f"rev{n}"] = rev[mature].groupby("aid")["credited"].sum()
        per_ad[f"cost{n}"] = daily[daily["report_date"] <= cut].groupby("aid")["cost"].sum()
    num = [c for c in per_ad.columns if c not in ("first_spend", "last_spend")]
    per_ad[num] = per_ad[num].fillna(0.0)

    ltv_day = inputs.ltv[inputs.ltv["report_date"] == day]
    info.ltv_rows = len(ltv_day)
    info.ltv_horizons = sorted(ltv_day["horizon"].unique().tolist())
    if len(ltv_day) and cfg.horizon_days not in info.ltv_horizons:
        raise ReportInputError(f"ltv_estimates of {day.date()} has horizons {info.ltv_horizons}; the report's "
                               f"horizon_days={cfg.horizon_days} is not one of them")
    cells = _cells(users, rev, ltv_day, day, cfg)
    info.users_without_estimate = int(cells.loc[~cells["has_estimate"], "users"].sum())
    if cfg.estimate_basis == "ad_credibility":
        cells.attrs["per_ad"], info.estimate_note = _per_ad_estimates(cells, day, cfg)
    rev_daily = rev.groupby(["aid", "report_date"], sort=False)["credited"].sum().reset_index()

    frames = []
    for level in cfg.levels:
        frames.append(_rollup(level, catalog, per_ad, cells, rev_daily, day, start, cfg))
    out = pd.concat(frames, ignore_index=True)
    return out[roas_columns(cfg.roas_days)], info



def _slices(sorted_gids: np.ndarray, gid: int) -> slice:
    return slice(int(np.searchsorted(sorted_gids, gid, "left")), int(np.searchsorted(sorted_gids, gid, "right")))


def _rollup(level: str, catalog: pd.DataFrame, per_ad: pd.DataFrame, cells: pd.DataFrame, rev_daily: pd.DataFrame,
            day: pd.Timestamp, start: pd.Timestamp, cfg: ReportConfig) -> pd.DataFrame:
    lv = _level_frame(level, catalog)
    gid_of_aid = lv["gid"].to_numpy()
    g = per_ad.assign(gid=gid_of_aid[per_ad.index.to_numpy()])
    sums = g.drop(columns=["first_spend", "last_spend"]).groupby("gid").sum()
    gids = sums.index.to_numpy()
    first = g.groupby("gid")["first_spend"].min().reindex(gids)
    last = g.groupby("gid")["last_spend"].max().reindex(gids)
    ids = lv.drop_duplicates("gid").set_index("gid")[ID_COLUMNS].reindex(gids).to_dict("records")

    c = cells.assign(gid=gid_of_aid[cells["aid"].to_numpy()])
    seg = c.rename(columns={"seg_attribution": "attribution", "seg_network": "network"})
    iv = combine_intervals(seg[["gid", *SEGMENT_KEYS, "est", "lo", "hi"]], by=["gid"], rule=cfg.interval_rule)
    iv = iv.set_index("gid").reindex(gids).fillna(0.0)
    per_ad_iv = cells.attrs.get("per_ad")
    if per_ad_iv is not None:  # ad_credibility: the ads' estimates, half-widths in quadrature across ads
        a = per_ad_iv.assign(gid=gid_of_aid[per_ad_iv.index.to_numpy()])
        a = a.assign(down=(a["est"] - a["lo"]) ** 2, up=(a["hi"] - a["est"]) ** 2)
        s = a.groupby("gid")[["est", "lo", "hi", "floor", "down", "up"]].sum().reindex(gids).fillna(0.0)
        if cfg.interval_rule == "comonotone":
            iv = pd.DataFrame({"estimated": s["est"], "lower": s["lo"], "upper": s["hi"]})
        else:
            iv = pd.DataFrame({"estimated": s["est"], "upper": s["est"] + np.sqrt(s["up"]),
                               "lower": np.minimum(np.maximum(s["est"] - np.sqrt(s["down"]), s["floor"]), s["est"])})
    w = c[c["has_estimate"] & c["backtest_mape"].notna() & (c["est"] > 0)]
    mape = ((w["est"] * w["backtest_mape"]).groupby(w["gid"]).sum() / w.groupby("gid")["est"].sum()).reindex(gids)
    estimators = (c[c["has_estimate"]].groupby("gid")["estimator"]
                  .agg(lambda v: "+".join(sorted(set(map(str, v.dropna()))))).reindex(gids).fillna(""))
    horizons = cells.attrs.get("horizons", [])
    knots = np.asarray(horizons, dtype=float)

    # per-group slices of plain arrays (the loop below does no pandas work)
    c = c.sort_values("gid", kind="stable")
    c_gid = c["gid"].to_numpy()
    c_has = c["has_estimate"].to_numpy(bool)
    c_users = c["users"].to_numpy(float)
    c_day = _day_numbers(c["install_date"])
    c_kv = c[[f"v{h}" for h in horizons]].to_numpy(float) if horizons else np.zeros((len(c), 0))
    c_ok = c_has & ~np.isnan(c_kv).any(axis=1) if horizons else np.zeros(len(c), bool)
    rd = rev_daily.assign(gid=gid_of_aid[rev_daily["aid"].to_numpy()]).sort_values("gid", kind="stable")
    rd_gid = rd["gid"].to_numpy()
    rd_day = _day_numbers(rd["report_date"])
    rd_val = rd["credited"].to_numpy(float)
    first_day = _day_numbers(first)
    today = int(_day_numbers([day])[0])
    col = {k: sums[k].to_numpy(float) for k in sums.columns}
    est_a, lo_a, hi_a = (iv[k].to_numpy(float) for k in ("estimated", "lower", "upper"))
    mape_a, estimators_a = mape.to_numpy(float), estimators.to_numpy()
    first_ts, last_ts = first.to_numpy(), last.to_numpy()

    rows = []
    for i, gid in enumerate(gids):
        f0 = int(first_day[i])
        days_live = today - f0 + 1
        cost, ret = col["cost"][i], col["return"][i]
        est, lo, hi = est_a[i], lo_a[i], hi_a[i]
        pos = cost > 0
        row = {"report_date": day, "level": level, **ids[i],
               "first_spend_date": first_ts[i], "last_spend_date": last_ts[i], "days_live": days_live,
               "is_active": bool(col["cost_today"][i] > 0), "history_truncated": bool(first_ts[i] <= start),
               "spend_installs": col["spend_installs"][i], "users": int(col["users"][i]),
               "cost_to_date_usd": cost, "cost_on_day_usd": col["cost_today"][i],
               "paid_to_date_usd": col["paid"][i], "return_to_date_usd": ret,
               "horizon_days": cfg.horizon_days, "estimated_return_usd": est, "estimated_lower_usd": lo,
               "estimated_upper_usd": hi, "estimate_mape": mape_a[i], "estimators": estimators_a[i],
               "roas": ret / cost if pos else np.nan, "estimated_roas": est / cost if pos else np.nan,
               "estimated_roas_lower": lo / cost if pos else np.nan,
               "estimated_roas_upper": hi / cost if pos else np.nan}
        for n in cfg.roas_days:
            cut = today - (n - 1)
            if cut < f0:
                row[f"d{n}_roas"], row[f"d{n}_note"] = np.nan, f"{days_live} day(s) of data; D{n} needs {n}"
            elif col[f"cost{n}"][i] <= 0:
                row[f"d{n}_roas"], row[f"d{n}_note"] = np.nan, f"no cost up to {(day - pd.Timedelta(days=n - 1)).date()}"
            else:
                row[f"d{n}_roas"], row[f"d{n}_note"] = col[f"rev{n}"][i] / col[f"cost{n}"][i], ""
        # payback on the group's curve: realised day by day, then the cells' LTV curves
        r = _slices(rd_gid, gid)
        series = np.zeros(days_live)
        np.add.at(series, np.clip(rd_day[r] - f0, 0, days_live - 1), rd_val[r])
        k = _slices(c_gid, gid)
        ok = c_ok[k]
        row["users_without_estimate"] = int(c_users[k][~c_has[k]].sum())
        pb = payback_day(cost, series, c_day[k][ok] - f0, c_users[k][ok],
                         knots if len(knots) else np.array([1.0]),
                         c_kv[k][ok] if len(knots) else np.zeros((int(ok.sum()), 1)), cfg.payback_search_days)
        row["payback_day"] = float(pb.day) if pb.day is not None else np.nan
        row["payback_date"] = (pd.Timestamp(first_ts[i]) + pd.Timedelta(days=pb.day - 1)) if pb.day is not None else pd.NaT
        row["payback_basis"] = pb.basis
        rec, why = recommend(cost, days_live, row["estimated_roas"] if pos else None,
                             row["estimated_roas_lower"] if pos else None,
                             row["estimated_roas_upper"] if pos else None, cfg)
        if pb.basis == "none" and pb.note != "no cost" and rec != "keep":
            why = f"{why}; payback: {pb.note}"
        row["recommendation"], row["reason"] = rec, why
        rows.append(row)
    return pd.DataFrame(rows)
