"""The sample world's MMP exports: AppsFlyer raw install reports and the same installs as an Adjust CSV.

Every user but the unattributed has an install row; a share reinstall later,
organic or re-attributed to an ad running then. One file per UTC day. See docs/sample_world.md.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from adperf_assets.sample import layout, skan
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.writers import ts, write_csv

AF_MEDIA_SOURCE = {"facebook": "Facebook Ads", "google_ads": "googleadwords_int", "unityads_int": "unityads_int",
                   "tiktok": "bytedanceglobal_int", "apple_ads": "Apple Search Ads", "restricted": "restricted"}
ADJUST_NETWORK = {"facebook": "Facebook Installs", "google_ads": "Google Ads UAC", "unityads_int": "Unity Ads",
                  "tiktok": "TikTok for Business", "apple_ads": "Apple Search Ads", "restricted": "Organic"}
AF_CHANNEL = {"facebook": "Facebook", "google_ads": "ACI_Youtube", "unityads_int": "", "organic": "", "tiktok": "",
              "apple_ads": "", "restricted": ""}


def _installs(cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, users: pd.DataFrame,
              ads: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The installs and reinstalls by time: user row, time, ad (-1: none), user kind; and the reinstall count."""
    attributed = (users["kind"] != 3).to_numpy()
    base = users[attributed].reset_index(drop=True)
    inst = pd.DataFrame({"user_ix": np.flatnonzero(attributed), "time": base["install_time"].to_numpy(),
                         "ad_index": base["ad_index"].to_numpy(), "kind": base["kind"].to_numpy(),
                         "reinstall": False})
    # reinstalls: later, same user, organic or re-attributed to an ad running then
    rsel = np.flatnonzero(rng.random(len(base)) < cfg.reinstall_share)
    rtime = base["install_time"].to_numpy()[rsel] + rng.integers(3, 60, len(rsel)) * 86400 + rng.integers(0, 86400, len(rsel))
    ok = rtime < cal.day_start[-1]
    rsel, rtime = rsel[ok], rtime[ok]
    rday = cal.day_index(rtime)
    re_ad = np.full(len(rsel), -1)
    to_ad = rng.random(len(rsel)) < 0.5
    sd, ed = ads["start_day"].to_numpy(), ads["end_day"].to_numpy()
    # Apple Ads only reaches iOS users: an Android reinstall is never re-attributed to it
    ios_only = (ads["network"] == "apple_ads").to_numpy()
    android = (base["platform"].to_numpy()[rsel] != "ios")
    for i in np.flatnonzero(to_ad):
        live = np.flatnonzero((sd <= rday[i]) & (ed > rday[i]) & ~(ios_only & android[i]))
        if len(live):
            re_ad[i] = live[rng.integers(0, len(live))]
    rein = pd.DataFrame({"user_ix": np.flatnonzero(attributed)[rsel], "time": rtime, "ad_index": re_ad,
                         "kind": np.where(re_ad >= 0, 0, 1), "reinstall": True})
    allr = pd.concat([inst, rein], ignore_index=True).sort_values(["time", "user_ix"], kind="stable").reset_index(drop=True)
    return allr, len(rein)


def write(root: Path, cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, users: pd.DataFrame,
          ads: pd.DataFrame, allowed: np.ndarray | None = None) -> str:
    """Write both exports; return a count line for the manifest. ``allowed`` (``skan.consent``): per
    user, allowed tracking; the others' paid installs show no ad (AppsFlyer: media source "restricted",
    Adjust: "Organic"; docs/skan.md)."""
    u = users
    allr, n_reinstalls = _installs(cfg, rng, cal, users, ads)
    m = len(allr)
    uix = allr["user_ix"].to_numpy()
    platform = u["platform"].to_numpy()[uix]
    hexs = [f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, (m, 2)).tolist()]
    uuid = [f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:32]}" for s in hexs]
    af_id = [f"{int(t) * 1000 + int(x) % 1000}-{int(x) % 10**7:07d}" for t, x in zip(allr["time"], rng.integers(0, 2**31, m))]
    ad = ads.reindex(allr["ad_index"].to_numpy()).reset_index(drop=True)  # NaN rows for non-ad installs
    kind = allr["kind"].to_numpy()
    is_unity = kind == 2
    net = np.where(allr["ad_index"].to_numpy() >= 0, ad["network"].fillna("").to_numpy(), np.where(is_unity, "unityads_int", "organic"))
    hidden = np.zeros(m, dtype=bool) if allowed is None else skan.restricted(users, allowed, uix, net)
    if hidden.any():
        ad.loc[hidden, :] = np.nan
        is_unity = is_unity & ~hidden
        net = np.where(hidden, "restricted", net)
    unity_c = np.where(is_unity, "uac_matcha_global", "")
    when = allr["time"].to_numpy()
    touch = when - rng.integers(60, 2 * 86400, m)
    no_touch = (net == "organic") | hidden
    af = pd.DataFrame({
        "Attributed Touch Type": np.where(no_touch, "", np.where(rng.random(m) < 0.9, "click", "impression")),
        "Attributed Touch Time": np.where(no_touch, "", ts(touch)),
        "Install Time": ts(when), "Event Time": ts(when), "Event Name": "install", "Partner": "",
        "Media Source": [AF_MEDIA_SOURCE.get(x, "organic") for x in net],
        "Channel": [AF_CHANNEL[x] for x in net],
        "Campaign": np.where(is_unity, "Matcha Global", ad["campaign_name"].fillna("").to_numpy()),
        "Campaign ID": np.where(is_unity, unity_c, ad["campaign_id"].fillna("").to_numpy()),
        "Adset": ad["ad_group_name"].fillna("").to_numpy(), "Adset ID": ad["ad_group_id"].fillna("").to_numpy(),
        "Ad": ad["ad_name"].fillna("").to_numpy(), "Ad ID": ad["ad_id"].fillna("").to_numpy(),
        "Country Code": u["country"].to_numpy()[uix],
        "AppsFlyer ID": af_id,
        "Advertising ID": np.where(platform == "android", uuid, ""),
        "IDFA": np.where((platform == "ios") & ~hidden, uuid, ""), "IDFV": "",
        "Customer User ID": u["user_id"].to_numpy()[uix].astype(str),
        "Platform": platform, "Device Type": np.where(platform == "ios", "iPhone", "Android"),
        "OS Version": np.where(platform == "ios", "17.4", "14"), "App Version": "4.12.0",
        "App ID": np.where(platform == "ios", "id1500000001", "com.matcha.app"),
        "Is Retargeting": "false", "Is Primary Attribution": "true",
        "Is Reinstall": np.where(allr["reinstall"].to_numpy(), "true", "false"),
    })
    day = pd.to_datetime(when, unit="s", utc=True).strftime("%Y-%m-%d")
    organic = net == "organic"
    for report, mask in (("installs_report", ~organic), ("organic_installs_report", organic)):
        _write_days(af[mask], day[mask], lambda d: layout.appsflyer_report(root, report, d))
    del af  # the AppsFlyer files are written; free them before the Adjust frame

    # Adjust: same installs, its own vocabulary; ids inside "Name (id)" labels
    def label(name: pd.Series, ident: pd.Series) -> np.ndarray:
        return np.where(ident.fillna("") != "", name.fillna("") + " (" + ident.fillna("") + ")", "")

    adj_net = [ADJUST_NETWORK.get(x, "Organic") for x in net]
    camp = np.where(is_unity, "Matcha Global (" + unity_c + ")", label(ad["campaign_name"], ad["campaign_id"]))
    grp = label(ad["ad_group_name"], ad["ad_group_id"])
    cre = label(ad["ad_name"], ad["ad_id"])
    tracker_name = [n if n == "Organic" else f"{n}::{c}::{g}::{r}" for n, c, g, r in zip(adj_net, camp, grp, cre)]
    trk = [np.base_repr(x, 36).lower().rjust(6, "0") for x in rng.integers(0, 36**6, m).tolist()]
    adj = pd.DataFrame({
        "activity_kind": np.where(allr["reinstall"].to_numpy(), "reinstall", "install"),
        "installed_at": when, "created_at": when,
        "adid": hexs,
        "idfa": np.where(platform == "ios", uuid, ""), "gps_adid": np.where(platform == "android", uuid, ""),
        "user_id": u["user_id"].to_numpy()[uix].astype(str),
        "tracker": trk,
        "tracker_name": tracker_name, "network_name": adj_net, "campaign_name": camp, "adgroup_name": grp,
        "creative_name": cre, "country": np.char.lower(u["country"].to_numpy()[uix].astype(str)),
        "os_name": platform, "device_type": "phone", "app_version": "4.12.0",
    })
    _write_days(adj, day, lambda d: layout.adjust_installs(root, d))
    return f"mmp_rows={m} reinstalls={n_reinstalls}"


def _write_days(rows: pd.DataFrame, day: pd.Index, path_of: Callable[[date], Path]) -> None:
    """One CSV per UTC day (``day``: ISO date of each row)."""
    for key, part in rows.groupby(day, sort=True):
        write_csv(path_of(date.fromisoformat(key)), part)
