"""The sample world's iOS privacy attribution: ATT consent, SKAN 4 postbacks and their truth.

iOS users allow tracking with probability ``att_opt_in`` (networks in ``ATT_EXEMPT_NETWORKS`` do not
need it). Every paid iOS install of a SKAN network gets postbacks as SKAdNetwork 4 sends them (a share
``skan3_share``, devices below iOS 16.1, as SKAdNetwork 3.0: one postback, a fine value or none), whose
conversion values follow the app's schema (``adperf_assets.skan.schema``), written as AppsFlyer's SKAN
raw postback export and, for Google Ads, as GAQL rows with the SKAdNetwork segments; ``truth/skan``
holds the true installs and expected revenue per campaign, source identifier and install day.
All draws come from this module's own generators: the rest of the world is the same at any opt-in.
See docs/skan.md.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.sample import layout
from adperf_assets.sample.activity import Activity
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.writers import run_bounds, ts, write_csv, write_json_gz, write_parquet
from adperf_assets.skan import schema

#: The networks' SKAdNetwork ids (as registered in apps' Info.plist; recalled, unverified).
SKAN_NETWORK_ID = {"facebook": "v9wttpbfk9.skadnetwork", "google_ads": "cstr6suwn9.skadnetwork",
                   "tiktok": "238da6jt44.skadnetwork"}  # one id per network (apple_copies.AD_NETWORKS has all)
APP_ID = 1500000001  # the advertised app (its App Store id; the MMP exports say "id1500000001")
PUBLISHER_APPS = (284882215, 389801252, 544007664, 1436489148)  # source-app-id at tier 3 (made up)
FIDELITY_VIEW_SHARE = 0.15  # installs after a view-through (fidelity-type 0)
NON_WINNING_SHARE = 0.12  # installs for which another network also gets a (did-win false) postback

#: AppsFlyer ``skad_postbacks`` columns. The SKAN 4 ones are from AppsFlyer's article 11135475316113;
#: the others (``skad_*``, ``ad_network_*``, ``install_date``, ``timestamp``) only from third-party
#: warehouse schemas: unverified against a real export.
AF_SKAN_COLUMNS = [
    "timestamp", "install_date", "media_source", "app_id", "skad_version", "skad_ad_network_id",
    "skad_source_identifier", "skad_transaction_id", "skad_redownload", "skad_source_app_id",
    "skad_source_domain", "skad_fidelity_type", "skad_did_win", "skad_conversion_value",
    "skad_coarse_conversion_value", "skad_postback_sequence_index", "skad_campaign_id", "ad_network_campaign_id",
    "ad_network_campaign_name", "ad_network_adset_id", "ad_network_ad_id", "country_code",
]
#: AppsFlyer's estimate of the install from the arrival: minus these hours per postback (its docs).
AF_INSTALL_ESTIMATE_HOURS = (48 + 36, 168 + 84, 840 + 84)


def consent(cfg: WorldConfig, users: pd.DataFrame) -> np.ndarray:
    """Per user: allowed tracking (always for Android and for ATT-exempt networks)."""
    n = len(users)
    if cfg.att_opt_in >= 1.0:
        return np.ones(n, dtype=bool)
    u = np.random.default_rng([cfg.seed, 18, 1]).random(n)
    ios = (users["platform"] == "ios").to_numpy()
    exempt = users["network"].isin(schema.ATT_EXEMPT_NETWORKS).to_numpy()
    return ~ios | exempt | (u < cfg.att_opt_in)


def restricted(users: pd.DataFrame, allowed: np.ndarray, user_ix: np.ndarray, network: np.ndarray) -> np.ndarray:
    """Per MMP row (user ``user_ix``, attributed ``network``): the MMP may not show its ad (ATT denied)."""
    return ~allowed[user_ix] & (network != "organic") & ~np.isin(network, list(schema.ATT_EXEMPT_NETWORKS))


def source_identifiers(ads: pd.DataFrame) -> np.ndarray:
    """A 4-digit source identifier per ad, as the network assigns them, read from the end (a postback shows
    the last 2-4 digits, ``schema.sid_digits``): the last 2 digits for the campaign (10 + its rank in the
    network), the one before for the ad group in the campaign, the first for the ad in the ad group (1 + its
    rank mod 9: ads of a group run one after the other, so the digit is reused; never 0, which would make
    the identifier 3 digits long)."""
    camp = ads.groupby("network", sort=False)["campaign_id"].transform(
        lambda s: pd.Series(pd.factorize(s)[0], index=s.index))
    grp = ads.groupby("campaign_id", sort=False)["ad_group_id"].transform(
        lambda s: pd.Series(pd.factorize(s)[0], index=s.index))
    k = ads.groupby("ad_group_id", sort=False).cumcount()
    return np.array([f"{1 + a % 9}{g % 10}{10 + c:02d}" for c, g, a in zip(camp, grp, k)], dtype=object)


def _window_revenue(users_ix: np.ndarray, active: Activity, n_users: int):
    """Per user (rows ``users_ix``): gross revenue through the end of each window, purchases in window 0,
    whether active again on day 1-2, and per window whether active in it."""
    pos = active.buy_pos
    who, t, amt = active.user[pos], active.t[pos], active.buy_amount_usd
    rev = [np.bincount(who[t <= hi], weights=amt[t <= hi], minlength=n_users)[users_ix] for _, hi in schema.WINDOWS]
    buys = np.bincount(who[t <= schema.WINDOWS[0][1]], minlength=n_users)[users_ix]

    def opened(lo: int, hi: int) -> np.ndarray:
        on = (active.t >= lo) & (active.t <= hi)
        return np.bincount(active.user[on], minlength=n_users)[users_ix] > 0

    # the app updates its values at each launch: a later window's postback only from users who opened it
    return rev, buys, opened(1, schema.WINDOWS[0][1]), [opened(*w) for w in schema.WINDOWS]


def _tiers(net: np.ndarray, day: np.ndarray, sid4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per install: Apple's pick of (tier, digits): the tier of the identifier's last 2, 3 and 4 digits from
    their installs that day, the highest tier, then the most digits; tier 0-1 always give 2 digits."""
    tiers = []
    for k in (2, 3, 4):
        key = pd.DataFrame({"n": net, "d": day, "p": [schema.sid_digits(s, k) for s in sid4]})
        tiers.append(schema.tier(key.groupby(["n", "d", "p"])["n"].transform("size").to_numpy()))
    t2, t3, t4 = tiers
    best = np.maximum(t2, np.maximum(t3, t4))
    digits = np.where(best < 2, 2, np.where(t4 == best, 4, np.where(t3 == best, 3, 2)))
    return best, digits


def write(root: Path, cfg: WorldConfig, cal: Calendar, users: pd.DataFrame, ads: pd.DataFrame,
          active: Activity, allowed: np.ndarray) -> str:
    """Write the postback exports and ``truth/skan`` (after truth.py's ``user_value``); return a count
    line for the manifest. ``allowed``: ``consent``."""
    rng = np.random.default_rng([cfg.seed, 18, 2])
    net_all = users["network"].to_numpy()
    sel = np.flatnonzero((users["kind"].to_numpy() == 0) & (users["platform"].to_numpy() == "ios")
                         & np.isin(net_all, list(SKAN_NETWORK_ID)))
    n = len(sel)
    ad_ix = users["ad_index"].to_numpy()[sel]
    ad = ads.iloc[ad_ix].reset_index(drop=True)
    net = ad["network"].to_numpy()
    sid_of_ad = source_identifiers(ads)
    sid4 = sid_of_ad[ad_ix]
    install_t = users["install_time"].to_numpy()[sel]
    rev, buys, returned, opened = _window_revenue(sel, active, len(users))
    tier, digits = _tiers(net, cal.day_index(install_t), sid4)
    fine = schema.fine_value(rev[0], buys, returned)
    fidelity = (rng.random(n) >= FIDELITY_VIEW_SHARE).astype(int)
    # devices below iOS 16.1 send SKAdNetwork 3.0: the first window's postback only (the app's 3.0 schema is
    # the same fine value over the same days 0-2), a fine value at tier 2 and up, else none (no coarse values)
    v3 = np.random.default_rng([cfg.seed, 18, 6]).random(n) < cfg.skan3_share
    src_app = np.array(PUBLISHER_APPS)[rng.integers(0, len(PUBLISHER_APPS), n)]
    end_t = cal.day_start[-1]
    parts = []
    for w, (_, last) in enumerate(schema.WINDOWS):
        lo, hi = schema.SEND_DELAY_HOURS[w]
        arrival = install_t + (last + 1) * 86400 + (rng.uniform(lo, hi, n) * 3600).astype(np.int64)
        keep = (arrival < end_t) & (tier >= (0 if w == 0 else 1)) & (opened[w] | (w == 0)) & ~(v3 & (w > 0))
        fine_w = np.where((w == 0) & (tier >= 2), fine, -1)
        coarse_w = np.where((tier >= 1) & (fine_w < 0) & ~v3, schema.coarse_value(rev[w], w), "")
        d = np.where(w == 0, digits, 2)
        parts.append(pd.DataFrame({
            "install": np.arange(n), "seq": w, "arrival": arrival, "fine": fine_w, "coarse": coarse_w,
            "sid": [schema.sid_digits(s, k) for s, k in zip(sid4, d)], "did_win": True,
            "src_app": np.where((w == 0) & (tier >= 3), src_app, 0), "net": net, "ad": ad_ix,
        })[keep])
    # a non-winning postback (first window only, no value, 2 digits) to another network's iOS campaign
    others = np.flatnonzero(rng.random(n) < NON_WINNING_SHARE)
    ads_net = ads["network"].to_numpy()
    skan_ad = np.isin(ads_net, list(SKAN_NETWORK_ID))  # the world's SKAN networks' ads (not Apple's: AdServices)
    rivals = {k: np.flatnonzero(skan_ad & (ads_net != k)) for k in SKAN_NETWORK_ID}
    pick = rng.random(len(others))
    rival_ad = np.array([rivals[net[i]][int(p * len(rivals[net[i]]))] if len(rivals[net[i]]) else -1
                         for i, p in zip(others, pick)], dtype=np.int64)
    others, rival_ad = others[rival_ad >= 0], rival_ad[rival_ad >= 0]
    arrival = install_t[others] + 3 * 86400 + (rng.uniform(24, 48, len(others)) * 3600).astype(np.int64)
    parts.append(pd.DataFrame({
        "install": others, "seq": 0, "arrival": arrival, "fine": -1, "coarse": "",
        "sid": [schema.sid_digits(s, 2) for s in sid_of_ad[rival_ad]], "did_win": False, "src_app": 0,
        "net": ads["network"].to_numpy()[rival_ad], "ad": rival_ad,
    })[arrival < end_t])
    pb = pd.concat(parts, ignore_index=True)
    tid = np.array([f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, (2 * n, 2)).tolist()], dtype=object)
    # transaction ids per install and network, shared by its postbacks (unverified: key on id + index)
    pb["tid"] = tid[pb["install"].to_numpy() + n * ~pb["did_win"].to_numpy()]
    pb["redownload"] = False
    # redownloads: users who had the app before; their postbacks look like a new install's
    again = np.flatnonzero(rng.random(n) < cfg.reinstall_share)
    re = pb[pb["install"].isin(again) & pb["did_win"]].copy()
    re_tid = {i: f"{a:016x}{b:016x}" for i, (a, b) in zip(again.tolist(), rng.integers(0, 2**63, (len(again), 2)).tolist())}
    re["tid"] = re["install"].map(re_tid)
    re["redownload"] = True
    pb = pd.concat([pb, re], ignore_index=True).sort_values(["arrival", "tid", "seq"], kind="stable", ignore_index=True)
    pb["tid"] = [f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:32]}" for s in pb["tid"]]
    pb["fidelity"] = fidelity[pb["install"].to_numpy()]
    pb["v3"] = v3[pb["install"].to_numpy()]  # the device's version, for every network's postback of it
    n_pb = _write_appsflyer(root, cal, pb, ads)
    n_g = _write_google(root, cfg, pb, ads)
    n_c = _write_copies(root, cfg, cal, pb)
    _write_truth(root, cal, users, ads, sel, sid4, allowed)
    return f"skan_postbacks={n_pb} google_skan_rows={n_g} postback_copies={n_c}"


def _write_appsflyer(root: Path, cal: Calendar, pb: pd.DataFrame, ads: pd.DataFrame) -> int:
    from adperf_assets.sample.mmp import AF_MEDIA_SOURCE

    a = ads.iloc[pb["ad"].to_numpy()].reset_index(drop=True)
    seq = pb["seq"].to_numpy()
    v3 = pb["v3"].to_numpy()
    digits = np.where(v3, 2, pb["sid"].str.len().to_numpy())
    est = pb["arrival"].to_numpy() - np.array(AF_INSTALL_ESTIMATE_HOURS)[seq] * 3600
    # a 3.0 postback names a campaign-id (1-100) and no source identifier or sequence index
    af = pd.DataFrame({
        "timestamp": ts(pb["arrival"]), "install_date": [s[:10] for s in ts(est)],
        "media_source": [AF_MEDIA_SOURCE[x] for x in pb["net"]], "app_id": f"id{APP_ID}",
        "skad_version": np.where(v3, "3.0", "4.0"), "skad_ad_network_id": [SKAN_NETWORK_ID[x] for x in pb["net"]],
        "skad_source_identifier": np.where(v3, "", pb["sid"]), "skad_transaction_id": pb["tid"],
        "skad_redownload": np.where(pb["redownload"], "true", "false"),
        "skad_source_app_id": np.where(pb["src_app"] > 0, pb["src_app"].astype(str), ""), "skad_source_domain": "",
        "skad_fidelity_type": pb["fidelity"], "skad_did_win": np.where(pb["did_win"], "true", "false"),
        "skad_conversion_value": np.where(pb["fine"] >= 0, pb["fine"].astype(str), ""),
        "skad_coarse_conversion_value": pb["coarse"],
        "skad_postback_sequence_index": np.where(v3, "", seq.astype(str)),
        "skad_campaign_id": np.where(v3, [str(int(x) or 100) for x in pb["sid"].str[-2:]], ""),
        # the network's own mapping of the identifier's digits (campaign: 2, ad group: 3, ad: 4)
        "ad_network_campaign_id": a["campaign_id"], "ad_network_campaign_name": a["campaign_name"],
        "ad_network_adset_id": np.where(digits >= 3, a["ad_group_id"], ""),
        "ad_network_ad_id": np.where(digits >= 4, a["ad_id"], ""), "country_code": "",
    })[AF_SKAN_COLUMNS]
    day = pd.to_datetime(pb["arrival"], unit="s", utc=True).dt.strftime("%Y-%m-%d").to_numpy()
    # one file per UTC day of the world, empty (header only) on a day without postbacks
    first, last = (pd.to_datetime(x, unit="s", utc=True).date() for x in (cal.day_start[0], cal.day_start[-1] - 1))
    for d in pd.date_range(first, last, freq="D").strftime("%Y-%m-%d"):
        lo, hi = np.searchsorted(day, d, side="left"), np.searchsorted(day, d, side="right")
        write_csv(layout.appsflyer_skad_postbacks(root, date.fromisoformat(d)), af.iloc[lo:hi])
    return len(af)


def _write_google(root: Path, cfg: WorldConfig, pb: pd.DataFrame, ads: pd.DataFrame) -> int:
    """Google's winning and contributing postbacks as GAQL rows per campaign, arrival day (UTC; which date
    ``segments.date`` is for SKAN rows is unverified) and segment values."""
    g = pb[pb["net"] == "google_ads"]
    if g.empty:
        return 0
    a = ads.iloc[g["ad"].to_numpy()]
    rows = pd.DataFrame({
        "customer.id": a["account_id"].astype(np.int64).to_numpy(), "campaign.id": a["campaign_id"].astype(np.int64).to_numpy(),
        "segments.date": pd.to_datetime(g["arrival"], unit="s", utc=True).dt.strftime("%Y-%m-%d").to_numpy(),
        "segments.sk_ad_network_postback_sequence_index": g["seq"].to_numpy(),
        "segments.sk_ad_network_fine_conversion_value": g["fine"].to_numpy(),
        "segments.sk_ad_network_coarse_conversion_value": np.where(g["coarse"] == "", "NONE", g["coarse"].str.upper()),
        "segments.sk_ad_network_user_type": np.where(g["redownload"], "REINSTALLER", "NEW_INSTALLER"),
        "segments.sk_ad_network_attribution_credit": np.where(g["did_win"], "WON", "CONTRIBUTED"),
        "segments.sk_ad_network_source_app.sk_ad_network_source_app_id": np.where(g["src_app"] > 0, g["src_app"].astype(str), ""),
    })
    keys = list(rows.columns)
    agg = rows.groupby(keys, sort=True).size().rename("metrics.sk_ad_network_total_conversions").reset_index()
    # installs: the won first postbacks only (unverified how Google counts the others)
    first_won = ((agg["segments.sk_ad_network_postback_sequence_index"] == 0)
                 & (agg["segments.sk_ad_network_attribution_credit"] == "WON"))
    agg["metrics.sk_ad_network_installs"] = np.where(first_won, agg["metrics.sk_ad_network_total_conversions"], 0)
    cols = list(agg.columns)
    recs = [dict(zip(cols, r)) for r in zip(*(agg[c].tolist() for c in cols))]
    for r in recs:  # a NULL fine value: the field is absent
        if r["segments.sk_ad_network_fine_conversion_value"] < 0:
            del r["segments.sk_ad_network_fine_conversion_value"]
    cust, day = agg["customer.id"].to_numpy(), agg["segments.date"].to_numpy()
    for lo, hi in run_bounds(cust, day):
        write_json_gz(layout.google_skan_rows(root, str(cust[lo]), date.fromisoformat(day[lo])), recs[lo:hi])
    return len(recs)


#: The world's stand-in for Apple's signing key id, and the share of installs whose copies come as
#: AdAttributionKit bodies (the others as SKAN 4); the MMP export shows both alike (unverified for AAK).
COPY_KID = "adperf-sample-world/0"
AAK_SHARE = 0.2


def copy_key(cfg: WorldConfig):
    """The world's P-256 signing key, derived from its seed (the same world, the same key and bytes)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.derive_private_key(int(np.random.default_rng([cfg.seed, 18, 4]).integers(1, 2**62)), ec.SECP256R1())


def _write_copies(root: Path, cfg: WorldConfig, cal: Calendar, pb: pd.DataFrame) -> int:
    """Apple's copies of the winning postbacks, as the advertiser's receiver stores them, signed with the
    world's key (``copy_key``; its public half in ``apple_skan/keys.json``)."""
    import json

    from adperf_assets.sample.writers import write_json, write_text
    from adperf_assets.skan.apple_signatures import public_key_text, sign_jws, sign_skan

    key = copy_key(cfg)
    write_json(layout.apple_postback_keys(root), {COPY_KID: public_key_text(key)})
    won = pb[pb["did_win"]]
    aak = np.random.default_rng([cfg.seed, 18, 3]).random(int(pb["install"].max()) + 1 if len(pb) else 0) < AAK_SHARE
    # the device sends the copy itself; the MMP hears of the postback later, through the network (0-15 min)
    early = np.random.default_rng([cfg.seed, 18, 5]).integers(0, 900, len(won))
    lines = []
    for r, e in zip(won.itertuples(index=False), early):
        vals = ({"conversion-value": int(r.fine)} if r.fine >= 0 else {}) | (
            {"coarse-conversion-value": r.coarse} if r.coarse else {})
        if aak[r.install] and not r.v3:  # AdAttributionKit needs iOS 17.4
            payload = {"postback-identifier": r.tid, "ad-network-identifier": SKAN_NETWORK_ID[r.net],
                       "source-identifier": r.sid, "advertised-item-identifier": APP_ID, "did-win": True,
                       "postback-sequence-index": int(r.seq), "impression-type": "app-impression",
                       "conversion-type": "redownload" if r.redownload else "download",
                       **({"publisher-item-identifier": int(r.src_app)} if r.src_app > 0 else {})}
            body = {"jws-string": sign_jws(payload, key, COPY_KID), **vals,
                    "ad-interaction-type": "click" if r.fidelity else "view"}
        elif r.v3:
            body = sign_skan({"version": "3.0", "ad-network-id": SKAN_NETWORK_ID[r.net],
                              "campaign-id": int(r.sid[-2:]) or 100, "app-id": APP_ID, "transaction-id": r.tid,
                              "redownload": bool(r.redownload),
                              **({"source-app-id": int(r.src_app)} if r.src_app > 0 else {}),
                              "fidelity-type": int(r.fidelity), "did-win": True, **vals}, key)
        else:
            body = sign_skan({"version": "4.0", "ad-network-id": SKAN_NETWORK_ID[r.net], "source-identifier": r.sid,
                              "app-id": APP_ID, "transaction-id": r.tid, "redownload": bool(r.redownload),
                              **({"source-app-id": int(r.src_app)} if r.src_app > 0 else {}),
                              "fidelity-type": int(r.fidelity), "did-win": True,
                              "postback-sequence-index": int(r.seq), **vals}, key)
        at = pd.Timestamp(int(r.arrival - e), unit="s")
        lines.append((at.strftime("%Y-%m-%d"), json.dumps({"received_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                           "body": body}, separators=(",", ":"))))
    first, last = (pd.to_datetime(x, unit="s").date() for x in (cal.day_start[0], cal.day_start[-1] - 1))
    by_day: dict[str, list[str]] = {}
    for d, text in sorted(lines, key=lambda x: x[0]):  # stable: arrival order within a day
        by_day.setdefault(d, []).append(text)
    for d in pd.date_range(first, last, freq="D").strftime("%Y-%m-%d"):  # a file per day, empty without copies
        write_text(layout.apple_postback_copies(root, date.fromisoformat(d)), "".join(t + "\n" for t in by_day.get(d, [])))
    return len(lines)


def _write_truth(root: Path, cal: Calendar, users: pd.DataFrame, ads: pd.DataFrame, sel: np.ndarray,
                 sid4: np.ndarray, allowed: np.ndarray) -> None:
    """``truth/skan``: per install day, network, campaign and 4-digit source identifier of the paid iOS
    installs of SKAN networks: installs, those that allowed tracking, and expected LTV at 7/30/180 days."""
    value = pd.read_parquet(layout.truth(root, "user_value"), columns=[f"expected_ltv_usd_{h}" for h in (7, 30, 180)])
    ad = ads.iloc[users["ad_index"].to_numpy()[sel]].reset_index(drop=True)
    t = pd.DataFrame({
        "install_date": cal.timestamps(users["cohort_day"].to_numpy()[sel]), "network": ad["network"],
        "campaign_id": ad["campaign_id"], "source_identifier": sid4, "installs": 1,
        "consenting_installs": allowed[sel].astype(int), **{c: value[c].to_numpy()[sel] for c in value.columns},
    })
    out = t.groupby(["install_date", "network", "campaign_id", "source_identifier"], sort=True).sum().reset_index()
    write_parquet(layout.truth(root, "skan"), out)
