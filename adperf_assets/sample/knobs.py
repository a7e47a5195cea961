"""The knobs that make a sample world harder: intermittent activity, ads of different quality, whales.

Each knob draws from its own generator seeded from the world's seed, so a world with every knob at its
easy value (``config.EASY``) draws exactly what it drew before the knobs. See docs/sample_world.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.sample.config import WorldConfig

_STREAMS = {"activity": 1, "ad_quality": 2, "whales": 3}
WHALE_MIN = 20.0  # a whale's spend multiplier is at least this
WHALE_CAP = 100.0  # and at most this


def stream(cfg: WorldConfig, name: str) -> np.random.Generator:
    """The generator of one knob (independent of the world's main generator)."""
    return np.random.default_rng([cfg.seed, 16, _STREAMS[name]])


def intermittent(cfg: WorldConfig) -> bool:
    return cfg.activity_mean < 1.0


def activity_propensity(cfg: WorldConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Each user's daily activity propensity while alive, Beta with mean ``activity_mean``."""
    m, c = cfg.activity_mean, cfg.activity_concentration
    return rng.beta(m * c, (1.0 - m) * c, n)


def weekday_factor(cfg: WorldConfig, day: np.ndarray) -> np.ndarray:
    """Activity factor of report day ``day``: weekends ``1 + weekend_lift`` times weekdays, mean 1 a week."""
    week = np.where(np.arange(7) >= 5, 1.0 + cfg.weekend_lift, 1.0) / (1.0 + cfg.weekend_lift * 2.0 / 7.0)
    return week[(cfg.start.weekday() + np.asarray(day)) % 7]  # a lookup: ``day`` may have millions of entries


def active_given_alive(cfg: WorldConfig, propensity: np.ndarray, cohort_day: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(active on day ``t`` after the install | alive); 1 on the install day. Arrays broadcast."""
    p = np.minimum(1.0, propensity * weekday_factor(cfg, cohort_day + t))
    return np.where(t == 0, 1.0, p)


def active_given_alive_grid(cfg: WorldConfig, propensity: np.ndarray, cohort_day: np.ndarray,
                            t: np.ndarray) -> np.ndarray:
    """``active_given_alive`` of users (``propensity``, ``cohort_day``) x days ``t``, the same numbers without a
    users x days array of report days: the weekday factor depends on the cohort day only modulo 7."""
    by_offset = weekday_factor(cfg, np.arange(7)[:, None] + t[None, :])  # cohort day % 7 x t
    p = by_offset[cohort_day % 7]
    p *= propensity[:, None]
    np.minimum(p, 1.0, out=p)
    p[:, t == 0] = 1.0
    return p


def ad_quality(cfg: WorldConfig, ads: pd.DataFrame) -> pd.DataFrame:
    """Per ad: the log-normal (mean 1) quality multiplier of its campaign and its own; 1 when ``ad_quality_sd`` is 0."""
    n = len(ads)
    if cfg.ad_quality_sd <= 0:
        return pd.DataFrame({"campaign_quality": np.ones(n), "ad_quality": np.ones(n)})
    rng = stream(cfg, "ad_quality")
    sd = cfg.ad_quality_sd
    campaigns, camp_of_ad = np.unique(ads["campaign_id"].to_numpy(), return_inverse=True)
    camp = rng.lognormal(-sd * sd / 2, sd, len(campaigns))
    own = rng.lognormal(-sd * sd / 2, sd, n)
    return pd.DataFrame({"campaign_quality": camp[camp_of_ad], "ad_quality": own})


def whale_mult(cfg: WorldConfig, n: int) -> np.ndarray:
    """Per user: the multiplier of the spend per purchase; ``whale_share`` of users get a Pareto factor."""
    if cfg.whale_share <= 0:
        return np.ones(n)
    rng = stream(cfg, "whales")
    is_whale = rng.random(n) < cfg.whale_share
    factor = WHALE_MIN * (1.0 + rng.pareto(cfg.whale_tail, n))
    return np.where(is_whale, np.minimum(factor, WHALE_CAP), 1.0)
