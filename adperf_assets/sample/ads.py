"""The sample world's ads: the catalog (accounts -> campaigns -> ad groups -> ads) and their delivery.

Delivery is simulated per ad on the UTC-hour grid: impressions, clicks, the installs the MMP
attributes, the few more the network claims, and the cost in the account's currency.
See docs/sample_world.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.normalize.fx import minor_unit_digits
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import UNSPENT_NETWORK_SHARE, WorldConfig
from adperf_assets.sample.fx import DailyRates

FB_OBJECTIVE = "OUTCOME_APP_PROMOTION"
GOOGLE_CHANNEL = "MULTI_CHANNEL"
#: what each network reports as the campaign's objective (TikTok ``objective_type``, Apple's promoted object)
OBJECTIVE = {"facebook": FB_OBJECTIVE, "google_ads": GOOGLE_CHANNEL, "tiktok": "APP_PROMOTION",
             "apple_ads": "APPSTORE_APP"}
#: Apple Ads: campaigns by search intent, ad groups by match type, and the "ad" is a keyword
APPLE_CAMPAIGNS, APPLE_GROUPS = ("Brand", "Category"), ("Exact", "Broad")
APPLE_KEYWORDS = ("matcha", "matcha dating", "dating app", "meet people", "chat app", "find friends", "date night",
                  "singles near me", "video chat", "new friends")


def catalog(cfg: WorldConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One row per ad: its ids and names, its run [start_day, end_day) and its latent performance."""
    ads = []
    for acc_i, acc in enumerate(cfg.ad_accounts):
        fb, apple = acc.network == "facebook", acc.network == "apple_ads"
        objective = OBJECTIVE[acc.network]
        for c in range(2):
            cid = f"23850{acc_i}{c:02d}000000000" if fb else f"{17000000000 + acc_i * 100 + c}"
            cname = (f"{acc.name} Search {APPLE_CAMPAIGNS[c]}" if apple else
                     f"{acc.name} UA {'iOS' if c == 0 else 'Android'} {'Installs' if fb else 'App'}")
            for g in range(2):
                gid = f"23851{acc_i}{c:02d}{g:02d}0000000" if fb else f"{150000000000 + acc_i * 10000 + c * 100 + g}"
                gname = (f"{APPLE_GROUPS[g]} {acc.countries[0]}" if apple else
                         f"{'Broad' if g == 0 else 'Lookalike 1%'} {acc.countries[0]}")
                t = int(rng.integers(0, 10))
                k = 0
                while t < cfg.days:
                    life = int(rng.integers(25, 121))
                    bad = rng.random() < 0.15
                    if bad:
                        life = int(rng.integers(8, 21))
                    aid = (f"23852{acc_i}{c:02d}{g:02d}{k:03d}0000" if fb
                           else f"{700000000000 + acc_i * 1000000 + c * 10000 + g * 1000 + k}")
                    ads.append({
                        "network": acc.network, "account_id": acc.account_id, "campaign_id": cid,
                        "campaign_name": cname, "ad_group_id": gid, "ad_group_name": gname,
                        "ad_id": aid, "ad_name": (f"{APPLE_KEYWORDS[(2 * c + g + k) % len(APPLE_KEYWORDS)]}" if apple else
                                                  f"Creative {chr(65 + k % 26)}{k // 26 or ''} {acc.countries[0]}"),
                        "objective": objective,
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
    return pd.DataFrame(ads)


def action_factors(cfg: WorldConfig, ads: pd.DataFrame) -> np.ndarray:
    """ads x days: the multiple of its planned volume each ad delivers on each (account-local) day, from
    ``cfg.ad_actions`` (1 where nobody acted). An action names an ad the world does not have: an error."""
    f = np.ones((len(ads), cfg.days + 1))
    if not cfg.ad_actions:
        return f
    row_of = {a: i for i, a in enumerate(ads["ad_id"].astype(str))}
    for day, ad_id, factor in sorted(cfg.ad_actions, key=lambda a: a[0]):
        if str(ad_id) not in row_of:
            raise ValueError(f"ad_actions: ad {ad_id!r} (day {day}) is not an ad of this world")
        if not (0 <= day <= cfg.days) or factor < 0:
            raise ValueError(f"ad_actions: ({day}, {ad_id!r}, {factor}): day must be in 0..{cfg.days}, factor >= 0")
        f[row_of[str(ad_id)], day:] = factor
    return f


@dataclass(frozen=True)
class Delivery:
    mmp_installs: np.ndarray  # ads x grid hours: installs the MMP attributes to the ad
    rows: pd.DataFrame  # per ad and account-local hour: what the network reports (installs include its overclaim)


def deliver(cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, rates: DailyRates,
            ads: pd.DataFrame) -> Delivery:
    """Run the ads on the UTC-hour grid and bill them in the account currency."""
    n_ads = len(ads)
    paid_per_day = cfg.installs_per_day * (1 - cfg.organic_share - cfg.unattributed_share) * (1 - UNSPENT_NETWORK_SHARE)
    # account-local day/hour of every grid hour, per account
    hour_idx = pd.to_datetime(cal.hour_utc, unit="s", utc=True)
    local = []
    for acc in cfg.ad_accounts:
        loc = hour_idx.tz_convert(acc.timezone)
        local.append((np.asarray(loc.date), np.asarray(loc.hour)))
    report_day_of_hour = cal.day_index(cal.hour_utc)
    acted = action_factors(cfg, ads)
    # active mask: an ad runs from local midnight of its start day to local midnight of its end day
    mu = np.zeros((n_ads, cal.n_hours))
    for acc_i, acc in enumerate(cfg.ad_accounts):
        ldate, lhour = local[acc_i]
        local_day_index = np.array([(d - cfg.start).days for d in ldate])
        diurnal = 0.6 + 0.8 * np.sin(np.pi * np.clip(lhour - 6, 0, 18) / 18) ** 2
        rows = np.flatnonzero(ads["account_index"].to_numpy() == acc_i)
        active = (local_day_index[None, :] >= ads["start_day"].to_numpy()[rows, None]) & (
            local_day_index[None, :] < ads["end_day"].to_numpy()[rows, None])
        w = active * ads["weight"].to_numpy()[rows, None]
        tot = w.sum(axis=0)
        share = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
        mu[rows] = share * paid_per_day * acc.paid_share / 24.0 * diurnal[None, :] / diurnal.mean()
        if cfg.ad_actions:  # budgets are per ad: pausing one does not move its volume to the others
            mu[rows] *= acted[rows][:, np.clip(local_day_index, 0, cfg.days)]
    ctr = ads["ctr"].to_numpy()[:, None]
    cvr = ads["cvr"].to_numpy()[:, None]
    impressions = rng.poisson(mu / (ctr * cvr))
    clicks = rng.binomial(impressions, np.broadcast_to(ctr, impressions.shape))
    installs = rng.binomial(clicks, np.broadcast_to(cvr, clicks.shape))
    overclaim = rng.poisson(mu * cfg.network_overclaim)
    cpm_usd = ads["cpi_usd"].to_numpy()[:, None] * ctr * cvr * 1000.0
    cost_usd = impressions * cpm_usd / 1000.0 * rng.lognormal(0, 0.05, impressions.shape)
    a_idx, h_idx = np.nonzero(impressions)
    acc_of_ad = ads["account_index"].to_numpy()[a_idx]
    # bill in the account currency at the rate of the account-local day
    local_date = np.empty(len(a_idx), dtype=object)
    local_hour = np.empty(len(a_idx), dtype=np.int64)
    cost_local = np.empty(len(a_idx))
    for acc_i, acc in enumerate(cfg.ad_accounts):
        sel = acc_of_ad == acc_i
        ldate, lhour = local[acc_i]
        local_date[sel] = ldate[h_idx[sel]]
        local_hour[sel] = lhour[h_idx[sel]]
        offs = np.array([rates.offset(d) for d in ldate])[h_idx[sel]]
        cost_local[sel] = cost_usd[a_idx[sel], h_idx[sel]] * rates.per_usd(acc.currency, offs)
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
    decimals = np.array([minor_unit_digits(cfg.ad_accounts[i].currency) for i in merged["account_index"]])
    merged["cost_local"] = np.round(merged["cost_local"].to_numpy() * 10.0**decimals) / 10.0**decimals
    return Delivery(mmp_installs=installs, rows=merged)
