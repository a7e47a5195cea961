"""A seeded synthetic matching app whose true retention and LTV are known.

``generate_world(path, ...)`` writes, in each real system's own format, everything the graph
reads (see ``layout.py``), plus ``truth/`` to check the estimates against. The process:

1. Ads run in accounts with their own time zone and currency. On a UTC-hour grid each active
   ad gets impressions, clicks and (MMP-attributed) installs; the network reports a few more
   installs than the MMP attributes; cost is billed in the account currency.
2. Every install is a user with a segment (platform, acquisition, network, emulator). Users are
   active on consecutive days until they churn: in the default world churn is a Beta-distributed
   daily probability per segment (the shifted-beta-geometric model is exact); ``churn_model=
   "weibull"`` makes lifetimes Weibull and logins patchy, so no fitted model is exact.
3. While active, users buy with a BG/NBD-like process (daily rate, dropout after each purchase)
   and Gamma-Gamma-like amounts; a share is refunded or charged back days later.
4. Active users make match requests; paid requests happen on purchase days.

All randomness comes from one ``numpy`` generator in a fixed order, so the same arguments give
byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adperf_assets.ltv.keys import HORIZONS
from adperf_assets.sample import layout
from adperf_assets.sample.config import (
    COUNTRY_CURRENCY,
    ORGANIC_COUNTRIES,
    UNSPENT_NETWORK_SHARE,
    WorldConfig,
    preset,
)
from adperf_assets.sample.fx import effective_rates, published, simulate_rates, to_ecb_csv

FORMAT_VERSION = 1
HOUR = 3600
TRUTH_DAYS = 366  # retention truth for t = 0..365

# MMP / network naming
AF_MEDIA_SOURCE = {"facebook": "Facebook Ads", "google_ads": "googleadwords_int", "unityads_int": "unityads_int"}
ADJUST_NETWORK = {"facebook": "Facebook Installs", "google_ads": "Google Ads UAC", "unityads_int": "Unity Ads"}
FB_OBJECTIVE = "OUTCOME_APP_PROMOTION"
GOOGLE_CHANNEL = "MULTI_CHANNEL"

# Segment effects: multipliers on the sBG beta (retention) and on the purchase rate (value).
RET_MULT = {"ios": 1.25, "android": 1.0, "organic": 1.4, "unattributed": 1.4, "google_ads": 0.85, "unityads_int": 0.7,
            "emulator": 0.12}
VALUE_MULT = {"ios": 1.6, "android": 1.0, "organic": 1.2, "unattributed": 1.2}


def generate_world(
    path: str | os.PathLike,
    seed: int = 7,
    start: date | str | None = None,
    days: int | None = None,
    installs_per_day: int | None = None,
    churn_model: str | None = None,
    preset_name: str = "default",
    **overrides,
) -> Path:
    """Write a complete sample world into ``path`` (replaced if it exists) and return it."""
    kw = dict(overrides)
    kw["seed"] = seed
    if start is not None:
        kw["start"] = date.fromisoformat(start) if isinstance(start, str) else start
    if days is not None:
        kw["days"] = days
    if installs_per_day is not None:
        kw["installs_per_day"] = installs_per_day
    if churn_model is not None:
        kw["churn_model"] = churn_model
    cfg = preset(preset_name, **kw)
    if cfg.churn_model not in ("sbg", "weibull"):
        raise ValueError(f"churn_model must be 'sbg' or 'weibull', got {cfg.churn_model!r}")
    if cfg.days < 14:
        raise ValueError(f"a world needs at least 14 days, got days={cfg.days}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".world-", dir=path.parent))
    try:
        _World(cfg, tmp).build()
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_manifest(path: str | os.PathLike) -> dict:
    return json.loads(layout.manifest(Path(path)).read_text())


def world_config(path: str | os.PathLike) -> WorldConfig:
    """The ``WorldConfig`` a world was generated with (from its manifest)."""
    from adperf_assets.sample.config import Account

    m = load_manifest(path)["config"]
    m = dict(m)
    m["start"] = date.fromisoformat(m["start"])
    m["accounts"] = tuple(Account(**{**a, "countries": tuple(a["countries"])}) for a in m["accounts"])
    m["revision_factors"] = tuple(m["revision_factors"])
    return replace(WorldConfig(), **m)


# --------------------------------------------------------------------------------------------


class _World:
    def __init__(self, cfg: WorldConfig, root: Path):
        self.cfg = cfg
        self.root = root
        self.rng = np.random.default_rng(cfg.seed)
        self.log: list[str] = []

    # -- calendar --------------------------------------------------------------------------
    def _calendar(self) -> None:
        cfg = self.cfg
        tz = cfg.report_timezone
        starts = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.days + 1, freq="D").tz_localize(tz)
        self.day_start = (starts.tz_convert("UTC").asi8 // 10**9).astype(np.int64)  # days+1 edges
        self.t0 = int(self.day_start[0])
        self.n_hours = int((self.day_start[-1] - self.t0) // HOUR)
        self.hour_utc = self.t0 + HOUR * np.arange(self.n_hours, dtype=np.int64)
        self.report_days = [cfg.start + timedelta(days=i) for i in range(cfg.days)]

    def _report_day_index(self, epoch_s: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.day_start, epoch_s, side="right") - 1

    # -- FX --------------------------------------------------------------------------------
    def _fx(self) -> None:
        cfg = self.cfg
        first = cfg.start - timedelta(days=20)
        last = cfg.end + timedelta(days=1)
        rates = simulate_rates(self.rng, first, last)
        pub = published(rates)
        (self.root / "fx").mkdir(parents=True)
        layout.fx_file(self.root).write_text(to_ecb_csv(pub))
        eff = effective_rates(pub, first, last)
        eff["EUR"] = 1.0
        self.fx_first = first
        self.fx = eff  # units per EUR, per calendar day (last published on or before)

    def _per_usd(self, currency: str, days: np.ndarray) -> np.ndarray:
        """Units of ``currency`` per USD for calendar days given as day offsets from fx_first."""
        col = self.fx[currency].to_numpy() / self.fx["USD"].to_numpy()
        return col[days]

    def _fx_day_offset(self, d: date) -> int:
        return (d - self.fx_first).days

    # -- ads -------------------------------------------------------------------------------
    def _catalog(self) -> None:
        cfg, rng = self.cfg, self.rng
        ads = []
        campaigns = []
        for acc_i, acc in enumerate(cfg.accounts):
            for c in range(2):
                cid = (f"23850{acc_i}{c:02d}000000000" if acc.network == "facebook" else f"{17000000000 + acc_i * 100 + c}")
                cname = f"{acc.name} UA {'iOS' if c == 0 else 'Android'} {'Installs' if acc.network == 'facebook' else 'App'}"
                campaigns.append({"network": acc.network, "account_id": acc.account_id, "campaign_id": cid,
                                  "campaign_name": cname,
                                  "objective": FB_OBJECTIVE if acc.network == "facebook" else GOOGLE_CHANNEL})
                for g in range(2):
                    gid = (f"23851{acc_i}{c:02d}{g:02d}0000000" if acc.network == "facebook"
                           else f"{150000000000 + acc_i * 10000 + c * 100 + g}")
                    gname = f"{'Broad' if g == 0 else 'Lookalike 1%'} {acc.countries[0]}"
                    t = int(rng.integers(0, 10))
                    k = 0
                    while t < cfg.days:
                        life = int(rng.integers(25, 121))
                        bad = rng.random() < 0.15
                        if bad:
                            life = int(rng.integers(8, 21))
                        aid = (f"23852{acc_i}{c:02d}{g:02d}{k:03d}0000" if acc.network == "facebook"
                               else f"{700000000000 + acc_i * 1000000 + c * 10000 + g * 1000 + k}")
                        ads.append({
                            "network": acc.network, "account_id": acc.account_id, "campaign_id": cid,
                            "campaign_name": cname, "ad_group_id": gid, "ad_group_name": gname,
                            "ad_id": aid, "ad_name": f"Creative {chr(65 + k % 26)}{k // 26 or ''} {acc.countries[0]}",
                            "objective": FB_OBJECTIVE if acc.network == "facebook" else GOOGLE_CHANNEL,
                            "account_index": acc_i,
                            "start_day": t, "end_day": min(cfg.days, t + life),
                            "weight": float(rng.lognormal(0, 0.5)),
                            "cpi_usd": float(rng.lognormal(np.log(2.6), 0.3)),
                            "ctr": float(rng.uniform(0.008, 0.02)),
                            "cvr": float(rng.uniform(0.12, 0.3)),
                            "value_mult": float(rng.lognormal(0, 0.45)),
                            "fraud_mult": 6.0 if rng.random() < 0.08 else 1.0,
                        })
                        k += 1
                        t += int(rng.integers(18, 45))
        self.ads = pd.DataFrame(ads)
        self.campaigns = campaigns

    # -- spend on the UTC-hour grid ----------------------------------------------------------
    def _spend(self) -> None:
        cfg, rng = self.cfg, self.rng
        ads = self.ads
        n_ads = len(ads)
        paid_per_day = cfg.installs_per_day * (1 - cfg.organic_share - cfg.unattributed_share) * (1 - UNSPENT_NETWORK_SHARE)
        # account-local day/hour of every grid hour, per account
        hour_idx = pd.to_datetime(self.hour_utc, unit="s", utc=True)
        self.local = []
        for acc in cfg.accounts:
            loc = hour_idx.tz_convert(acc.timezone)
            self.local.append((np.asarray(loc.date), np.asarray(loc.hour)))
        report_day_of_hour = self._report_day_index(self.hour_utc)
        # active mask: an ad runs from local midnight of its start day to local midnight of its end day
        mu = np.zeros((n_ads, self.n_hours))
        for acc_i, acc in enumerate(cfg.accounts):
            ldate, lhour = self.local[acc_i]
            local_day_index = np.array([(d - cfg.start).days for d in ldate])
            diurnal = 0.6 + 0.8 * np.sin(np.pi * np.clip(lhour - 6, 0, 18) / 18) ** 2
            rows = np.flatnonzero(ads["account_index"].to_numpy() == acc_i)
            active = (local_day_index[None, :] >= ads["start_day"].to_numpy()[rows, None]) & (
                local_day_index[None, :] < ads["end_day"].to_numpy()[rows, None])
            w = active * ads["weight"].to_numpy()[rows, None]
            tot = w.sum(axis=0)
            share = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
            mu[rows] = share * paid_per_day * acc.paid_share / 24.0 * diurnal[None, :] / diurnal.mean()
        ctr = ads["ctr"].to_numpy()[:, None]
        cvr = ads["cvr"].to_numpy()[:, None]
        impressions = rng.poisson(mu / (ctr * cvr))
        clicks = rng.binomial(impressions, np.broadcast_to(ctr, impressions.shape))
        installs = rng.binomial(clicks, np.broadcast_to(cvr, clicks.shape))
        overclaim = rng.poisson(mu * cfg.network_overclaim)
        cpm_usd = ads["cpi_usd"].to_numpy()[:, None] * ctr * cvr * 1000.0
        cost_usd = impressions * cpm_usd / 1000.0 * rng.lognormal(0, 0.05, impressions.shape)
        self.mmp_installs = installs  # ads x hours
        a_idx, h_idx = np.nonzero(impressions)
        acc_of_ad = ads["account_index"].to_numpy()[a_idx]
        # bill in the account currency at the rate of the account-local day
        local_date = np.empty(len(a_idx), dtype=object)
        local_hour = np.empty(len(a_idx), dtype=np.int64)
        cost_local = np.empty(len(a_idx))
        for acc_i, acc in enumerate(cfg.accounts):
            sel = acc_of_ad == acc_i
            ldate, lhour = self.local[acc_i]
            local_date[sel] = ldate[h_idx[sel]]
            local_hour[sel] = lhour[h_idx[sel]]
            offs = np.array([self._fx_day_offset(d) for d in ldate])[h_idx[sel]]
            cost_local[sel] = cost_usd[a_idx[sel], h_idx[sel]] * self._per_usd(acc.currency, offs)
        hourly = pd.DataFrame({
            "ad_index": a_idx, "account_index": acc_of_ad, "local_date": local_date, "local_hour": local_hour,
            "utc_hour": h_idx, "report_day": report_day_of_hour[h_idx],
            "impressions": impressions[a_idx, h_idx], "clicks": clicks[a_idx, h_idx],
            "installs": installs[a_idx, h_idx] + overclaim[a_idx, h_idx], "cost_local": cost_local,
        })
        # The APIs report one row per account-local hour: a repeated (fall-back) hour arrives merged and is
        # dated at its first UTC instant.
        merged = (hourly.groupby(["ad_index", "local_date", "local_hour"], sort=True)
                  .agg(account_index=("account_index", "first"), utc_hour=("utc_hour", "min"),
                       report_day=("report_day", "min"), impressions=("impressions", "sum"),
                       clicks=("clicks", "sum"), installs=("installs", "sum"), cost_local=("cost_local", "sum"))
                  .reset_index())
        decimals = np.array([0 if cfg.accounts[i].currency in ("KRW", "JPY") else 2 for i in merged["account_index"]])
        merged["cost_local"] = np.round(merged["cost_local"].to_numpy() * 10.0**decimals) / 10.0**decimals
        self.spend_rows = merged

    def _write_spend(self) -> None:
        cfg = self.cfg
        ads = self.ads
        rows = self.spend_rows
        fb_accounts, g_customers = [], []
        for acc in cfg.accounts:
            if acc.network == "facebook":
                fb_accounts.append({"id": f"act_{acc.account_id}", "account_id": acc.account_id, "name": acc.name,
                                    "currency": acc.currency, "timezone_name": acc.timezone})
            else:
                g_customers.append({"customer.id": int(acc.account_id), "customer.descriptive_name": acc.name,
                                    "customer.currency_code": acc.currency, "customer.time_zone": acc.timezone})
        _write_json(layout.facebook_accounts(self.root), fb_accounts)
        _write_json(layout.google_customers(self.root), g_customers)
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
        def records(df: pd.DataFrame) -> list[dict]:
            cols = list(df.columns)
            return [dict(zip(cols, r)) for r in zip(*(df[c].tolist() for c in cols))]

        fb_records = records(fb)
        for rec, k in zip(fb_records, fb_installs.tolist()):
            if k:
                rec["actions"] = [{"action_type": "mobile_app_install", "value": str(k)}]
        # rows are sorted by account and local day: write one file per run of equal keys
        for recs, sel in ((fb_records, is_fb), (records(g), ~is_fb)):
            acc_s, day_s = acc_of[sel], ldate[sel]
            change = np.flatnonzero((acc_s[1:] != acc_s[:-1]) | (day_s[1:] != day_s[:-1])) + 1
            bounds = np.concatenate([[0], change, [len(acc_s)]])
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                acc = cfg.accounts[acc_s[lo]]
                d = date.fromisoformat(day_s[lo])
                p = (layout.facebook_insights(self.root, acc.account_id, d) if acc.network == "facebook"
                     else layout.google_rows(self.root, acc.account_id, d))
                _write_json_gz(p, recs[lo:hi])

        # truth: per report day and ad, converted with the report day's rate (last published on or before)
        merged = rows.copy()
        merged["currency"] = [cfg.accounts[i].currency for i in merged["account_index"]]
        offs = np.array([self._fx_day_offset(cfg.start) + d for d in merged["report_day"]])
        per_usd = np.empty(len(merged))
        for cur in merged["currency"].unique():
            sel = (merged["currency"] == cur).to_numpy()
            per_usd[sel] = self._per_usd(cur, offs[sel])
        merged["cost_usd"] = merged["cost_local"] / per_usd
        merged = merged[(merged["report_day"] >= 0) & (merged["report_day"] < cfg.days)]
        t = (merged.groupby(["report_day", "ad_index"], sort=True)
             .agg(cost_local=("cost_local", "sum"), cost_usd=("cost_usd", "sum"), impressions=("impressions", "sum"),
                  clicks=("clicks", "sum"), installs=("installs", "sum"), currency=("currency", "first"))
             .reset_index())
        a = ads.iloc[t["ad_index"].to_numpy()].reset_index(drop=True)
        truth = pd.DataFrame({
            "report_date": pd.to_datetime([self.report_days[d] for d in t["report_day"]]),
            "network": a["network"], "account_id": a["account_id"], "campaign_id": a["campaign_id"],
            "ad_group_id": a["ad_group_id"], "ad_id": a["ad_id"], "account_currency": t["currency"],
            "cost_local": t["cost_local"], "cost_usd": t["cost_usd"], "impressions": t["impressions"],
            "clicks": t["clicks"], "network_installs": t["installs"],
        })
        _write_parquet(layout.truth(self.root, "spend"), truth)

    # -- users -------------------------------------------------------------------------------
    def _users(self) -> None:
        cfg, rng = self.cfg, self.rng
        ads = self.ads
        # paid users from the MMP-attributed installs on the grid
        a_idx, h_idx = np.nonzero(self.mmp_installs)
        counts = self.mmp_installs[a_idx, h_idx]
        ad_of_user = np.repeat(a_idx, counts)
        t_paid = np.repeat(self.hour_utc[h_idx], counts) + rng.integers(0, HOUR, counts.sum())
        paid_n = len(ad_of_user)
        # organic, unspent-network and unattributed users: Poisson per report day, uniform in the day
        def per_day(rate: float) -> np.ndarray:
            n = rng.poisson(rate, cfg.days)
            day = np.repeat(np.arange(cfg.days), n)
            span = self.day_start[day + 1] - self.day_start[day]
            return self.day_start[day] + (rng.random(len(day)) * span).astype(np.int64)

        t_org = per_day(cfg.installs_per_day * cfg.organic_share)
        t_uns = per_day(cfg.installs_per_day * (1 - cfg.organic_share - cfg.unattributed_share) * UNSPENT_NETWORK_SHARE)
        t_una = per_day(cfg.installs_per_day * cfg.unattributed_share)
        install_t = np.concatenate([t_paid, t_org, t_uns, t_una])
        kind = np.concatenate([np.full(paid_n, 0), np.full(len(t_org), 1), np.full(len(t_uns), 2), np.full(len(t_una), 3)])
        ad_ix = np.concatenate([ad_of_user, np.full(len(t_org) + len(t_uns) + len(t_una), -1)])
        order = np.lexsort((ad_ix, kind, install_t))
        install_t, kind, ad_ix = install_t[order], kind[order], ad_ix[order]
        n = len(install_t)
        acq = np.array(["paid", "organic", "paid", "unattributed"])[kind]
        network = np.where(kind == 0, ads["network"].to_numpy()[np.maximum(ad_ix, 0)],
                           np.array(["", "organic", "unityads_int", "unattributed"])[kind])
        acc_idx = np.where(kind == 0, ads["account_index"].to_numpy()[np.maximum(ad_ix, 0)], -1)
        ios_share = np.array([a.platform_ios_share for a in cfg.accounts] + [0.45])[np.where(acc_idx >= 0, acc_idx, -1)]
        platform = np.where(rng.random(n) < ios_share, "ios", "android")
        country = np.empty(n, dtype=object)
        u = rng.random(n)
        for i, acc in enumerate(cfg.accounts):
            sel = acc_idx == i
            country[sel] = np.array(acc.countries)[(u[sel] * len(acc.countries)).astype(int)]
        sel = acc_idx < 0
        country[sel] = np.array(ORGANIC_COUNTRIES)[(u[sel] * len(ORGANIC_COUNTRIES)).astype(int)]
        fraud = np.where(kind == 0, ads["fraud_mult"].to_numpy()[np.maximum(ad_ix, 0)], np.where(kind == 2, 3.0, 0.5))
        is_emulator = (platform == "android") & (rng.random(n) < np.minimum(0.6, 2 * cfg.emulator_share * fraud))
        gender = np.where(rng.random(n) < 0.45, "f", "m")
        # segment retention parameters
        beta = cfg.retention_beta * np.ones(n)
        beta *= np.where(platform == "ios", RET_MULT["ios"], 1.0)
        beta *= np.where(acq == "organic", RET_MULT["organic"], 1.0) * np.where(acq == "unattributed", RET_MULT["unattributed"], 1.0)
        beta *= np.where(network == "google_ads", RET_MULT["google_ads"], 1.0) * np.where(network == "unityads_int", RET_MULT["unityads_int"], 1.0)
        beta *= np.where(is_emulator, RET_MULT["emulator"], 1.0)
        alpha = np.full(n, cfg.retention_alpha)
        value = np.where(platform == "ios", VALUE_MULT["ios"], 1.0)
        value *= np.where(acq == "organic", VALUE_MULT["organic"], 1.0) * np.where(acq == "unattributed", VALUE_MULT["unattributed"], 1.0)
        value *= np.where(kind == 0, ads["value_mult"].to_numpy()[np.maximum(ad_ix, 0)], 1.0)
        value *= np.where(is_emulator, 0.0, 1.0)
        cohort_day = self._report_day_index(install_t)
        self.users = pd.DataFrame({
            "user_id": np.arange(100001, 100001 + n, dtype=np.int64),
            "install_time": install_t, "cohort_day": cohort_day, "kind": kind, "ad_index": ad_ix,
            "acquisition": acq, "network": network, "platform": platform, "country": country,
            "is_emulator": is_emulator, "gender": gender, "alpha": alpha, "beta": beta, "value_mult": value,
        })

    # -- activity ------------------------------------------------------------------------------
    def _activity(self) -> None:
        cfg, rng = self.cfg, self.rng
        u = self.users
        n = len(u)
        remaining = cfg.days - u["cohort_day"].to_numpy()  # days the world can still observe (incl. day 0)
        if cfg.churn_model == "sbg":
            theta = rng.beta(u["alpha"].to_numpy(), u["beta"].to_numpy())
            theta = np.clip(theta, 1e-9, 1.0)
            lifetime = rng.geometric(theta)  # active days 0..L-1
            login_p = np.ones(n)
            self.users["churn_theta"] = theta
            self.users["weibull_scale"] = np.nan
        else:
            k = 0.55
            eta = np.exp(rng.normal(np.log(3.0 * u["beta"].to_numpy() / cfg.retention_beta), 0.8))
            x = eta * (-np.log(rng.random(n))) ** (1.0 / k)
            lifetime = np.floor(np.minimum(x, 1e7)).astype(np.int64) + 1
            login_p = rng.beta(6.0, 1.5, n)
            self.users["churn_theta"] = np.nan
            self.users["weibull_scale"] = eta
            self.weibull_k = k
        self.users["login_prob"] = login_p
        self.users["lifetime_days"] = lifetime
        obs = np.minimum(lifetime, remaining)
        uidx = np.repeat(np.arange(n), obs)
        start = np.cumsum(obs) - obs
        t = np.arange(len(uidx)) - np.repeat(start, obs)
        if cfg.churn_model == "weibull":
            keep = (t == 0) | (rng.random(len(uidx)) < login_p[uidx])
            uidx, t = uidx[keep], t[keep]
        self.act_user = uidx
        self.act_t = t
        self.act_day = u["cohort_day"].to_numpy()[uidx] + t
        # purchases: candidate purchase per active day at the user's rate; at most K purchases (dropout)
        rate = rng.gamma(cfg.purchase_r, cfg.purchase_scale, n) * u["value_mult"].to_numpy()
        rate = np.minimum(rate, 0.9)
        dropout = rng.beta(cfg.dropout_a, cfg.dropout_b, n)
        nu = rng.gamma(cfg.spend_q, 1.0 / cfg.spend_gamma, n)
        self.users["purchase_rate"] = rate
        self.users["purchase_dropout"] = dropout
        self.users["mean_spend_usd"] = cfg.spend_p / nu
        cand = rng.random(len(uidx)) < rate[uidx]
        cs = np.cumsum(cand)
        first_pos = np.searchsorted(uidx, np.arange(n))
        before = np.concatenate([[0], cs])[first_pos]
        rank = cs - before[uidx]  # 1-based rank of this candidate within the user
        max_k = rng.geometric(np.clip(dropout, 1e-9, 1.0))
        bought = cand & (rank <= max_k[uidx])
        self.buy_pos = np.flatnonzero(bought)
        self.buy_amount_usd = np.round(rng.gamma(cfg.spend_p, 1.0 / nu[uidx[self.buy_pos]]), 2)
        self.buy_amount_usd = np.maximum(self.buy_amount_usd, 0.99)

    def _times_in_active_day(self, pos: np.ndarray) -> np.ndarray:
        """A random instant in the active day ``pos`` (after the install on day 0)."""
        day = self.act_day[pos]
        lo = self.day_start[day].copy()
        hi = self.day_start[day + 1]
        first = self.act_t[pos] == 0
        lo[first] = self.users["install_time"].to_numpy()[self.act_user[pos][first]] + 30
        lo = np.minimum(lo, hi - 1)
        return lo + (self.rng.random(len(pos)) * (hi - lo)).astype(np.int64)

    # -- app database ---------------------------------------------------------------------------
    def _app_db(self) -> None:
        cfg, rng = self.cfg, self.rng
        u = self.users
        n = len(u)
        ios = (u["platform"] == "ios").to_numpy()
        emu = u["is_emulator"].to_numpy()
        android_models = np.array(["SM-S911B", "SM-A546E", "Pixel 8", "Redmi Note 12", "CPH2449"])
        android_makers = np.array(["samsung", "samsung", "Google", "Xiaomi", "OPPO"])
        ios_models = np.array(["iPhone15,2", "iPhone14,5", "iPhone16,1", "iPhone13,2"])
        pick = rng.integers(0, 5, n)
        maker = np.where(ios, "Apple", android_makers[pick])
        model = np.where(ios, ios_models[pick % 4], android_models[pick])
        emu_kind = rng.random(n) < 0.5
        maker = np.where(emu, np.where(emu_kind, "Google", "Genymotion"), maker)
        model = np.where(emu, np.where(emu_kind, "sdk_gphone64_x86_64", "Custom Phone"), model)
        signup = u["install_time"].to_numpy() + rng.integers(5, 300, n)
        db = layout.app_db(self.root)
        con = sqlite3.connect(db)
        con.executescript(APP_SCHEMA)
        con.executemany(
            "INSERT INTO users (id, created_at, platform, country, gender, device_manufacturer, device_model, app_version)"
            " VALUES (?,?,?,?,?,?,?,?)",
            zip(u["user_id"].tolist(), _ts(signup), u["platform"].tolist(), u["country"].tolist(),
                u["gender"].tolist(), maker.tolist(), model.tolist(), ["4.12.0"] * n),
        )
        # payments in the user's currency at the payment day's rate, plus refunds/chargebacks later
        pos = self.buy_pos
        user_ix = self.act_user[pos]
        when = self._times_in_active_day(pos)
        cur = np.array([COUNTRY_CURRENCY[c] for c in u["country"].to_numpy()[user_ix]])
        cal_day = np.array([self._fx_day_offset(self.report_days[d]) for d in self.act_day[pos]])
        local = np.empty(len(pos))
        for c in np.unique(cur):
            sel = cur == c
            dec = 0 if c in ("KRW", "JPY") else 2
            local[sel] = np.round(self.buy_amount_usd[sel] * self._per_usd(c, cal_day[sel]), dec)
        # the account exists before its first purchase (a purchase within seconds of the install would
        # otherwise precede the sign-up, and across midnight land before the user's install day)
        first_buy = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_buy, user_ix, when.astype(np.int64))
        early = np.flatnonzero(first_buy < signup)
        if len(early):
            signup = signup.copy()
            signup[early] = first_buy[early]
            con.executemany("UPDATE users SET created_at = ? WHERE id = ?",
                            zip(_ts(signup[early]), u["user_id"].to_numpy()[early].tolist()))
        order = np.lexsort((user_ix, when))
        pos, user_ix, when, cur, local = pos[order], user_ix[order], when[order], cur[order], local[order]
        amount_usd = self.buy_amount_usd[order]
        self.buy_pos, self.buy_amount_usd = pos, amount_usd
        m = len(pos)
        pay_id = np.arange(1, m + 1)
        store = np.where(ios[user_ix], "app_store", "google_play")
        product = np.array(["gems_small", "gems_medium", "gems_large", "vip_week"])[np.digitize(amount_usd, [5, 15, 40])]
        r = rng.random(m)
        refund = r < cfg.refund_rate
        charge = (r >= cfg.refund_rate) & (r < cfg.refund_rate + cfg.chargeback_rate)
        delay = np.where(refund, rng.integers(1, 21, m), rng.integers(20, 61, m)) * 86400 + rng.integers(0, 86400, m)
        back_at = when + delay
        arrived = (refund | charge) & (back_at < self.day_start[-1])
        bk = np.flatnonzero(arrived)
        rows = list(zip(pay_id.tolist(), u["user_id"].to_numpy()[user_ix].tolist(), ["purchase"] * m, [None] * m,
                        store.tolist(), [f"{s[:2].upper()}-{i:09d}" for s, i in zip(store, pay_id)],
                        product.tolist(), local.tolist(), cur.tolist(), _ts(when)))
        rid = m + 1
        for i in bk[np.argsort(back_at[bk], kind="stable")]:
            rows.append((rid, int(u["user_id"].iat[user_ix[i]]), "refund" if refund[i] else "chargeback", int(pay_id[i]),
                         store[i], f"R{store[i][:1].upper()}-{rid:09d}", product[i], -float(local[i]), cur[i],
                         _ts(np.array([back_at[i]]))[0]))
            rid += 1
        con.executemany(
            "INSERT INTO payments (id, user_id, kind, refers_to_payment_id, store, store_transaction_id, product_id,"
            " amount, currency, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        con.commit()
        con.execute("VACUUM")
        con.close()
        self.users["is_payer"] = np.bincount(user_ix, minlength=n) > 0
        self.purchase_user = user_ix
        self.purchase_day = self.act_day[pos]
        self.purchase_refunded = (refund | charge)
        self.log.append(f"payments={m} refunds_arrived={len(bk)}")

    # -- logs ---------------------------------------------------------------------------------
    # The logs are the world's biggest part (~40M events for 1M users): they are built as Arrow
    # columns from integer codes, never as Python string objects, and written per UTC day. The
    # schema (with its pandas metadata) is that of the equivalent pandas frame, so readers get the
    # same dtypes (nullable Int64 ids, object strings, UTC timestamps).
    LOGIN_TEMPLATE = {"event_time": pd.to_datetime([0], unit="s", utc=True), "user_id": np.array([1], dtype=np.int64),
                      "platform": np.array(["ios"], dtype=object), "app_version": np.array(["4.12.0"], dtype=object)}
    MATCH_EVENTS = np.array(["match_ended", "match_requested", "match_started"], dtype=object)  # sorted: codes 0, 1, 2
    GENDERS = np.array(["any", "f", "m"], dtype=object)  # codes 0, 1, 2 (a user's gender is f or m)

    @staticmethod
    def _match_template() -> pd.DataFrame:
        return pd.DataFrame({
            "event_time": pd.to_datetime([0, 1], unit="s", utc=True), "event": np.array(["match_requested"] * 2, dtype=object),
            "request_id": np.array([1, 2], dtype=np.int64), "match_id": pd.array([1, None], dtype="Int64"),
            "user_id": np.array([1, 2], dtype=np.int64), "partner_id": pd.array([1, None], dtype="Int64"),
            "wanted_gender": np.array(["any", np.nan], dtype=object), "is_paid": np.array([True, False]),
            "partner_gender": np.array(["f", np.nan], dtype=object)})

    @staticmethod
    def _codes_to_strings(values: np.ndarray, codes: np.ndarray) -> pa.Array:
        """Arrow strings ``values[codes]``; a negative code is NULL."""
        idx = pa.array(codes.astype(np.int32), mask=codes < 0)
        return pc.take(pa.array(values.tolist(), pa.string()), idx)

    def _events(self) -> None:
        cfg, rng = self.cfg, self.rng
        u = self.users
        n_act = len(self.act_user)
        uid = u["user_id"].to_numpy()
        # logins: 1 + Poisson(0.3) per active day
        k = 1 + rng.poisson(0.3, n_act)
        lpos = np.repeat(np.arange(n_act), k)
        ltime = self._times_in_active_day(lpos)
        luser = self.act_user[lpos]
        del lpos, k
        order = np.lexsort((uid[luser], ltime))  # by time, then user id (stable)
        ltime, luser = ltime[order], luser[order]
        del order
        is_ios = (u["platform"].to_numpy() == "ios")[luser]
        n_logins = len(ltime)
        schema = pa.Table.from_pandas(pd.DataFrame(self.LOGIN_TEMPLATE), preserve_index=False).schema
        logins = pa.Table.from_arrays([
            pa.array(ltime * 10**9, pa.timestamp("ns", tz="UTC")),
            pa.array(uid[luser]),
            self._codes_to_strings(np.array(["android", "ios"]), is_ios.astype(np.int8)),
            pc.take(pa.array(["4.12.0"]), pa.array(np.zeros(n_logins, dtype=np.int32))),
        ], schema=schema)
        ltime_ns = ltime * 10**9
        del ltime, luser, is_ios
        self._write_days(ltime_ns, lambda a, b: logins.slice(a, b - a), "logins")
        del logins, ltime_ns
        # match requests; paid on purchase days
        buy_day = np.zeros(n_act, dtype=bool)
        buy_day[self.buy_pos] = True
        q = rng.poisson(cfg.matches_per_active_day, n_act)
        rpos = np.repeat(np.arange(n_act), q)
        rtime = self._times_in_active_day(rpos)
        ruser = self.act_user[rpos]
        rday = self.act_day[rpos]
        gender = np.where(u["gender"].to_numpy() == "f", 1, 2).astype(np.int8)  # GENDERS codes
        opposite = np.where(gender[ruser] == 1, 2, 1).astype(np.int8)
        is_paid = buy_day[rpos]
        wanted = np.where(is_paid | (rng.random(len(rpos)) < 0.5), opposite, 0).astype(np.int8)
        del opposite, buy_day, q
        # partner: a random user active the same report day (two tries to meet a paid filter)
        order = np.argsort(self.act_day, kind="stable")
        day_users = self.act_user[order]
        first = np.searchsorted(self.act_day[order], np.arange(cfg.days + 1))
        cnt = first[1:] - first[:-1]
        del order

        def draw() -> np.ndarray:
            c = cnt[rday]
            j = first[rday] + (rng.random(len(rday)) * c).astype(np.int64)
            p = day_users[np.minimum(j, len(day_users) - 1)]
            same = p == ruser
            j2 = first[rday] + (j - first[rday] + 1) % np.maximum(c, 1)
            p = np.where(same, day_users[np.minimum(j2, len(day_users) - 1)], p)
            return np.where((c <= 1), -1, p)

        p1, p2 = draw(), draw()
        fits1 = (wanted == 0) | ((p1 >= 0) & (gender[np.maximum(p1, 0)] == wanted))
        partner = np.where(is_paid & ~fits1, p2, p1)
        del p1, p2, fits1, rpos, rday
        matched = (partner >= 0) & (rng.random(len(rtime)) > 0.08)
        is_wanted = matched & ((wanted == 0) | (gender[np.maximum(partner, 0)] == wanted))
        dur = np.minimum(rng.lognormal(4.3, 1.0, len(rtime)) * np.where(is_wanted, 1.6, 1.0), 7200.0)
        o = np.lexsort((ruser, rtime))
        rtime, ruser, partner, matched, dur, wanted, is_paid = (
            rtime[o], ruser[o], partner[o], matched[o], dur[o], wanted[o], is_paid[o])
        del o, is_wanted
        n_req = len(rtime)
        rid = np.arange(1, n_req + 1, dtype=np.int64)
        started = rtime + rng.integers(1, 20, n_req)
        ended = started + np.round(dur).astype(np.int64)
        del dur
        m = np.flatnonzero(matched)
        nm = len(m)
        pid = np.where(matched, uid[np.maximum(partner, 0)], -1)
        partner_g = np.where(matched, gender[np.maximum(partner, 0)], -1).astype(np.int8)
        del partner, matched
        # one row per event: the requests, the starts and the ends of the matched requests, in the
        # order the log is read: (time, request id, event name). Row i of that stacking is event
        # kind ``kinds[i]`` of request ``req[i]``; columns are gathered one UTC day at a time.
        event_time = np.concatenate([rtime, started[m], ended[m]])
        req = np.concatenate([np.arange(n_req), m, m])
        event = np.repeat(np.array([1, 2, 0], dtype=np.int8), [n_req, nm, nm])  # MATCH_EVENTS codes
        order = np.lexsort((event, req, event_time))  # request ids are 1 + req
        req, event, event_time = req[order], event[order], event_time[order]
        del order, rtime, started, ended, rid
        schema = pa.Table.from_pandas(self._match_template(), preserve_index=False).schema

        def rows(a: int, b: int) -> pa.Table:
            r, e = req[a:b], event[a:b]
            is_req, is_start = e == 1, e == 2
            match_id = np.where(is_req, -1, r + 1)
            partner_id = np.where(is_req, -1, pid[r])
            return pa.Table.from_arrays([
                pa.array(event_time[a:b] * 10**9, pa.timestamp("ns", tz="UTC")),
                self._codes_to_strings(self.MATCH_EVENTS, e),
                pa.array(r + 1),
                pa.array(match_id, mask=match_id < 0),
                pa.array(uid[ruser[r]]),
                pa.array(partner_id, mask=partner_id < 0),
                self._codes_to_strings(self.GENDERS, np.where(is_req, wanted[r], -1)),
                pa.array(is_paid[r]),
                self._codes_to_strings(self.GENDERS, np.where(is_start, partner_g[r], -1)),
            ], schema=schema)

        self._write_days(event_time * 10**9, rows, "matches")
        self.log.append(f"logins={n_logins} match_events={len(req)}")

    def _write_days(self, event_ns: np.ndarray, rows, kind: str) -> None:
        """One Parquet file per UTC day of the sorted ``event_ns``; ``rows(a, b)`` gives rows [a, b)."""
        d = layout.events_dir(self.root, kind)
        d.mkdir(parents=True, exist_ok=True)
        day = event_ns // (86400 * 10**9)
        edges = np.flatnonzero(np.diff(day)) + 1
        bounds = np.concatenate([[0], edges, [len(day)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            name = str(np.datetime64(int(day[a]), "D"))
            pq.write_table(rows(int(a), int(b)), d / f"{name}.parquet", compression="zstd")

    # -- MMP exports -----------------------------------------------------------------------------
    def _mmp(self) -> None:
        cfg, rng = self.cfg, self.rng
        u = self.users
        ads = self.ads
        attributed = (u["kind"] != 3).to_numpy()
        base = u[attributed].reset_index(drop=True)
        inst = pd.DataFrame({"user_ix": np.flatnonzero(attributed), "time": base["install_time"].to_numpy(),
                             "ad_index": base["ad_index"].to_numpy(), "kind": base["kind"].to_numpy(),
                             "reinstall": False})
        # reinstalls: later, same user, organic or re-attributed to an ad running then
        rsel = np.flatnonzero(rng.random(len(base)) < cfg.reinstall_share)
        rtime = base["install_time"].to_numpy()[rsel] + rng.integers(3, 60, len(rsel)) * 86400 + rng.integers(0, 86400, len(rsel))
        ok = rtime < self.day_start[-1]
        rsel, rtime = rsel[ok], rtime[ok]
        rday = self._report_day_index(rtime)
        re_ad = np.full(len(rsel), -1)
        to_ad = rng.random(len(rsel)) < 0.5
        sd, ed = ads["start_day"].to_numpy(), ads["end_day"].to_numpy()
        for i in np.flatnonzero(to_ad):
            live = np.flatnonzero((sd <= rday[i]) & (ed > rday[i]))
            if len(live):
                re_ad[i] = live[rng.integers(0, len(live))]
        rein = pd.DataFrame({"user_ix": np.flatnonzero(attributed)[rsel], "time": rtime, "ad_index": re_ad,
                             "kind": np.where(re_ad >= 0, 0, 1), "reinstall": True})
        allr = pd.concat([inst, rein], ignore_index=True).sort_values(["time", "user_ix"], kind="stable").reset_index(drop=True)
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
        unity_c = np.where(is_unity, "uac_matcha_global", "")
        when = allr["time"].to_numpy()
        touch = when - rng.integers(60, 2 * 86400, m)
        channel = {"facebook": "Facebook", "google_ads": "ACI_Youtube", "unityads_int": "", "organic": ""}
        af = pd.DataFrame({
            "Attributed Touch Type": np.where(net == "organic", "", np.where(rng.random(m) < 0.9, "click", "impression")),
            "Attributed Touch Time": np.where(net == "organic", "", _ts(touch)),
            "Install Time": _ts(when), "Event Time": _ts(when), "Event Name": "install", "Partner": "",
            "Media Source": [AF_MEDIA_SOURCE.get(x, "organic") for x in net],
            "Channel": [channel[x] for x in net],
            "Campaign": np.where(is_unity, "Matcha Global", ad["campaign_name"].fillna("").to_numpy()),
            "Campaign ID": np.where(is_unity, unity_c, ad["campaign_id"].fillna("").to_numpy()),
            "Adset": ad["ad_group_name"].fillna("").to_numpy(), "Adset ID": ad["ad_group_id"].fillna("").to_numpy(),
            "Ad": ad["ad_name"].fillna("").to_numpy(), "Ad ID": ad["ad_id"].fillna("").to_numpy(),
            "Country Code": u["country"].to_numpy()[uix],
            "AppsFlyer ID": af_id,
            "Advertising ID": np.where(platform == "android", uuid, ""),
            "IDFA": np.where(platform == "ios", uuid, ""), "IDFV": "",
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
            for key, part in af[mask].groupby(day[mask], sort=True):
                p = layout.appsflyer_report(self.root, report, date.fromisoformat(key))
                p.parent.mkdir(parents=True, exist_ok=True)
                part.to_csv(p, index=False, lineterminator="\n")
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
        for key, part in adj.groupby(day, sort=True):
            p = layout.adjust_installs(self.root, date.fromisoformat(key))
            p.parent.mkdir(parents=True, exist_ok=True)
            part.to_csv(p, index=False, lineterminator="\n")
        self.log.append(f"mmp_rows={m} reinstalls={len(rein)}")

    # -- truth ----------------------------------------------------------------------------------
    def _truth(self) -> None:
        cfg = self.cfg
        u = self.users
        n = len(u)
        lam = u["purchase_rate"].to_numpy()
        p = u["purchase_dropout"].to_numpy()
        mean_spend = u["mean_spend_usd"].to_numpy()
        net_share = 1.0 - cfg.refund_rate - cfg.chargeback_rate
        t = np.arange(TRUTH_DAYS)
        keys = ["platform", "acquisition", "network", "is_emulator"]
        ltv = {h: np.empty(n) for h in HORIZONS}
        ret_sel_days = (1, 7, 14, 30, 90, 180, 365)
        ret = {d: np.empty(n) for d in ret_sel_days}
        chunk = 50_000  # users per block of the (users x 366 days) matrices: ~150 MB each
        for s in range(0, n, chunk):
            sl = slice(s, min(n, s + chunk))
            if cfg.churn_model == "sbg":
                surv = (1.0 - u["churn_theta"].to_numpy()[sl, None]) ** t[None, :]
                access = surv
                a_t = surv * (1.0 - lam[sl, None] * p[sl, None]) ** t[None, :]
            else:
                surv = np.exp(-(t[None, :] / u["weibull_scale"].to_numpy()[sl, None]) ** self.weibull_k)
                q = u["login_prob"].to_numpy()[sl, None]
                access = surv * np.where(t[None, :] == 0, 1.0, q)
                decay = (1.0 - lam[sl, None] * p[sl, None]) * (1.0 - q * lam[sl, None] * p[sl, None]) ** np.maximum(t[None, :] - 1, 0)
                a_t = access * np.where(t[None, :] == 0, 1.0, decay)
            cum = np.cumsum(a_t, axis=1)
            for h in HORIZONS:
                ltv[h][sl] = mean_spend[sl] * lam[sl] * cum[:, h - 1] * net_share
            for d in ret_sel_days:
                ret[d][sl] = access[:, d]
            if s == 0:
                pass
        # per segment expected access-rate curve (population level; analytic for sBG)
        seg_rows = []
        segs = u.groupby(keys, sort=True)
        for key, g in segs:
            rec = dict(zip(keys, key))
            if cfg.churn_model == "sbg":
                a, b = g["alpha"].iat[0], g["beta"].iat[0]
                from scipy.special import betaln

                curve = np.exp(betaln(a, b + t) - betaln(a, b))
            else:
                idx = g.index.to_numpy()[:20000]
                surv = np.exp(-(t[None, :] / u["weibull_scale"].to_numpy()[idx, None]) ** self.weibull_k)
                q = u["login_prob"].to_numpy()[idx, None]
                curve = (surv * np.where(t[None, :] == 0, 1.0, q)).mean(axis=0)
            seg_rows.append(pd.DataFrame({**{k: [v] * TRUTH_DAYS for k, v in rec.items()}, "day": t,
                                          "expected_access_rate": curve}))
        _write_parquet(layout.truth(self.root, "retention_by_segment"), pd.concat(seg_rows, ignore_index=True))
        # per user
        ads = self.ads
        adv = ads.reindex(u["ad_index"].to_numpy()).reset_index(drop=True)
        cohort_date = pd.to_datetime([self.report_days[d] for d in u["cohort_day"]])
        truth_users = pd.DataFrame({
            "user_id": u["user_id"], "install_time_utc": pd.to_datetime(u["install_time"], unit="s", utc=True),
            "cohort_date": cohort_date, "acquisition": u["acquisition"], "network": u["network"],
            "account_id": adv["account_id"].fillna("").to_numpy(), "campaign_id": adv["campaign_id"].fillna("").to_numpy(),
            "ad_group_id": adv["ad_group_id"].fillna("").to_numpy(), "ad_id": adv["ad_id"].fillna("").to_numpy(),
            "platform": u["platform"], "country": u["country"], "is_emulator": u["is_emulator"],
            "churn_alpha": u["alpha"], "churn_beta": u["beta"], "churn_theta": u["churn_theta"],
            "weibull_scale": u["weibull_scale"], "login_prob": u["login_prob"], "lifetime_days": u["lifetime_days"],
            "purchase_rate": lam, "purchase_dropout": p, "mean_spend_usd": mean_spend,
            **{f"expected_retention_d{d}": ret[d] for d in ret_sel_days},
            **{f"expected_ltv_usd_{h}": ltv[h] for h in HORIZONS},
        })
        _write_parquet(layout.truth(self.root, "users"), truth_users)
        # per cohort x segment
        agg = {f"expected_retention_d{d}": "mean" for d in ret_sel_days}
        agg.update({f"expected_ltv_usd_{h}": "mean" for h in HORIZONS})
        agg["user_id"] = "count"
        cohort = (truth_users.groupby(["cohort_date"] + keys, sort=True).agg(agg)
                  .rename(columns={"user_id": "users"}).reset_index())
        _write_parquet(layout.truth(self.root, "cohort_ltv"), cohort)
        # realised purchases per user and day (net of refunds that arrived) to check estimates against
        pu = self.purchase_user
        realised = pd.DataFrame({
            "user_id": u["user_id"].to_numpy()[pu],
            "report_date": pd.to_datetime([self.report_days[d] for d in self.purchase_day]),
            "gross_usd": self.buy_amount_usd,
        })
        _write_parquet(layout.truth(self.root, "purchases"), realised)
        ads_out = ads.drop(columns=["account_index"]).copy()
        ads_out["start_date"] = pd.to_datetime([self.report_days[0] + timedelta(days=int(d)) for d in ads["start_day"]])
        ads_out["end_date"] = pd.to_datetime([self.report_days[0] + timedelta(days=int(d)) for d in ads["end_day"]])
        _write_parquet(layout.truth(self.root, "ads"), ads_out)

    # -- manifest ---------------------------------------------------------------------------------
    def _manifest(self) -> None:
        cfg = self.cfg
        m = {
            "format_version": FORMAT_VERSION,
            "config": cfg.to_json(),
            "first_day": cfg.start.isoformat(),
            "last_day": cfg.end.isoformat(),
            "report_timezone": cfg.report_timezone,
            "spend_revisions": {
                "description": "A network day pulled k days after it (k = pull day - that day, account-local) shows "
                               "factor[k-1] of its final impressions/clicks/installs/spend; k > len(factors): final.",
                "factors": list(cfg.revision_factors),
            },
            "users": int(len(self.users)),
            "ads": int(len(self.ads)),
            "counts": self.log,
        }
        _write_json(layout.manifest(self.root), m)

    def build(self) -> None:
        t0 = time.perf_counter()
        self._calendar()
        self._fx()
        self._catalog()
        self._spend()
        self._write_spend()
        self._users()
        self._activity()
        self._app_db()
        self._events()
        self._mmp()
        self._truth()
        self.log.append(f"users={len(self.users)}")
        self._manifest()
        self.elapsed = time.perf_counter() - t0


APP_SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,            -- UTC, 'YYYY-MM-DD HH:MM:SS'
    platform TEXT NOT NULL CHECK (platform IN ('ios', 'android')),
    country TEXT NOT NULL,               -- ISO 3166 alpha-2
    gender TEXT,
    device_manufacturer TEXT,
    device_model TEXT,
    app_version TEXT
);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('purchase', 'refund', 'chargeback')),
    refers_to_payment_id INTEGER REFERENCES payments(id),  -- the purchase a refund/chargeback reverses
    store TEXT NOT NULL,                 -- 'app_store' | 'google_play'
    store_transaction_id TEXT NOT NULL UNIQUE,
    product_id TEXT NOT NULL,
    amount NUMERIC NOT NULL,             -- in `currency`; negative for refunds/chargebacks
    currency TEXT NOT NULL,              -- ISO 4217
    created_at TEXT NOT NULL             -- UTC, 'YYYY-MM-DD HH:MM:SS'
);
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payments_user ON payments (user_id);
"""


# -- writers ------------------------------------------------------------------------------------


def _ts(epoch_s: np.ndarray) -> list[str]:
    return pd.to_datetime(np.asarray(epoch_s, dtype=np.int64), unit="s").strftime("%Y-%m-%d %H:%M:%S").tolist()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def _write_json_gz(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=5) as gz:
        gz.write(json.dumps(obj, separators=(",", ":")).encode())


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd")
