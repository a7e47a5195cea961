"""A synthetic install-cohort population whose retention is exactly shifted-beta-geometric.

Each user churns after each day with probability theta ~ Beta(alpha, beta) (so the share still
active on day t is S(t) = B(alpha, beta + t) / B(alpha, beta)); an active user pays on a day
with probability ``pay_prob``, a log-normal amount. The expected LTV is known in closed form.
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

    @property
    def arpu(self) -> float:
        """Expected revenue per active user-day."""
        return self.pay_prob * float(np.exp(self.amount_mu + self.amount_sigma**2 / 2))

    def survival(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return np.exp(special.betaln(self.alpha, self.beta + t) - special.betaln(self.alpha, self.beta))

    def true_ltv(self, horizon: int) -> float:
        return self.arpu * float(self.survival(np.arange(horizon)).sum())

    def cohort(self, rng: np.random.Generator, users: int, days: int):
        """(active_users[t], revenue[t]) for t = 0..days-1 of one simulated cohort."""
        theta = rng.beta(self.alpha, self.beta, users)
        life = rng.geometric(np.clip(theta, 1e-12, 1.0))  # active on days 0..life-1
        active = (life[None, :] > np.arange(days)[:, None]).sum(axis=1)
        payers = rng.binomial(active, self.pay_prob)
        amounts = rng.lognormal(self.amount_mu, self.amount_sigma, payers.sum())
        revenue = np.bincount(np.repeat(np.arange(days), payers), weights=amounts, minlength=days)
        return active.astype(float), revenue
