"""What the sample world's estimates are checked against: the files under ``truth/``.

Spend per ad and report day; per user the latent churn and purchase parameters with the expected
retention and LTV they imply; per segment the expected access-rate curve; per cohort x segment the
mean expected LTV; the realised purchases; the ad catalog; the value of each ad's users (ad_value.py). See docs/sample_world.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln

from adperf_assets.ltv.keys import HORIZONS
from adperf_assets.sample import ad_value, knobs, layout
from adperf_assets.sample.activity import WEIBULL_K
from adperf_assets.sample.app_db import Purchases
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.fx import DailyRates
from adperf_assets.sample.writers import write_parquet

TRUTH_DAYS = 366  # retention truth for t = 0..365
RETENTION_DAYS = (1, 7, 14, 30, 90, 180, 365)  # the per-user expected_retention_d<day> columns
SEGMENT = ["platform", "acquisition", "network", "is_emulator"]
VALUE_HORIZONS = (7, 14) + tuple(HORIZONS)  # the expected_ltv_usd_<h> columns of user_value and ad_value


def write_spend(root: Path, cfg: WorldConfig, cal: Calendar, rates: DailyRates, ads: pd.DataFrame,
                rows: pd.DataFrame) -> None:
    """``truth/spend``: per report day and ad (``rows``: ``ads.Delivery.rows``), converted to USD with
    the report day's rate (last published on or before)."""
    merged = rows.copy()
    merged["currency"] = [cfg.ad_accounts[i].currency for i in merged["account_index"]]
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


def _on_day(cfg: WorldConfig, users: pd.DataFrame, rows, t: np.ndarray) -> np.ndarray:
    """P(active on day t | alive) with intermittent activity, users ``rows`` x days ``t``."""
    g = knobs.active_given_alive_grid(cfg, users["activity_propensity"].to_numpy()[rows],
                                      users["cohort_day"].to_numpy()[rows], t)
    if cfg.churn_model == "weibull":
        g = g * np.where(t[None, :] == 0, 1.0, users["login_prob"].to_numpy()[rows, None])
    return g


def _intermittent(cfg: WorldConfig, users: pd.DataFrame, rows, t: np.ndarray, lp: np.ndarray):
    """Access rate and expected purchases per unit of rate on day t, users ``rows`` x days ``t``, when a user
    is active on only some alive days: a purchase needs fewer than K earlier purchases (dropout)."""
    if cfg.churn_model == "sbg":
        surv = (1.0 - users["churn_theta"].to_numpy()[rows, None]) ** t[None, :]
    else:
        surv = np.exp(-(t[None, :] / users["weibull_scale"].to_numpy()[rows, None]) ** WEIBULL_K)
    g = _on_day(cfg, users, rows, t)
    still = np.cumprod(1.0 - g * lp[:, None], axis=1)
    before = np.empty_like(still)  # still, one day later
    before[:, 0] = 1.0
    before[:, 1:] = still[:, :-1]
    del still
    access = np.multiply(surv, g, out=surv)
    return access, np.multiply(before, access, out=before)


def _segment_curve(cfg: WorldConfig, users: pd.DataFrame, g: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """A segment's expected access rate (analytic for sBG with one beta, else the mean over its users)."""
    a, b = g["alpha"].to_numpy(), g["beta"].to_numpy()
    if cfg.churn_model == "sbg" and not knobs.intermittent(cfg) and cfg.ad_quality_sd <= 0:
        return np.exp(betaln(a[0], b[0] + t) - betaln(a[0], b[0]))
    rows = g.index.to_numpy()[:20000]
    if cfg.churn_model == "weibull" and not knobs.intermittent(cfg):
        return _weibull_access(users, rows, t).mean(axis=0)
    if cfg.churn_model == "sbg":  # once per distinct (alpha, beta): a segment has at most one per ad
        ab, which = np.unique(np.stack([a[:20000], b[:20000]], axis=1), axis=0, return_inverse=True)
        au, bu = ab[:, :1], ab[:, 1:]
        curve = np.exp(betaln(au, bu + t[None, :]) - betaln(au, bu))[which.reshape(-1)]
    else:
        curve = np.exp(-(t[None, :] / users["weibull_scale"].to_numpy()[rows, None]) ** WEIBULL_K)
    if knobs.intermittent(cfg):
        curve = curve * _on_day(cfg, users, rows, t)
    return curve.mean(axis=0)


def write(root: Path, cfg: WorldConfig, cal: Calendar, users: pd.DataFrame, ads: pd.DataFrame,
          quality: pd.DataFrame, purchases: Purchases) -> None:
    """The truth about the users, segments, cohorts, purchases and ads (``quality``: ``knobs.ad_quality``)."""
    u = users
    n = len(u)
    lam = u["purchase_rate"].to_numpy()
    p = u["purchase_dropout"].to_numpy()
    mean_spend = u["mean_spend_usd"].to_numpy()
    net_share = 1.0 - cfg.refund_rate - cfg.chargeback_rate
    t = np.arange(TRUTH_DAYS)
    ltv = {h: np.empty(n) for h in VALUE_HORIZONS}
    ret = {d: np.empty(n) for d in RETENTION_DAYS}
    chunk = 50_000  # users per block of the (users x 366 days) matrices: ~150 MB each
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        if knobs.intermittent(cfg):
            access, a_t = _intermittent(cfg, u, sl, t, lam[sl] * p[sl])
        elif cfg.churn_model == "sbg":
            surv = (1.0 - u["churn_theta"].to_numpy()[sl, None]) ** t[None, :]
            access = surv
            a_t = surv * (1.0 - lam[sl, None] * p[sl, None]) ** t[None, :]
        else:
            access = _weibull_access(u, sl, t)
            q = u["login_prob"].to_numpy()[sl, None]
            decay = (1.0 - lam[sl, None] * p[sl, None]) * (1.0 - q * lam[sl, None] * p[sl, None]) ** np.maximum(t[None, :] - 1, 0)
            a_t = access * np.where(t[None, :] == 0, 1.0, decay)
        cum = np.cumsum(a_t, axis=1)
        for h in VALUE_HORIZONS:
            ltv[h][sl] = mean_spend[sl] * lam[sl] * cum[:, h - 1] * net_share
        for d in RETENTION_DAYS:
            ret[d][sl] = access[:, d]
    # per segment expected access-rate curve (population level; analytic for sBG)
    seg_rows = []
    for key, g in u.groupby(SEGMENT, sort=True):
        rec = dict(zip(SEGMENT, key))
        curve = _segment_curve(cfg, u, g, t)
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
    ad_value.write(root, u, ads, quality, {h: ltv[h] for h in VALUE_HORIZONS})
