"""SKAN-modelled installs and return per iOS campaign, and their place in the ROAS report (docs/skan.md).

``modelled_campaigns`` fits ``SkanDecoder`` on the users whose postback keys the app knows (those who
allowed tracking, whose ad the MMP names, and the paid installs it shows as ``restricted``) and models,
per campaign, the installs the MMP could not attribute and their return to date with a 99% interval.
``fold_into_report`` adds them to the report's campaign rows and their account / network roll-ups: installs and return = measured + modelled, basis ``modelled (SKAN)``.

Postbacks name a campaign by the first two digits of the source identifier at every tier, an ad group
and ad only at tier >= 2 (3-4 digits): ad group and ad rows get the modelled part of the postbacks that name
them and the rest by their tracked users (``skan.allocate``); what no row below can take stays on the row,
shown as ``modelled_unattributed_*``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from adperf_assets.report.columns import LEVEL_KEYS, SKAN_COLUMNS  # noqa: F401 -- the columns this module fills
from adperf_assets.report.config import ReportConfig
from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.report.recommend import recommend
from adperf_assets.skan import schema
from adperf_assets.skan.allocate import allocate_below
from adperf_assets.skan.decode import SkanDecoder
from adperf_assets.skan.keys import install_keys, user_keys

SKAN_BASIS = "modelled (SKAN)"
#: A first postback arrives at the latest 3 days (window 0) + 48 h after the install day.
FIRST_POSTBACK_DAYS = 5
#: A later window's coarse value is counted for a tracked user once its postback has most likely
#: arrived: the window's end + this many days (the middle of Apple's 24-144 h delay).
LATER_POSTBACK_DAYS = 4
MODELLED_COLUMNS = ["report_date", "level", "network", "campaign_id", "ad_group_id", "ad_id", "skan_installs",
                    "tracked_installs", "modelled_installs", "tracked_return_usd", "modelled_return_usd",
                    "modelled_lower_usd", "modelled_upper_usd", "null_share", "ratio", "value_share",
                    "allocated_share"]


def empty_modelled() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in MODELLED_COLUMNS})
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    for c in ("level", "network", "campaign_id", "ad_group_id", "ad_id"):
        out[c] = out[c].astype(object)
    for c in ("skan_installs", "tracked_installs", "modelled_installs"):
        out[c] = out[c].astype("int64")
    return out


def calibration_users(installs: pd.DataFrame, networks) -> pd.DataFrame:
    """The iOS users whose postback keys the app knows: those of ``networks`` whose ad the MMP shows
    (``tracked``) and the paid installs it shows without their ad (AppsFlyer's ``restricted``: no ATT
    consent; campaign unknown, but their payments and logins are the app's own): user_id, install_date,
    network, campaign_id, tracked."""
    ios = installs["platform"] == "ios"
    tracked = ios & installs["network"].isin(list(networks)) & (installs["campaign_id"].astype(str) != "")
    hidden = ios & (installs["attribution"] == "paid") & (installs["network"] == schema.RESTRICTED)
    t = installs[tracked | hidden]
    out = t[["user_id", "install_date", "network", "campaign_id"]].copy()
    out["install_date"] = as_datetimes(out["install_date"]).astype("datetime64[ns]").dt.normalize()
    out["campaign_id"] = out["campaign_id"].astype(str)
    out["tracked"] = tracked[tracked | hidden].to_numpy()
    return out.drop_duplicates("user_id").reset_index(drop=True)


def calibration(users: pd.DataFrame, behavior: pd.DataFrame, activity: pd.DataFrame,
                day: pd.Timestamp) -> pd.DataFrame:
    """Per calibration user (``calibration_users``) the keys their postbacks carry (by the app's schema,
    from their payments and logins) and ``value``: their credited return up to ``day``, as the report's ``return_to_date_usd``.

    ``behavior``: report_date, user_id, paid_usd, credited_usd (``behavior_value``: the user's own net
    payments per day stand in for the schema's gross revenue, and paying days for purchases: refunds
    and two purchases on one day are the difference); ``activity``: report_date, user_id
    (``user_activity``)."""
    t = users.reset_index(drop=True)
    inst = t.set_index("user_id")["install_date"]

    def age(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        d = as_datetimes(frame["report_date"])
        keep = (frame["user_id"].isin(inst.index) & (d <= day)).to_numpy()
        f = frame[keep]
        return (d.to_numpy()[keep] - inst.reindex(f["user_id"]).to_numpy()).astype("timedelta64[D]").astype(int), f

    def per_user(values: pd.Series) -> np.ndarray:
        return values.groupby(level=0).sum().reindex(t["user_id"]).fillna(0).to_numpy(dtype=float)

    a, b = age(behavior)
    ids = b["user_id"].to_numpy()
    paid = pd.Series(b["paid_usd"].to_numpy(dtype=float).clip(min=0), index=ids)
    rev = [per_user(paid[(a >= 0) & (a <= hi)]) for _, hi in schema.WINDOWS]
    buys = per_user(pd.Series((b["paid_usd"].to_numpy(dtype=float) > 0).astype(float), index=ids)[
        (a >= 0) & (a <= schema.WINDOWS[0][1])])
    value = per_user(pd.Series(b["credited_usd"].to_numpy(dtype=float), index=ids))
    a, act = age(activity)

    def opened(lo: int, hi: int) -> np.ndarray:
        return t["user_id"].isin(set(act.loc[(a >= lo) & (a <= hi), "user_id"])).to_numpy()

    # a later window's postback counts once it has arrived by now, and is sent only if the user opened the app in it
    seen = ((day - t["install_date"]).dt.days).to_numpy()
    sent = [(seen >= hi + LATER_POSTBACK_DAYS) & opened(lo, hi) for lo, hi in schema.WINDOWS[1:]]
    keys = user_keys(rev, buys, opened(1, schema.WINDOWS[0][1]), sent)
    return pd.concat([t, keys], axis=1).assign(value=value)


def estimated_install_day(postbacks: pd.DataFrame, tz: str) -> pd.Series:
    """The report-zone install day of first postbacks: arrival − the end of window 0 − the middle of its
    send delay (AppsFlyer's own estimate, arrival − 84 h, is a day earlier than Apple's rules imply)."""
    lag = pd.Timedelta(hours=24 * (schema.WINDOWS[0][1] + 1) + sum(schema.SEND_DELAY_HOURS[0]) / 2)
    t = as_datetimes(postbacks["arrival_time_utc"]) - lag
    return (t.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
            .astype("datetime64[ns]"))


def modelled_campaigns(postbacks: pd.DataFrame, calib: pd.DataFrame, day: pd.Timestamp, since: pd.Timestamp,
                       tz: str, level: float = 0.99, user_ads: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per network and campaign: SKAN installs, tracked installs and the modelled rest with its return to
    date and interval (``SkanDecoder``), as ``MODELLED_COLUMNS``, over the cohorts ``since`` .. ``day`` −
    FIRST_POSTBACK_DAYS, whose first postbacks have all arrived by ``day`` (postbacks placed on their
    estimated install day); younger cohorts' untracked installs count once their postbacks arrive.
    Below each campaign row, its ad group and ad rows (``allocate_below``; ``user_ads``: user_id, ad_group_id,
    ad_id of the tracked users, to allocate what postbacks do not name): ``skan_installs`` = the postbacks
    that name them, ``modelled_installs`` their modelled part, ``tracked_installs`` = skan_installs −
    modelled_installs, floored at 0 (the named postbacks' tracked part, when nothing is allocated),
    ``tracked_return_usd`` NaN (their tracked users are the report's own)."""
    last = day - pd.Timedelta(days=FIRST_POSTBACK_DAYS)
    pb = postbacks[as_datetimes(postbacks["arrival_date"]) <= day]
    inst = install_keys(pb)
    if len(inst):
        est = estimated_install_day(inst, tz)
        inst = inst[((est >= since) & (est <= last)).to_numpy()]
    matched = calib[(calib["install_date"] >= since) & (calib["install_date"] <= last)]
    if inst.empty or matched.empty:
        return empty_modelled()
    # fitted on the same cohorts: younger users' keys and values are incomplete, and the campaigns' ratios
    # are shrunk toward the fit's level. The key values come from every user whose key the app knows
    # (tracked or restricted: a whale among the few tracked users no longer sets a key's value for every
    # campaign); the campaigns' ratios from their tracked users
    dec = SkanDecoder(level=level).fit(matched)
    pred = dec.predict(inst, matched[matched["tracked"]])
    out = pd.DataFrame({
        "report_date": pd.Timestamp(day), "network": pred["network"].astype(str),
        "campaign_id": pred["campaign_id"].astype(str), "skan_installs": pred["skan_installs"].astype("int64"),
        "tracked_installs": pred["tracked_installs"].astype("int64"),
        "modelled_installs": pred["modelled_installs"].astype("int64"),
        "tracked_return_usd": pred["tracked_return"], "modelled_return_usd": pred["modelled_return"],
        "modelled_lower_usd": pred["modelled_return_low"], "modelled_upper_usd": pred["modelled_return_high"],
        "null_share": pred["null_share"], "ratio": pred["ratio"]})
    out["level"], out["ad_group_id"], out["ad_id"], out["value_share"] = "campaign", "", "", 1.0
    out["allocated_share"] = 0.0
    trk = None
    if user_ads is not None:
        trk = matched[matched["tracked"]][["user_id", "network", "campaign_id"]].merge(
            user_ads[["user_id", "ad_group_id", "ad_id"]].drop_duplicates("user_id"), on="user_id", how="inner")
        keys = matched[matched["tracked"]].set_index("user_id").reindex(trk["user_id"])
        trk["value"] = dec.predict_keys(keys["fine"], keys["later"].fillna(""))  # the ads' quality as their keys show
    below = allocate_below(inst, dec.predict_keys(inst["key"], inst["later"]), out, trk, level)
    if len(below):
        below = below.merge(out[["network", "campaign_id", "ratio"]], on=["network", "campaign_id"], how="left")
        below["report_date"] = pd.Timestamp(day)
        below["tracked_installs"] = (below["skan_installs"] - below["modelled_installs"]).clip(lower=0)
        below["tracked_return_usd"] = np.nan
        out = pd.concat([out, below[MODELLED_COLUMNS]], ignore_index=True)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    for c in ("skan_installs", "tracked_installs", "modelled_installs"):
        out[c] = out[c].astype("int64")
    return out[MODELLED_COLUMNS].reset_index(drop=True)


def _half(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return np.where(np.isfinite(d), d, np.inf)


def fold_into_report(report: pd.DataFrame, modelled: pd.DataFrame, config: ReportConfig | None = None) -> pd.DataFrame:
    """The report with ``SKAN_COLUMNS`` added and its campaign rows with postbacks (and their account and
    network roll-ups) = measured + modelled.

    Per campaign: ``users`` += the modelled installs, ``return_to_date_usd`` += the modelled return to
    date; the modelled rest's estimated return = its return to date × the campaign's measured estimate /
    measured return (its users' remaining value as the tracked users'; installs × estimate per user while
    nothing is returned yet). Interval: the measured half-widths scale with the total (the LTV model's
    error is shared by both parts), the decoder's half-widths add in quadrature (independent sampling).

    Ad group and ad rows (``modelled`` rows of those levels, ``skan.allocate``) get their part the same way:
    their modelled installs and return, the campaign's modelled estimate x their ``value_share`` (so they add
    up within the campaign), their own half-widths scaled as the campaign's; the reason says how much of it
    was allocated.
    ``modelled_unattributed_installs`` / ``_usd``: the part of a row's modelled installs / estimate that no row
    one level below carries (postbacks that name the campaign but no ad group, the ad group but no ad), so
    the rows below + it = the row."""
    cfg = config or ReportConfig()
    out = report.copy()
    out["modelled_installs"] = 0
    out["modelled_estimated_usd"] = 0.0
    out["modelled_share"] = 0.0
    out["return_basis"] = "measured"
    out["modelled_unattributed_installs"] = 0
    out["modelled_unattributed_usd"] = 0.0
    if modelled is None or modelled.empty or out.empty:
        return out
    m = modelled.copy()
    m["report_date"] = as_datetimes(m["report_date"]).astype("datetime64[ns]")
    level = m["level"] if "level" in m else pd.Series("campaign", index=m.index)
    below, m = m[level != "campaign"], m[level == "campaign"]
    key = ["report_date", "network", "campaign_id"]
    camp = out[out["level"] == "campaign"][key].reset_index()
    j = camp.merge(m, on=key, how="inner")
    j = j[j["modelled_installs"] > 0]
    if j.empty:
        return out
    idx = j["index"].to_numpy()
    r = out.loc[idx]
    ret, est = r["return_to_date_usd"].to_numpy(float), r["estimated_return_usd"].to_numpy(float)
    users = r["users"].to_numpy(float)
    mult = np.where(ret > 0, est / np.where(ret > 0, ret, 1.0),
                    np.nan)
    mod_ret = j["modelled_return_usd"].to_numpy(float)
    per_user = np.divide(est, users, out=np.zeros(len(users)), where=users > 0)
    by_value = np.isfinite(mult) & (mod_ret > 0)
    mod_est = np.where(by_value, mod_ret * np.nan_to_num(mult), j["modelled_installs"].to_numpy(float) * per_user)
    mod_est = np.maximum(mod_est, mod_ret)
    scale_m = np.divide(mod_est, mod_ret, out=np.ones(len(mod_ret)), where=mod_ret > 0)
    skan_lo = (mod_ret - j["modelled_lower_usd"].to_numpy(float)) * scale_m
    skan_hi = (j["modelled_upper_usd"].to_numpy(float) - mod_ret) * scale_m
    parts = pd.DataFrame({"row": idx, "network": r["network"].to_numpy(), "account_id": r["account_id"].to_numpy(),
                          "report_date": r["report_date"].to_numpy(), "inst": j["modelled_installs"].to_numpy(),
                          "ret": mod_ret, "est": mod_est, "lo2": skan_lo ** 2, "hi2": skan_hi ** 2, "scale": scale_m})
    _add(out, parts.set_index("row"), cfg)
    _add_below(out, below, parts.assign(campaign_id=r["campaign_id"].to_numpy()), cfg)
    for level, by in (("account", ["report_date", "network", "account_id"]), ("network", ["report_date", "network"])):
        g = parts.groupby(by).agg(inst=("inst", "sum"), ret=("ret", "sum"), est=("est", "sum"), lo2=("lo2", "sum"),
                                  hi2=("hi2", "sum")).reset_index()
        rows = out[out["level"] == level][by].reset_index().merge(g, on=by, how="inner")
        _add(out, rows.set_index("index")[["inst", "ret", "est", "lo2", "hi2"]], cfg)
    _unattributed(out)
    return out


def _add_below(out: pd.DataFrame, below: pd.DataFrame, camp: pd.DataFrame, cfg: ReportConfig) -> None:
    """Add the ad group and ad rows' modelled parts: ``below`` (``modelled`` rows of those levels) matched to
    the report's rows; ``camp``: the campaigns' parts (report_date, network, campaign_id, their modelled estimate ``est`` and
    the half-widths' ``scale``)."""
    if below.empty:
        return
    c = camp[["report_date", "network", "campaign_id", "est", "scale"]]
    b = below.merge(c, on=["report_date", "network", "campaign_id"], how="inner")
    for level, key in (("ad_group", ["ad_group_id"]), ("ad", ["ad_group_id", "ad_id"])):
        by = ["report_date", "network", "campaign_id", *key]
        rows = out[out["level"] == level][by].reset_index().merge(b[b["level"] == level], on=by, how="inner")
        rows = rows[(rows["modelled_installs"] > 0) | (rows["value_share"] > 0)]
        if rows.empty:
            continue
        share, ret, k = (rows[c].to_numpy(float) for c in ("value_share", "modelled_return_usd", "scale"))
        parts = pd.DataFrame({"inst": rows["modelled_installs"].to_numpy(), "ret": ret,
                              "est": share * rows["est"].to_numpy(float),
                              "lo2": ((ret - rows["modelled_lower_usd"].to_numpy(float)) * k) ** 2,
                              "hi2": ((rows["modelled_upper_usd"].to_numpy(float) - ret) * k) ** 2},
                             index=rows["index"].to_numpy())
        _add(out, parts, cfg)
        alloc = rows["allocated_share"].to_numpy(float) if "allocated_share" in rows else np.zeros(len(rows))
        some = alloc > 0.005
        if some.any():
            i = parts.index.to_numpy()[some]
            what = level.replace("_", " ")
            out.loc[i, "reason"] = [f"{why[:-1]}, {a:.0%} of it allocated by the tracked users from postbacks that "
                                    f"do not name this {what})" for why, a in zip(out.loc[i, "reason"], alloc[some])]


#: Each level's children: the rows one level below carry this many keys more.
_CHILD = {"network": "account", "account": "campaign", "campaign": "ad_group", "ad_group": "ad"}


def _unattributed(out: pd.DataFrame) -> None:
    """Per row: its modelled installs and estimate minus those of its rows one level below."""
    for parent, child in _CHILD.items():
        by = ["report_date", *LEVEL_KEYS[parent]]
        kids = out[out["level"] == child].groupby(by)[["modelled_installs", "modelled_estimated_usd"]].sum()
        rows = out[(out["level"] == parent) & ((out["modelled_installs"] > 0) | (out["modelled_estimated_usd"] > 0))]
        if rows.empty:
            continue
        k = kids.reindex(pd.MultiIndex.from_frame(rows[by])).fillna(0)
        inst = rows["modelled_installs"].to_numpy() - k["modelled_installs"].to_numpy().astype(np.int64)
        usd = rows["modelled_estimated_usd"].to_numpy(float) - k["modelled_estimated_usd"].to_numpy(float)
        tol = 1e-9 * np.maximum(rows["modelled_estimated_usd"].to_numpy(float), 1.0)
        out.loc[rows.index, "modelled_unattributed_installs"] = inst
        out.loc[rows.index, "modelled_unattributed_usd"] = np.where(np.abs(usd) < tol, 0.0, usd)


def _add(out: pd.DataFrame, parts: pd.DataFrame, cfg: ReportConfig) -> None:
    """Add modelled parts (``inst, ret, est, lo2, hi2`` indexed by report row) to those rows in place."""
    if parts.empty:
        return
    i = parts.index.to_numpy()
    est0, lo0, hi0 = (out.loc[i, c].to_numpy(float) for c in ("estimated_return_usd", "estimated_lower_usd",
                                                                "estimated_upper_usd"))
    est = est0 + parts["est"].to_numpy(float)
    k = np.divide(est, est0, out=np.ones(len(est)), where=est0 > 0)
    lo = est - np.sqrt((k * _half(est0, lo0)) ** 2 + parts["lo2"].to_numpy(float))
    hi = est + np.sqrt((k * _half(hi0, est0)) ** 2 + parts["hi2"].to_numpy(float))
    ret = out.loc[i, "return_to_date_usd"].to_numpy(float) + parts["ret"].to_numpy(float)
    out.loc[i, "users"] = out.loc[i, "users"].to_numpy() + parts["inst"].to_numpy().astype(np.int64)
    out.loc[i, "return_to_date_usd"] = ret
    out.loc[i, "estimated_return_usd"] = est
    out.loc[i, "estimated_lower_usd"] = np.maximum(lo, np.minimum(ret, est))
    out.loc[i, "estimated_upper_usd"] = hi
    out.loc[i, "modelled_installs"] = out.loc[i, "modelled_installs"].to_numpy() + parts["inst"].to_numpy().astype(np.int64)
    out.loc[i, "modelled_estimated_usd"] = out.loc[i, "modelled_estimated_usd"].to_numpy(float) + parts["est"].to_numpy(float)
    out.loc[i, "modelled_share"] = np.divide(out.loc[i, "modelled_estimated_usd"].to_numpy(float), est,
                                             out=np.zeros(len(est)), where=est > 0)
    out.loc[i, "return_basis"] = SKAN_BASIS
    cost = out.loc[i, "cost_to_date_usd"].to_numpy(float)
    has = cost > 0
    for col, num in (("roas", ret), ("estimated_roas", est), ("estimated_roas_lower", out.loc[i, "estimated_lower_usd"]),
                     ("estimated_roas_upper", out.loc[i, "estimated_upper_usd"])):
        out.loc[i, col] = np.where(has, np.asarray(num, dtype=float) / np.where(has, cost, 1.0), np.nan)
    recs, whys = [], []
    for c, d, e, lo, hi, share in zip(cost.tolist(), out.loc[i, "days_live"].tolist(),
                                      *(out.loc[i, col].tolist() for col in ("estimated_roas", "estimated_roas_lower",
                                                                            "estimated_roas_upper", "modelled_share"))):
        ok = math.isfinite(e)
        rec, why = recommend(c, int(d), e if ok else None, lo if ok else None, hi if ok else None, cfg)
        recs.append(rec)
        whys.append(f"{why} ({SKAN_BASIS}: {share:.0%} of the estimate)")
    out.loc[i, "recommendation"] = recs
    out.loc[i, "reason"] = whys
