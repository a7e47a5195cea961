"""When the sample world's users are active and when they buy.

A user is alive on consecutive days from the install until churn (sBG: a Beta-distributed daily
churn probability; weibull: Weibull lifetimes and patchy logins) and active on each of them, or with
``activity_mean`` < 1 on some of them (knobs.py). While active a user buys at a
BG/NBD-like rate with Gamma-Gamma-like amounts. See docs/sample_world.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.sample import knobs
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import WorldConfig

WEIBULL_K = 0.55  # shape of the Weibull lifetimes of churn_model="weibull"


@dataclass(frozen=True)
class Activity:
    """One entry per (user, active day) the world observes, in user order."""

    user: np.ndarray  # row of the user in the users frame
    t: np.ndarray  # days since the user's install
    day: np.ndarray  # report day
    buy_pos: np.ndarray  # entries with a purchase
    buy_amount_usd: np.ndarray  # per entry of buy_pos
    day_start: np.ndarray  # Calendar.day_start
    install_time: np.ndarray  # per user, UTC epoch seconds

    def random_times(self, rng: np.random.Generator, pos: np.ndarray) -> np.ndarray:
        """A random instant in each active day ``pos`` (after the install on day 0)."""
        day = self.day[pos]
        lo = self.day_start[day].copy()
        hi = self.day_start[day + 1]
        first = self.t[pos] == 0
        lo[first] = self.install_time[self.user[pos][first]] + 30
        lo = np.minimum(lo, hi - 1)
        return lo + (rng.random(len(pos)) * (hi - lo)).astype(np.int64)


def simulate(cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, users: pd.DataFrame) -> Activity:
    """Active days and purchases; adds each user's latent churn and purchase parameters to ``users``."""
    u = users
    n = len(u)
    remaining = cfg.days - u["cohort_day"].to_numpy()  # days the world can still observe (incl. day 0)
    if cfg.churn_model == "sbg":
        theta = rng.beta(u["alpha"].to_numpy(), u["beta"].to_numpy())
        theta = np.clip(theta, 1e-9, 1.0)
        lifetime = rng.geometric(theta)  # active days 0..L-1
        login_p = np.ones(n)
        users["churn_theta"] = theta
        users["weibull_scale"] = np.nan
    else:
        eta = np.exp(rng.normal(np.log(3.0 * u["beta"].to_numpy() / cfg.retention_beta), 0.8))
        x = eta * (-np.log(rng.random(n))) ** (1.0 / WEIBULL_K)
        lifetime = np.floor(np.minimum(x, 1e7)).astype(np.int64) + 1
        login_p = rng.beta(6.0, 1.5, n)
        users["churn_theta"] = np.nan
        users["weibull_scale"] = eta
    users["login_prob"] = login_p
    users["lifetime_days"] = lifetime
    obs = np.minimum(lifetime, remaining)
    uidx = np.repeat(np.arange(n), obs)
    start = np.cumsum(obs) - obs
    t = np.arange(len(uidx)) - np.repeat(start, obs)
    cohort_day = u["cohort_day"].to_numpy()
    users["activity_propensity"] = 1.0
    on_day = 1.0
    if knobs.intermittent(cfg):
        act_rng = knobs.stream(cfg, "activity")
        users["activity_propensity"] = knobs.activity_propensity(cfg, act_rng, n)
        on_day = knobs.active_given_alive(cfg, users["activity_propensity"].to_numpy()[uidx], cohort_day[uidx], t)
        if cfg.churn_model == "sbg":
            keep = act_rng.random(len(uidx)) < on_day
            uidx, t = uidx[keep], t[keep]
    if cfg.churn_model == "weibull":
        keep = (t == 0) | (rng.random(len(uidx)) < login_p[uidx] * on_day)
        uidx, t = uidx[keep], t[keep]
    # purchases: candidate purchase per active day at the user's rate; at most K purchases (dropout)
    rate = rng.gamma(cfg.purchase_r, cfg.purchase_scale, n) * u["value_mult"].to_numpy()
    rate = np.minimum(rate, 0.9)
    dropout = rng.beta(cfg.dropout_a, cfg.dropout_b, n)
    nu = rng.gamma(cfg.spend_q, 1.0 / cfg.spend_gamma, n)
    whale = knobs.whale_mult(cfg, n)
    users["purchase_rate"] = rate
    users["purchase_dropout"] = dropout
    users["whale_mult"] = whale
    users["mean_spend_usd"] = cfg.spend_p / nu * whale
    cand = rng.random(len(uidx)) < rate[uidx]
    cs = np.cumsum(cand)
    first_pos = np.searchsorted(uidx, np.arange(n))
    before = np.concatenate([[0], cs])[first_pos]
    rank = cs - before[uidx]  # 1-based rank of this candidate within the user
    max_k = rng.geometric(np.clip(dropout, 1e-9, 1.0))
    bought = cand & (rank <= max_k[uidx])
    buy_pos = np.flatnonzero(bought)
    amount = np.round(rng.gamma(cfg.spend_p, 1.0 / nu[uidx[buy_pos]]) * whale[uidx[buy_pos]], 2)
    return Activity(user=uidx, t=t, day=cohort_day[uidx] + t, buy_pos=buy_pos,
                    buy_amount_usd=np.maximum(amount, 0.99), day_start=cal.day_start,
                    install_time=u["install_time"].to_numpy())
