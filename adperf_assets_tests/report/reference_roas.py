"""The report math as it was before the per-run coding (pandas groupby/merge per day and level): the
oracle ``test_fast_paths`` checks the fast ``report.roas`` against on messy random worlds. Frozen; do
not use outside tests."""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.report.config import ReportConfig
from adperf_assets.report.intervals import SEGMENT_KEYS, combine_intervals
from adperf_assets.report.payback import payback_day, value_at
from adperf_assets.report.recommend import recommend

LEVEL_KEYS = {
    "ad": ["network", "account_id", "campaign_id", "ad_group_id", "ad_id"],
    "ad_group": ["network", "account_id", "campaign_id", "ad_group_id"],
    "campaign": ["network", "account_id", "campaign_id"],
    "account": ["network", "account_id"],
    "network": ["network"],
}
NAME_OF = {"account_id": "account_name", "campaign_id": "campaign_name", "ad_group_id": "ad_group_name",
           "ad_id": "ad_name"}
ID_COLUMNS = ["network", "account_id", "account_name", "campaign_id", "campaign_name", "ad_group_id",
              "ad_group_name", "ad_id", "ad_name"]
SPEND_COLUMNS = ["report_date", "network", "account_id", "account_name", "campaign_id", "campaign_name",
                 "ad_group_id", "ad_group_name", "ad_id", "ad_name", "installs"]
INSTALL_COLUMNS = ["user_id", "install_date", "network", "ad_id", "attribution"]
SEGMENT_COLUMNS = ["user_id", "install_date", *SEGMENT_KEYS]
BEHAVIOR_COLUMNS = ["report_date", "user_id", "paid_usd", "credited_usd"]
LTV_COLUMNS = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "ltv_per_user_usd", "lower_usd",
               "upper_usd", "estimator", "backtest_mape"]


def roas_columns(roas_days=(7, 14, 30)) -> list[str]:
    return [
        "report_date", "level", *ID_COLUMNS,
        "first_spend_date", "last_spend_date", "days_live", "is_active", "history_truncated",
        "spend_installs", "users", "cost_to_date_usd", "cost_on_day_usd", "paid_to_date_usd", "return_to_date_usd",
        "horizon_days", "estimated_return_usd", "estimated_lower_usd", "estimated_upper_usd",
        "users_without_estimate", "estimate_mape", "estimators",
        "roas", "estimated_roas", "estimated_roas_lower", "estimated_roas_upper",
        *[f"d{n}_roas" for n in roas_days], *[f"d{n}_note" for n in roas_days],
        "payback_day", "payback_date", "payback_basis", "recommendation", "reason",
    ]


REPORT_COLUMNS = roas_columns()


class ReportInputError(ValueError):
    """An input table is not what the contract says (names the table, column and rows)."""


def _require(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{table}: missing column(s) {missing}; has {list(frame.columns)}")


def _dates(s: pd.Series) -> pd.Series:
    out = pd.to_datetime(s)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]").dt.normalize()


def _no_nan(frame: pd.DataFrame, table: str, columns: list[str], key: list[str]) -> None:
    for c in columns:
        bad = frame[c].isna()
        if bad.any():
            rows = frame.loc[bad, key].head(5).astype(str).to_dict("records")
            raise ReportInputError(f"{table}: {int(bad.sum())} row(s) with {c} missing, e.g. {rows}")


@dataclass
class ReportInputs:
    """The input tables, checked and normalised once for any number of report days."""

    spend: pd.DataFrame  # SPEND_COLUMNS + cost (report currency)
    users: pd.DataFrame  # one row per attributed user: user_id, install_date, network, ad_id, segment, has_segment
    revenue: pd.DataFrame  # behaviour rows of attributed users: report_date, user_id, paid, credited, + user's ad
    ltv: pd.DataFrame
    other_users: int = 0  # installs without an ad (organic, unattributed)
    credit_methods: tuple[str, ...] = ()


def prepare_inputs(spend: pd.DataFrame, installs: pd.DataFrame, segments: pd.DataFrame, behavior: pd.DataFrame,
                   ltv: pd.DataFrame, cost_column: str = "cost_usd") -> ReportInputs:
    _require(spend, "ad_spend", [*SPEND_COLUMNS, cost_column])
    _require(installs, "installs", INSTALL_COLUMNS)
    _require(segments, "user_segments", SEGMENT_COLUMNS)
    _require(behavior, "behavior_value", BEHAVIOR_COLUMNS)
    _require(ltv, "ltv_estimates", LTV_COLUMNS)

    sp = spend[SPEND_COLUMNS].copy()
    sp["cost"] = spend[cost_column].astype(float)
    sp["report_date"] = _dates(sp["report_date"])
    for c in ID_COLUMNS:
        sp[c] = sp[c].astype(str)
    _no_nan(sp, "ad_spend", ["cost"], ["report_date", "network", "account_id", "ad_id"])
    sp["installs"] = sp["installs"].astype(float).fillna(0.0)

    ins = installs[INSTALL_COLUMNS].copy()
    ins["install_date"] = _dates(ins["install_date"])
    ins["ad_id"] = ins["ad_id"].fillna("").astype(str)
    ins["network"] = ins["network"].astype(str)
    dup = ins["user_id"].duplicated(keep=False)
    if dup.any():
        raise ReportInputError(f"installs: {int(dup.sum())} rows share a user_id (a user counts once), e.g. "
                               f"{ins.loc[dup, 'user_id'].head(5).tolist()}")
    with_ad = ins["ad_id"] != ""
    other = int((~with_ad).sum())
    ins = ins[with_ad]
    seg = segments[SEGMENT_COLUMNS].drop(columns="install_date").drop_duplicates("user_id")
    seg = seg.rename(columns={"network": "seg_network", "attribution": "seg_attribution"})
    users = ins.merge(seg, on="user_id", how="left", indicator=True)
    users["has_segment"] = users.pop("_merge").eq("both")
    users["seg_attribution"] = users["seg_attribution"].fillna(users["attribution"]).astype(str)
    users["seg_network"] = users["seg_network"].fillna(users["network"]).astype(str)
    users["platform"] = users["platform"].fillna("").astype(str)
    users["is_emulator"] = users["is_emulator"].fillna(False).astype(bool)
    users = users.drop(columns="attribution").reset_index(drop=True)

    beh = behavior[BEHAVIOR_COLUMNS].copy()
    beh["report_date"] = _dates(beh["report_date"])
    _no_nan(beh, "behavior_value", ["paid_usd", "credited_usd"], ["report_date", "user_id"])
    methods = tuple(sorted(map(str, behavior["method"].unique()))) if "method" in behavior.columns else ()
    rev = beh.merge(users[["user_id", "install_date", "network", "ad_id"]], on="user_id", how="inner")
    rev = rev.rename(columns={"paid_usd": "paid", "credited_usd": "credited"})

    lt = ltv[LTV_COLUMNS].copy()
    lt["report_date"] = _dates(lt["report_date"])
    lt["install_date"] = _dates(lt["install_date"])
    lt["horizon"] = lt["horizon"].astype(int)
    for c in ("platform", "attribution", "network"):
        lt[c] = lt[c].astype(str)
    lt["is_emulator"] = lt["is_emulator"].astype(bool)
    _no_nan(lt, "ltv_estimates", ["ltv_per_user_usd"], ["report_date", "install_date", *SEGMENT_KEYS, "horizon"])
    return ReportInputs(spend=sp, users=users, revenue=rev, ltv=lt, other_users=other, credit_methods=methods)


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
    rev_daily = rev.groupby(["aid", "report_date"], sort=False)["credited"].sum().reset_index()

    frames = []
    for level in cfg.levels:
        frames.append(_rollup(level, catalog, per_ad, cells, rev_daily, day, start, cfg))
    out = pd.concat(frames, ignore_index=True)
    return out[roas_columns(cfg.roas_days)], info


def _day_numbers(values) -> np.ndarray:
    """Dates as whole days since 1970 (int64), for slicing per group without pandas."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


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


def build_report(inputs: ReportInputs, days, config: ReportConfig | None = None) -> tuple[pd.DataFrame, list[DayInfo]]:
    """``build_day`` for each of ``days``, concatenated (a single-run backfill computes its days alike)."""
    cfg = config or ReportConfig()
    frames, infos = [], []
    for d in days:
        frame, info = build_day(inputs, d, cfg)
        frames.append(frame)
        infos.append(info)
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    return typed(out, cfg), infos


def typed(frame: pd.DataFrame, config: ReportConfig | None = None) -> pd.DataFrame:
    """The report's dtypes (also for an empty frame), so every day stores the same table."""
    cfg = config or ReportConfig()
    cols = roas_columns(cfg.roas_days)
    out = frame.reindex(columns=cols).copy()
    dates = ["report_date", "first_spend_date", "last_spend_date", "payback_date"]
    ints = ["days_live", "users", "horizon_days", "users_without_estimate"]
    bools = ["is_active", "history_truncated"]
    strs = ["level", *ID_COLUMNS, "estimators", *[f"d{n}_note" for n in cfg.roas_days], "payback_basis",
            "recommendation", "reason"]
    for c in cols:
        if c in dates:
            out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
        elif c in ints:
            out[c] = out[c].astype("int64")
        elif c in bools:
            out[c] = out[c].astype(bool)
        elif c in strs:
            out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str) if len(out) else out[c].astype(object)
        else:
            out[c] = out[c].astype("float64")
    return out.reset_index(drop=True)
