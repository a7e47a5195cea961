"""What the sample world's estimates are checked against: the files under ``truth/``.

Spend per ad and report day; per user the latent churn and purchase parameters with the expected
retention and LTV they imply; per segment the expected access-rate curve; per cohort x segment the
mean expected LTV; the realised purchases; the ad catalog. See docs/sample_world.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln

from adperf_assets.ltv.keys import HORIZONS
from adperf_assets.sample import layout
from adperf_assets.sample.activity import WEIBULL_K
from adperf_assets.sample.app_db import Purchases
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.fx import DailyRates
from adperf_assets.sample.writers import write_parquet

TRUTH_DAYS = 366  # retention truth for t = 0..365
RETENTION_DAYS = (1, 7, 14, 30, 90, 180, 365)  # the per-user expected_retention_d<day> columns
SEGMENT = ["platform", "acquisition", "network", "is_emulator"]


def write_spend(root: Path, cfg: WorldConfig, cal: Calendar, rates: DailyRates, ads: pd.DataFrame,
                rows: pd.DataFrame) -> None:
    """``truth/spend``: per report day and ad (``rows``: ``ads.Delivery.rows``), converted to USD with
    the report day's rate (last published on or before)."""
    merged = rows.copy()
    merged["currency"] = [cfg.accounts[i].currency for i in merged["account_index"]]
    offs = np.array([rates.offset(cfg.start) + d for d in merged["report_day"]])
    per_usd = np.empty(len(merged))
    for cur in merged["currency"].unique():
        sel = (merged["currency"] == cur).to_numpy()
        per_usd[sel] = rates.per_usd(cur, offs[sel])
    merged["cost_usd"] = merged["cost_local"] / per_usd
    merged = merged[(merged["report_day"] >= 0) & (merged["report_day"] < cfg.days)]
    t = (merged.groupby(["report_day", "ad_index"], sort=True)
         .agg(cost_local=("cost_local", "sum"), cost_usd=("cost_usd", "sum"), impressions=("impressions", "sum"),
              clicks=("clicks", "sum"), installs=("installs", "sum"), currency=("currency", "first"))
         .reset_index())
    a = ads.iloc[t["ad_index"].to_numpy()].reset_index(drop=True)
    write_parquet(layout.truth(root, "spend"), pd.DataFrame({
        "report_date": cal.timestamps(t["report_day"]),
        "network": a["network"], "account_id": a["account_id"], "campaign_id": a["campaign_id"],
        "ad_group_id": a["ad_group_id"], "ad_id": a["ad_id"], "account_currency": t["currency"],
        "cost_local": t["cost_local"], "cost_usd": t["cost_usd"], "impressions": t["impressions"],
        "clicks": t["clicks"], "network_installs": t["installs"],
    }))


def _weibull_access(users: pd.DataFrame, rows, t: np.ndarray) -> np.ndarray:
    """P(a user logs in on day t), users ``rows`` x days ``t``, in the weibull world."""
    surv = np.exp(-(t[None, :] / users["weibull_scale"].to_numpy()[rows, None]) ** WEIBULL_K)
    q = users["login_prob"].to_numpy()[rows, None]
    return surv * np.where(t[None, :] == 0, 1.0, q)


def write(root: Path, cfg: WorldConfig, cal: Calendar, users: pd.DataFrame, ads: pd.DataFrame,
          purchases: Purchases) -> None:
    """The truth about the users, segments, cohorts, purchases and ads."""
    u = users
    n = len(u)
    lam = u["purchase_rate"].to_numpy()
    p = u["purchase_dropout"].to_numpy()
    mean_spend = u["mean_spend_usd"].to_numpy()
    net_share = 1.0 - cfg.refund_rate - cfg.chargeback_rate
    t = np.arange(TRUTH_DAYS)
    ltv = {h: np.empty(n) for h in HORIZONS}
    ret = {d: np.empty(n) for d in RETENTION_DAYS}
    chunk = 50_000  # users per block of the (users x 366 days) matrices: ~150 MB each
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        if cfg.churn_model == "sbg":
            surv = (1.0 - u["churn_theta"].to_numpy()[sl, None]) ** t[None, :]
            access = surv
            a_t = surv * (1.0 - lam[sl, None] * p[sl, None]) ** t[None, :]
        else:
            access = _weibull_access(u, sl, t)
            q = u["login_prob"].to_numpy()[sl, None]
            decay = (1.0 - lam[sl, None] * p[sl, None]) * (1.0 - q * lam[sl, None] * p[sl, None]) ** np.maximum(t[None, :] - 1, 0)
            a_t = access * np.where(t[None, :] == 0, 1.0, decay)
        cum = np.cumsum(a_t, axis=1)
        for h in HORIZONS:
            ltv[h][sl] = mean_spend[sl] * lam[sl] * cum[:, h - 1] * net_share
        for d in RETENTION_DAYS:
            ret[d][sl] = access[:, d]
    # per segment expected access-rate curve (population level; analytic for sBG)
    seg_rows = []
    for key, g in u.groupby(SEGMENT, sort=True):
        rec = dict(zip(SEGMENT, key))
        if cfg.churn_model == "sbg":
            a, b = g["alpha"].iat[0], g["beta"].iat[0]
            curve = np.exp(betaln(a, b + t) - betaln(a, b))
        else:
            curve = _weibull_access(u, g.index.to_numpy()[:20000], t).mean(axis=0)
        seg_rows.append(pd.DataFrame({**{k: [v] * TRUTH_DAYS for k, v in rec.items()}, "day": t,
                                      "expected_access_rate": curve}))
    write_parquet(layout.truth(root, "retention_by_segment"), pd.concat(seg_rows, ignore_index=True))
    # per user
    adv = ads.reindex(u["ad_index"].to_numpy()).reset_index(drop=True)
    truth_users = pd.DataFrame({
        "user_id": u["user_id"], "install_time_utc": pd.to_datetime(u["install_time"], unit="s", utc=True),
        "cohort_date": cal.timestamps(u["cohort_day"]), "acquisition": u["acquisition"], "network": u["network"],
        "account_id": adv["account_id"].fillna("").to_numpy(), "campaign_id": adv["campaign_id"].fillna("").to_numpy(),
        "ad_group_id": adv["ad_group_id"].fillna("").to_numpy(), "ad_id": adv["ad_id"].fillna("").to_numpy(),
        "platform": u["platform"], "country": u["country"], "is_emulator": u["is_emulator"],
        "churn_alpha": u["alpha"], "churn_beta": u["beta"], "churn_theta": u["churn_theta"],
        "weibull_scale": u["weibull_scale"], "login_prob": u["login_prob"], "lifetime_days": u["lifetime_days"],
        "purchase_rate": lam, "purchase_dropout": p, "mean_spend_usd": mean_spend,
        **{f"expected_retention_d{d}": ret[d] for d in RETENTION_DAYS},
        **{f"expected_ltv_usd_{h}": ltv[h] for h in HORIZONS},
    })
    write_parquet(layout.truth(root, "users"), truth_users)
    # per cohort x segment
    agg = {f"expected_retention_d{d}": "mean" for d in RETENTION_DAYS}
    agg.update({f"expected_ltv_usd_{h}": "mean" for h in HORIZONS})
    agg["user_id"] = "count"
    cohort = (truth_users.groupby(["cohort_date"] + SEGMENT, sort=True).agg(agg)
              .rename(columns={"user_id": "users"}).reset_index())
    write_parquet(layout.truth(root, "cohort_ltv"), cohort)
    # realised purchases per user and day, gross (the refunds are in app.db), to check estimates against
    write_parquet(layout.truth(root, "purchases"), pd.DataFrame({
        "user_id": u["user_id"].to_numpy()[purchases.user],
        "report_date": cal.timestamps(purchases.day),
        "gross_usd": purchases.amount_usd,
    }))
    ads_out = ads.drop(columns=["account_index"]).copy()
    ads_out["start_date"] = cal.timestamps(ads["start_day"])
    ads_out["end_date"] = cal.timestamps(ads["end_day"])
    write_parquet(layout.truth(root, "ads"), ads_out)
