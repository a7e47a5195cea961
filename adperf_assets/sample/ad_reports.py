"""The ad networks' files of the sample world: Facebook Graph API insights and Google Ads GAQL rows.

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
    fb_accounts, g_customers = [], []
    for acc in cfg.accounts:
        if acc.network == "facebook":
            fb_accounts.append({"id": f"act_{acc.account_id}", "account_id": acc.account_id, "name": acc.name,
                                "currency": acc.currency, "timezone_name": acc.timezone})
        else:
            g_customers.append({"customer.id": int(acc.account_id), "customer.descriptive_name": acc.name,
                                "customer.currency_code": acc.currency, "customer.time_zone": acc.timezone})
    write_json(layout.facebook_accounts(root), fb_accounts)
    write_json(layout.google_customers(root), g_customers)
    rows = rows.sort_values(["account_index", "local_date", "local_hour", "ad_index"], kind="stable", ignore_index=True)
    ad = ads.iloc[rows["ad_index"].to_numpy()].reset_index(drop=True)
    acc_of = rows["account_index"].to_numpy()
    acc_field = lambda f: np.array([getattr(cfg.accounts[i], f) for i in range(len(cfg.accounts))], dtype=object)[acc_of]
    ldate = np.array([d.isoformat() for d in rows["local_date"]], dtype=object)
    hour = rows["local_hour"].to_numpy()
    is_fb = (ad["network"] == "facebook").to_numpy()
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
    })[~is_fb]
    fb_records = _records(fb)
    for rec, k in zip(fb_records, fb_installs.tolist()):
        if k:
            rec["actions"] = [{"action_type": "mobile_app_install", "value": str(k)}]
    # rows are sorted by account and local day: write one file per run of equal keys
    for recs, sel in ((fb_records, is_fb), (_records(g), ~is_fb)):
        acc_s, day_s = acc_of[sel], ldate[sel]
        for lo, hi in run_bounds(acc_s, day_s):
            acc = cfg.accounts[acc_s[lo]]
            d = date.fromisoformat(day_s[lo])
            p = (layout.facebook_insights(root, acc.account_id, d) if acc.network == "facebook"
                 else layout.google_rows(root, acc.account_id, d))
            write_json_gz(p, recs[lo:hi])


def _records(df: pd.DataFrame) -> list[dict]:
    cols = list(df.columns)
    return [dict(zip(cols, r)) for r in zip(*(df[c].tolist() for c in cols))]
