"""The sample world's users: one per install, with its segment and its latent retention and value.

Paid users come from the installs the MMP attributes on the hour grid; organic, unspent-network
and unattributed users arrive at random within each report day. See docs/sample_world.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.sample.clock import HOUR, Calendar
from adperf_assets.sample.config import ORGANIC_COUNTRIES, UNSPENT_NETWORK_SHARE, WorldConfig

# Segment effects: multipliers on the sBG beta (retention) and on the purchase rate (value).
RET_MULT = {"ios": 1.25, "android": 1.0, "organic": 1.4, "unattributed": 1.4, "google_ads": 0.85, "unityads_int": 0.7,
            "emulator": 0.12}
VALUE_MULT = {"ios": 1.6, "android": 1.0, "organic": 1.2, "unattributed": 1.2}


def draw_users(cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, ads: pd.DataFrame,
               mmp_installs: np.ndarray, quality: pd.DataFrame) -> pd.DataFrame:
    """One row per user, in install order. ``kind``: 0 paid, 1 organic, 2 unspent network, 3 unattributed.
    ``quality`` (``knobs.ad_quality``) multiplies a paid user's retention beta and purchase rate."""
    # paid users from the MMP-attributed installs on the grid
    a_idx, h_idx = np.nonzero(mmp_installs)
    counts = mmp_installs[a_idx, h_idx]
    ad_of_user = np.repeat(a_idx, counts)
    t_paid = np.repeat(cal.hour_utc[h_idx], counts) + rng.integers(0, HOUR, counts.sum())
    paid_n = len(ad_of_user)

    # organic, unspent-network and unattributed users: Poisson per report day, uniform in the day
    def per_day(rate: float) -> np.ndarray:
        n = rng.poisson(rate, cfg.days)
        day = np.repeat(np.arange(cfg.days), n)
        span = cal.day_start[day + 1] - cal.day_start[day]
        return cal.day_start[day] + (rng.random(len(day)) * span).astype(np.int64)

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
    ios_share = np.array([a.platform_ios_share for a in cfg.ad_accounts] + [0.45])[np.where(acc_idx >= 0, acc_idx, -1)]
    platform = np.where(rng.random(n) < ios_share, "ios", "android")
    country = np.empty(n, dtype=object)
    u = rng.random(n)
    for i, acc in enumerate(cfg.ad_accounts):
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
    ad_q = (quality["campaign_quality"] * quality["ad_quality"]).to_numpy()
    user_q = np.where(kind == 0, ad_q[np.maximum(ad_ix, 0)], 1.0)
    beta *= user_q
    alpha = np.full(n, cfg.retention_alpha)
    value = np.where(platform == "ios", VALUE_MULT["ios"], 1.0)
    value *= np.where(acq == "organic", VALUE_MULT["organic"], 1.0) * np.where(acq == "unattributed", VALUE_MULT["unattributed"], 1.0)
    value *= np.where(kind == 0, ads["value_mult"].to_numpy()[np.maximum(ad_ix, 0)], 1.0)
    value *= np.where(is_emulator, 0.0, 1.0)
    value *= user_q
    return pd.DataFrame({
        "user_id": np.arange(100001, 100001 + n, dtype=np.int64),
        "install_time": install_t, "cohort_day": cal.day_index(install_t), "kind": kind, "ad_index": ad_ix,
        "acquisition": acq, "network": network, "platform": platform, "country": country,
        "is_emulator": is_emulator, "gender": gender, "alpha": alpha, "beta": beta, "value_mult": value,
        "quality": user_q,
    })
