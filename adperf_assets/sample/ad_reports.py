"""The ad networks' files of the sample world: Facebook Graph API insights, Google Ads GAQL rows, TikTok report
rows and Apple Ads keyword-day rows.

Each account's delivery is written as the network reports it, one gzipped JSON file per
account-local day, with each day's final numbers (``revisions.py`` makes the earlier pulls).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.sample import layout
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.writers import run_bounds, write_json, write_json_gz


def write(root: Path, cfg: WorldConfig, ads: pd.DataFrame, rows: pd.DataFrame) -> None:
    """The account lists and the hourly rows (``rows``: ``ads.Delivery.rows``)."""
    fb_accounts, g_customers, tt_advertisers, apple_accounts = [], [], [], []
    for acc in cfg.ad_accounts:
        if acc.network == "facebook":
            fb_accounts.append({"id": f"act_{acc.account_id}", "account_id": acc.account_id, "name": acc.name,
                                "currency": acc.currency, "timezone_name": acc.timezone})
        elif acc.network == "tiktok":
            tt_advertisers.append({"advertiser_id": acc.account_id, "name": acc.name, "currency": acc.currency,
                                   "timezone": acc.timezone})
        elif acc.network == "apple_ads":
            apple_accounts.append({"id": acc.account_id, "name": acc.name, "currency": acc.currency,
                                   "timezone": acc.timezone})
        else:
            g_customers.append({"customer.id": int(acc.account_id), "customer.descriptive_name": acc.name,
                                "customer.currency_code": acc.currency, "customer.time_zone": acc.timezone})
    write_json(layout.facebook_accounts(root), fb_accounts)
    write_json(layout.google_customers(root), g_customers)
    if tt_advertisers:  # a world without them has no such files (as before these networks)
        write_json(layout.tiktok_advertisers(root), tt_advertisers)
    if apple_accounts:
        write_json(layout.apple_ads_accounts(root), apple_accounts)
    rows = rows.sort_values(["account_index", "local_date", "local_hour", "ad_index"], kind="stable", ignore_index=True)
    ad = ads.iloc[rows["ad_index"].to_numpy()].reset_index(drop=True)
    acc_of = rows["account_index"].to_numpy()
    acc_field = lambda f: np.array([getattr(cfg.ad_accounts[i], f) for i in range(len(cfg.ad_accounts))], dtype=object)[acc_of]
    ldate = np.array([d.isoformat() for d in rows["local_date"]], dtype=object)
    hour = rows["local_hour"].to_numpy()
    is_fb = (ad["network"] == "facebook").to_numpy()
    is_g = (ad["network"] == "google_ads").to_numpy()
    # Facebook: Graph API insights rows (all numbers as strings; actions only when non-zero)
    fb = pd.DataFrame({
        "account_id": acc_field("account_id"), "account_name": acc_field("name"),
        "account_currency": acc_field("currency"), "objective": ad["objective"], "campaign_id": ad["campaign_id"],
        "campaign_name": ad["campaign_name"], "adset_id": ad["ad_group_id"], "adset_name": ad["ad_group_name"],
        "ad_id": ad["ad_id"], "ad_name": ad["ad_name"], "spend": rows["cost_local"].map("{:.2f}".format),
        "impressions": rows["impressions"].astype(str), "clicks": rows["clicks"].astype(str),
        "hourly_stats_aggregated_by_advertiser_time_zone": [f"{h:02d}:00:00 - {h:02d}:59:59" for h in hour],
        "date_start": ldate, "date_stop": ldate,
    })[is_fb]
    fb_installs = rows["installs"].to_numpy()[is_fb]
    g = pd.DataFrame({
        "customer.id": acc_field("account_id").astype(np.int64), "customer.descriptive_name": acc_field("name"),
        "customer.currency_code": acc_field("currency"), "customer.time_zone": acc_field("timezone"),
        "campaign.id": ad["campaign_id"].astype(np.int64), "campaign.name": ad["campaign_name"],
        "campaign.advertising_channel_type": ad["objective"],
        "ad_group.id": ad["ad_group_id"].astype(np.int64), "ad_group.name": ad["ad_group_name"],
        "ad_group_ad.ad.id": ad["ad_id"].astype(np.int64), "ad_group_ad.ad.name": ad["ad_name"],
        "segments.date": ldate, "segments.hour": hour,
        "metrics.cost_micros": np.round(rows["cost_local"].to_numpy() * 1_000_000).astype(np.int64),
        "metrics.impressions": rows["impressions"], "metrics.clicks": rows["clicks"],
        "metrics.conversions": rows["installs"].astype(float),
    })[is_g]
    fb_records = _records(fb)
    for rec, k in zip(fb_records, fb_installs.tolist()):
        if k:
            rec["actions"] = [{"action_type": "mobile_app_install", "value": str(k)}]
    # rows are sorted by account and local day: write one file per run of equal keys
    for recs, sel in ((fb_records, is_fb), (_records(g), is_g)):
        acc_s, day_s = acc_of[sel], ldate[sel]
        for lo, hi in run_bounds(acc_s, day_s):
            acc = cfg.ad_accounts[acc_s[lo]]
            d = date.fromisoformat(day_s[lo])
            p = (layout.facebook_insights(root, acc.account_id, d) if acc.network == "facebook"
                 else layout.google_rows(root, acc.account_id, d))
            write_json_gz(p, recs[lo:hi])
    is_tt = (ad["network"] == "tiktok").to_numpy()
    if is_tt.any():
        _write_tiktok(root, cfg, ad[is_tt], rows[is_tt], acc_of[is_tt], ldate[is_tt], hour[is_tt])
    is_apple = (ad["network"] == "apple_ads").to_numpy()
    if is_apple.any():
        _write_apple(root, cfg, ad[is_apple], rows[is_apple], acc_of[is_apple], ldate[is_apple])


def _write_tiktok(root: Path, cfg: WorldConfig, ad: pd.DataFrame, rows: pd.DataFrame, acc_of: np.ndarray,
                  ldate: np.ndarray, hour: np.ndarray) -> None:
    """``report/integrated/get`` rows by ad and advertiser-local hour (metrics as strings), a file per day."""
    recs = [{"dimensions": {"ad_id": a, "stat_time_hour": f"{d} {h:02d}:00:00"},
             "metrics": {"campaign_id": c, "campaign_name": cn, "adgroup_id": g, "adgroup_name": gn, "ad_name": an,
                         "objective_type": o, "spend": f"{cost:.2f}", "impressions": str(i), "clicks": str(k),
                         "app_install": str(n)}}
            for a, d, h, c, cn, g, gn, an, o, cost, i, k, n in zip(
                ad["ad_id"], ldate, hour.tolist(), ad["campaign_id"], ad["campaign_name"], ad["ad_group_id"],
                ad["ad_group_name"], ad["ad_name"], ad["objective"], rows["cost_local"].tolist(),
                rows["impressions"].tolist(), rows["clicks"].tolist(), rows["installs"].tolist())]
    for lo, hi in run_bounds(acc_of, ldate):
        acc = cfg.ad_accounts[acc_of[lo]]
        write_json_gz(layout.tiktok_report(root, acc.account_id, date.fromisoformat(ldate[lo])), recs[lo:hi])


def _write_apple(root: Path, cfg: WorldConfig, ad: pd.DataFrame, rows: pd.DataFrame, acc_of: np.ndarray,
                 ldate: np.ndarray) -> None:
    """Keyword-day rows (``defs.spend.apple_ads.ROW_FIELDS``): Apple reports days, not hours."""
    daily = pd.DataFrame({"acc": acc_of, "date": ldate, "ad_id": ad["ad_id"].to_numpy(),
                          "impressions": rows["impressions"].to_numpy(), "taps": rows["clicks"].to_numpy(),
                          "installs": rows["installs"].to_numpy(), "cost": rows["cost_local"].to_numpy()})
    daily = (daily.groupby(["acc", "date", "ad_id"], sort=True)
             .agg(impressions=("impressions", "sum"), taps=("taps", "sum"), installs=("installs", "sum"),
                  cost=("cost", "sum")).reset_index())
    meta = ad.drop_duplicates("ad_id").set_index("ad_id")
    recs = []
    for acc_i, d, a, imp, taps, inst, cost in daily.itertuples(index=False):
        acc, m = cfg.ad_accounts[acc_i], meta.loc[a]
        recs.append({"adAccountId": acc.account_id, "campaignId": m["campaign_id"], "campaignName": m["campaign_name"],
                     "objective": m["objective"], "adGroupId": m["ad_group_id"], "adGroupName": m["ad_group_name"],
                     "keywordId": a, "keyword": m["ad_name"], "matchType": m["ad_group_name"].split()[0].upper(),
                     "date": d, "impressions": int(imp), "taps": int(taps), "totalInstalls": int(inst),
                     "localSpend": {"amount": f"{cost:.2f}", "currency": acc.currency}})
    accs, days = daily["acc"].to_numpy(), daily["date"].to_numpy()
    for lo, hi in run_bounds(accs, days):
        acc = cfg.ad_accounts[accs[lo]]
        write_json_gz(layout.apple_ads_report(root, acc.account_id, date.fromisoformat(days[lo])), recs[lo:hi])


def _records(df: pd.DataFrame) -> list[dict]:
    cols = list(df.columns)
    return [dict(zip(cols, r)) for r in zip(*(df[c].tolist() for c in cols))]
