"""A synthetic install-cohort population whose retention is exactly shifted-beta-geometric.

Each user churns after each day with probability theta ~ Beta(alpha, beta) (so the share still
active on day t is S(t) = B(alpha, beta + t) / B(alpha, beta)); an active user pays on a day
with probability ``pay_prob``, a log-normal amount. The expected LTV is known in closed form.
With ``activity`` < 1 an alive user is active on a day after the install with a personal
propensity drawn from a Beta of that mean (``activity_concentration`` = a + b), as users of real
apps are: the access rate is then "alive x active" from day 1 on, and 1 on the install day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class SbgWorld:
    alpha: float = 0.5
    beta: float = 0.6
    pay_prob: float = 0.05
    amount_mu: float = 1.2  # log-normal amount: median e^1.2 ~ $3.3
    amount_sigma: float = 0.8
    activity: float = 1.0
    activity_concentration: float = 4.0

    @property
    def arpu(self) -> float:
        """Expected revenue per active user-day."""
        return self.pay_prob * float(np.exp(self.amount_mu + self.amount_sigma**2 / 2))

    def survival(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return np.exp(special.betaln(self.alpha, self.beta + t) - special.betaln(self.alpha, self.beta))

    def access_rate(self, t) -> np.ndarray:
        """Expected share of the cohort active on day t: S(t), times the mean activity after day 0."""
        t = np.asarray(t, dtype=float)
        return self.survival(t) * np.where(t == 0, 1.0, self.activity)

    def true_ltv(self, horizon: int) -> float:
        return self.arpu * float(self.access_rate(np.arange(horizon)).sum())

    def cohort(self, rng: np.random.Generator, users: int, days: int):
        """(active_users[t], revenue[t]) for t = 0..days-1 of one simulated cohort."""
        theta = rng.beta(self.alpha, self.beta, users)
        life = rng.geometric(np.clip(theta, 1e-12, 1.0))  # alive on days 0..life-1
        alive = life[None, :] > np.arange(days)[:, None]
        if self.activity < 1.0:
            c = self.activity_concentration
            propensity = rng.beta(self.activity * c, (1.0 - self.activity) * c, users)
            alive &= (rng.random((days, users)) < propensity[None, :]) | (np.arange(days) == 0)[:, None]
        active = alive.sum(axis=1)
        payers = rng.binomial(active, self.pay_prob)
        amounts = rng.lognormal(self.amount_mu, self.amount_sigma, payers.sum())
        revenue = np.bincount(np.repeat(np.arange(days), payers), weights=amounts, minlength=days)
        return active.astype(float), revenue
