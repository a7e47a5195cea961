"""The ROAS report of one report day, per ad and rolled up per ad group, campaign, account and network.

Inputs are the contract's tables (already loaded, any number of days):

- ``ad_spend``        cost per day and ad (the history of every ad: the last ``max_ad_age_days``)
- ``installs``        which ad brought each user (users of the same window)
- ``user_segments``   the users' segment keys (platform, attribution, network, is_emulator)
- ``behavior_value``  per user and day ``paid_usd`` (own net payments) and ``credited_usd`` (the
  user's credited share of the day's revenue, including what a payer keeps; credit sums to revenue)
- ``ltv_estimates``   per cohort x segment x horizon the LTV per user with its interval, as of the day

Definitions (report day ``D``, the ad's first day of spend ``F``, ``M = max_ad_age_days``):

- ``cost_to_date_usd``     cost on days ``max(F, D-M+1) .. D``
- ``return_to_date_usd``   credited value of the ad's attributed users, every day since each
  user's install up to ``D`` (payments net of refunds, re-divided by behaviour credit: a payer keeps
  part, partners who made the paid matches get the rest); ``paid_to_date_usd`` the same users' own
  payments, shown beside it
- ``estimated_return_usd`` (``_lower`` / ``_upper``): sum over the ad's cells (install day x segment)
  of users x LTV per user at the configured horizon; intervals combined as in ``report.intervals``.
  Users whose cell has no estimate (e.g. installed on ``D``) count with their realised return and
  zero width (``users_without_estimate``)
- ``roas = return / cost``, ``estimated_roas = estimated_return / cost`` (with its interval)
- ``d{n}_roas``: revenue of the cohorts installed on or before ``c = D-n+1`` (whose first ``n`` days
  are all in) within their first ``n`` days, over the cost of the days up to ``c``; null with the
  reason in ``d{n}_note`` when the ad is younger than ``n`` days
- ``payback_day`` / ``payback_date``: see ``report.payback``
- ``recommendation`` / ``reason``: see ``report.recommend``

A user is linked to an ad by (network, ad_id); hierarchy and names come from the ad's latest spend
row. Users attributed to an ad id without spend in the window are not in any row; their number and
return are reported in ``DayInfo.unmatched`` (never dropped silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.report.config import ReportConfig
from adperf_assets.report.intervals import SEGMENT_KEYS, combine_intervals
from adperf_assets.report.payback import payback_days, value_at
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


def _day_numbers(values) -> np.ndarray:
    """Dates as whole days since 1970 (int64), for slicing and keys without pandas."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _as_dates(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[ns]")


@dataclass
class _Run:
    """The inputs coded once per run (ads, segments, cells as integers; rows sorted by day), so a report
    day is a few slices and ``np.bincount`` sums instead of pandas filters, groupbys and merges over the
    whole history window."""

    # ads: every (network, ad_id) seen in spend or installs ("akey"); label "network:ad_id"
    labels: np.ndarray
    # spend per ad and day (summed), sorted by day; spend rows sorted by day for the catalog
    d_akey: np.ndarray
    d_day: np.ndarray
    d_cost: np.ndarray
    d_inst: np.ndarray
    s_day: np.ndarray
    s_akey: np.ndarray
    s_ids: pd.DataFrame
    # cells (ad x install day x segment x has_segment), sorted by install day
    c_akey: np.ndarray
    c_inst: np.ndarray
    c_seg: np.ndarray
    c_has: np.ndarray
    c_users: np.ndarray
    seg_values: pd.DataFrame  # the segment columns per segment code
    # revenue per cell and report day, sorted by cell (so by install day), then day
    r_cell: np.ndarray
    r_inst: np.ndarray
    r_day: np.ndarray
    r_credited: np.ndarray
    r_paid: np.ndarray
    r_age: np.ndarray  # report day - install day
    c_first_days: dict  # per D-n: each cell's credit within its first n days
    # ltv_estimates rows sorted (stably) by report day; segment code -1 = a segment no user has
    l_rday: np.ndarray
    l_inst: np.ndarray
    l_seg: np.ndarray
    l_horizon: np.ndarray
    l_value: np.ndarray
    l_lower: np.ndarray
    l_upper: np.ndarray
    l_mape: np.ndarray
    l_estimator: np.ndarray  # code into estimator_names, -1 = none
    estimator_names: np.ndarray


def _code_run(inputs: ReportInputs, roas_days=(7, 14, 30)) -> _Run:
    sp = inputs.spend.sort_values("report_date", kind="stable").reset_index(drop=True)
    users, rev, lt = inputs.users, inputs.revenue, inputs.ltv
    net = np.concatenate([sp["network"].to_numpy(object), users["network"].to_numpy(object)])
    ad = np.concatenate([sp["ad_id"].to_numpy(object), users["ad_id"].to_numpy(object)])
    akey_all, uniq = pd.factorize(pd.Series(net, dtype=object) + "\x1f" + pd.Series(ad, dtype=object))
    labels = np.asarray([k.replace("\x1f", ":", 1) for k in uniq], dtype=object)
    s_akey, u_akey = akey_all[:len(sp)].astype(np.int64), akey_all[len(sp):].astype(np.int64)
    s_day = _day_numbers(sp["report_date"])

    daily = pd.DataFrame({"akey": s_akey, "day": s_day, "cost": sp["cost"].to_numpy(float),
                          "installs": sp["installs"].to_numpy(float)})
    daily = daily.groupby(["day", "akey"], sort=True)[["cost", "installs"]].sum().reset_index()

    seg_mi = pd.MultiIndex.from_frame(users[_SEG])
    u_seg, seg_uniq = pd.factorize(seg_mi)
    seg_uniq = pd.MultiIndex.from_tuples(list(seg_uniq), names=_SEG) if len(seg_uniq) else pd.MultiIndex.from_arrays(
        [[], [], [], []], names=_SEG)
    nseg = max(len(seg_uniq), 1)
    u_inst = _day_numbers(users["install_date"])
    u_has = users["has_segment"].to_numpy(bool)
    n_akey = max(len(labels), 1)
    base = int(u_inst.min()) if len(u_inst) else 0
    ck = (((u_inst - base) * n_akey + u_akey) * nseg + u_seg) * 2 + u_has
    ckeys, u_cell = np.unique(ck, return_inverse=True)
    u_cell = u_cell.reshape(-1)
    first = np.zeros(len(ckeys), np.int64)
    first[u_cell[::-1]] = np.arange(len(u_cell))[::-1]  # any user of the cell
    c_users = np.bincount(u_cell, minlength=len(ckeys)).astype(np.int64)

    pos = pd.Index(users["user_id"]).get_indexer(rev["user_id"])
    r_cell_all = u_cell[pos]
    r_day_all = _day_numbers(rev["report_date"])
    dmin = int(r_day_all.min()) if len(r_day_all) else 0
    span = int(r_day_all.max()) - dmin + 1 if len(r_day_all) else 1
    rk = r_cell_all * span + (r_day_all - dmin)
    rkeys, r_inv = np.unique(rk, return_inverse=True)
    r_inv = r_inv.reshape(-1)
    r_cell = rkeys // span
    c_inst = u_inst[first]
    r_day = rkeys % span + dmin
    r_age = r_day - c_inst[r_cell]
    r_credited = np.bincount(r_inv, rev["credited"].to_numpy(float), minlength=len(rkeys))
    c_first_days = {n: np.bincount(r_cell[r_age < n], r_credited[r_age < n], minlength=len(ckeys)) for n in roas_days}

    l_rday = _day_numbers(lt["report_date"])
    order = np.argsort(l_rday, kind="stable")
    lt = lt.iloc[order]
    l_seg = (seg_uniq.get_indexer(pd.MultiIndex.from_arrays(
        [lt["platform"], lt["attribution"], lt["network"], lt["is_emulator"]])) if len(seg_uniq) and len(lt)
        else np.full(len(lt), -1))
    est_codes, est_names = pd.factorize(lt["estimator"])
    return _Run(
        labels=labels, d_akey=daily["akey"].to_numpy(np.int64), d_day=daily["day"].to_numpy(np.int64),
        d_cost=daily["cost"].to_numpy(float), d_inst=daily["installs"].to_numpy(float),
        s_day=s_day, s_akey=s_akey, s_ids=sp[ID_COLUMNS],
        c_akey=u_akey[first], c_inst=c_inst, c_seg=u_seg[first].astype(np.int64), c_has=u_has[first],
        c_users=c_users, seg_values=seg_uniq.to_frame(index=False),
        r_cell=r_cell, r_inst=c_inst[r_cell], r_day=r_day, r_credited=r_credited, r_age=r_age,
        c_first_days=c_first_days,
        r_paid=np.bincount(r_inv, rev["paid"].to_numpy(float), minlength=len(rkeys)),
        l_rday=l_rday[order], l_inst=_day_numbers(lt["install_date"]), l_seg=np.asarray(l_seg, np.int64),
        l_horizon=lt["horizon"].to_numpy(np.int64), l_value=lt["ltv_per_user_usd"].to_numpy(float),
        l_lower=lt["lower_usd"].to_numpy(float), l_upper=lt["upper_usd"].to_numpy(float),
        l_mape=lt["backtest_mape"].to_numpy(float), l_estimator=np.asarray(est_codes, np.int64),
        estimator_names=np.asarray(est_names, dtype=object))


def _span(sorted_days: np.ndarray, lo: int, hi: int) -> slice:
    """The rows of ``sorted_days`` in ``[lo, hi]``."""
    return slice(int(np.searchsorted(sorted_days, lo, "left")), int(np.searchsorted(sorted_days, hi, "right")))


def _ltv_of_cells(run: _Run, day: int, c_inst: np.ndarray, c_seg: np.ndarray, horizon: int):
    """For the day's cells: LTV per user at every horizon of the day's ``ltv_estimates`` (first row per
    cohort x segment x horizon, as a left merge would take it) and interval/estimator/MAPE at ``horizon``."""
    r = _span(run.l_rday, day, day)
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


def _estimates(users: np.ndarray, realised: np.ndarray, realised_h: np.ndarray, has_segment: np.ndarray,
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


def _group_ids(catalog: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray]:
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


def build_day(inputs: ReportInputs, report_date, config: ReportConfig | None = None) -> tuple[pd.DataFrame, DayInfo]:
    """The report rows of one day (every configured level) and what could not be placed."""
    cfg = config or ReportConfig()
    return _build_day(_code_run(inputs, cfg.roas_days), report_date, cfg)


def _build_day(run: _Run, report_date, cfg: ReportConfig) -> tuple[pd.DataFrame, DayInfo]:
    day = pd.Timestamp(report_date).normalize()
    start = day - pd.Timedelta(days=cfg.max_ad_age_days - 1)
    today, first_day = int(_day_numbers([day])[0]), int(_day_numbers([start])[0])
    info = DayInfo(report_date=day)
    s = _span(run.s_day, first_day, today)
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

    d = _span(run.d_day, first_day, today)
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
    c = _span(run.c_inst, first_day, today)
    c_aid = aid_of[run.c_akey[c]]
    c_users, c_has_seg = run.c_users[c], run.c_has[c]
    lost = c_aid < 0
    r = _span(run.r_inst, first_day, today)
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
    for n in cfg.roas_days:
        cut = today - (n - 1)
        mature = keep & (c_inst <= cut)  # their first n days are all up to the report day
        per_ad[f"rev{n}"] = np.bincount(c_aid[mature], run.c_first_days[n][c][mature], minlength=n_ads)
        per_ad[f"cost{n}"] = np.bincount(d_aid[d_day <= cut], d_cost[d_day <= cut], minlength=n_ads)
    # realised return per ad and day of the window (earlier days count on the first), for payback
    width = today - first_day + 1
    r_aid = c_aid[r_cell]
    on_ad = r_aid >= 0
    by_day = np.bincount(r_aid[on_ad] * width + (np.maximum(r_day[on_ad], first_day) - first_day), r_cred[on_ad],
                         minlength=n_ads * width).reshape(n_ads, width)

    # the cells' estimates (only the matched ones make rows)
    c_aid, c_users, c_has_seg, c_inst = c_aid[keep], c_users[keep], c_has_seg[keep], c_inst[keep]
    c_seg = run.c_seg[c][keep]
    horizons, info.ltv_rows, kv, lo_pu, hi_pu, mape_c, est_c = _ltv_of_cells(run, today, c_inst, c_seg,
                                                                              cfg.horizon_days)
    info.ltv_horizons = horizons
    if info.ltv_rows and cfg.horizon_days not in horizons:
        raise ReportInputError(f"ltv_estimates of {day.date()} has horizons {horizons}; the report's "
                               f"horizon_days={cfg.horizon_days} is not one of them")
    has, est, lo, hi = _estimates(c_users, realised[keep], realised_h[keep], c_has_seg, today - c_inst + 1,
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

    parts = [_rollup(run, level, catalog, per_ad, _as_dates(first_spend), last_spend, cells, by_day, day,
                     today, first_day, cfg) for level in cfg.levels]
    return pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in roas_columns(cfg.roas_days)}), info


def _rollup(run: _Run, level: str, catalog: pd.DataFrame, per_ad: dict, first_spend: np.ndarray,
            last_spend: np.ndarray, cells: dict, by_day: np.ndarray, day: pd.Timestamp, today: int, first_day: int,
            cfg: ReportConfig) -> dict[str, np.ndarray]:
    """The rows of one level as columns (one per group of ads at ``level``)."""
    gid_of_aid, starts = _group_ids(catalog, level)
    ng = len(starts)
    col = {k: np.bincount(gid_of_aid, v, minlength=ng) for k, v in per_ad.items()}
    f_day = np.full(ng, np.iinfo(np.int64).max)
    np.minimum.at(f_day, gid_of_aid, _day_numbers(first_spend))
    l_day = np.full(ng, np.iinfo(np.int64).min)
    np.maximum.at(l_day, gid_of_aid, last_spend)
    keys = LEVEL_KEYS[level]
    kept = set(keys) | {NAME_OF[k] for k in keys if k in NAME_OF}
    out = {"report_date": np.full(ng, day.to_datetime64()), "level": np.full(ng, level, dtype=object)}
    for cname in ID_COLUMNS:
        out[cname] = catalog[cname].to_numpy(object)[starts] if cname in kept else np.full(ng, "", dtype=object)

    c_gid = gid_of_aid[cells["aid"]]
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
    for g, e in set(zip(c_gid[named].tolist(), cells["est_code"][named].tolist())):
        names[g].add(str(run.estimator_names[e]))
    estimators = np.asarray(["+".join(sorted(x)) for x in names], dtype=object)
    no_est = np.bincount(c_gid[~has], cells["users"][~has], minlength=ng)

    cost, ret = col["cost"], col["return"]
    pos = cost > 0
    safe = np.where(pos, cost, 1.0)
    days_live = today - f_day + 1
    out.update({
        "first_spend_date": _as_dates(f_day), "last_spend_date": np.where(
            l_day == np.iinfo(np.int64).min, np.datetime64("NaT", "ns"), _as_dates(np.maximum(l_day, 0))),
        "days_live": days_live, "is_active": col["cost_today"] > 0, "history_truncated": f_day <= first_day,
        "spend_installs": col["spend_installs"], "users": col["users"].astype(np.int64),
        "cost_to_date_usd": cost, "cost_on_day_usd": col["cost_today"], "paid_to_date_usd": col["paid"],
        "return_to_date_usd": ret, "horizon_days": np.full(ng, cfg.horizon_days, np.int64),
        "estimated_return_usd": est, "estimated_lower_usd": lo, "estimated_upper_usd": hi,
        "users_without_estimate": no_est.astype(np.int64), "estimate_mape": mape, "estimators": estimators,
        "roas": np.where(pos, ret / safe, np.nan), "estimated_roas": np.where(pos, est / safe, np.nan),
        "estimated_roas_lower": np.where(pos, lo / safe, np.nan),
        "estimated_roas_upper": np.where(pos, hi / safe, np.nan)})
    for n in cfg.roas_days:
        cut = today - (n - 1)
        young, no_cost = cut < f_day, col[f"cost{n}"] <= 0
        out[f"d{n}_roas"] = np.where(young | no_cost, np.nan, col[f"rev{n}"] / np.where(no_cost, 1.0, col[f"cost{n}"]))
        cut_date = (day - pd.Timedelta(days=n - 1)).date()
        out[f"d{n}_note"] = np.asarray([f"{dl} day(s) of data; D{n} needs {n}" if y else
                                        (f"no cost up to {cut_date}" if z else "")
                                        for dl, y, z in zip(days_live.tolist(), young.tolist(), no_cost.tolist())],
                                       dtype=object)

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
    pb_date[known] = _as_dates(f_day[known] + pb_day[known].astype(np.int64) - 1)
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


def build_report(inputs: ReportInputs, days, config: ReportConfig | None = None) -> tuple[pd.DataFrame, list[DayInfo]]:
    """Each of ``days`` computed alike (a single-run backfill); the inputs are coded once for all of them."""
    cfg = config or ReportConfig()
    run = _code_run(inputs, cfg.roas_days)
    frames, infos = [], []
    for d in days:
        frame, info = _build_day(run, d, cfg)
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
