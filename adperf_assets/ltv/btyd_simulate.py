"""Vectorized BG/NBD + Gamma-Gamma simulator, for tests and benchmarks.

lifetimes' own generator (`beta_geometric_nbd_model`) loops over users in Python; this one draws
every user's purchases in a few array passes (docs/ltv_btyd.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_bgnbd_summary(
    n_users: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: np.ndarray | float,
    *,
    p: float | None = None,
    q: float | None = None,
    v: float | None = None,
    day_granularity: bool = True,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Summary rows (lifetimes' convention) drawn from BG/NBD, optionally with Gamma-Gamma spend.

    Each user is born with a purchase at time 0 and observed for `T` days. Purchase rate
    lambda ~ Gamma(r, rate alpha); after every repeat purchase the user drops out with
    probability p_i ~ Beta(a, b).

    With `day_granularity` (what `rfm_summary` produces from daily revenue rows),
    purchases are bucketed into whole days after the birth day: `frequency` counts the
    distinct purchase days after day 0 and `recency` is the last such day; `T` must then
    be whole days. Otherwise times are continuous, as in the model.

    With `p, q, v` given, `monetary_value` is the mean of the `frequency` repeat
    transaction values, each Gamma(p, rate nu) with nu ~ Gamma(q, rate v) per user
    (0 for users with no repeat purchase).
    """
    rng = np.random.default_rng(random_state)
    T_arr = np.broadcast_to(np.asarray(T, dtype=float), (n_users,)).copy()
    if np.any(T_arr < 0) or not np.all(np.isfinite(T_arr)):
        raise ValueError("T must be finite and non-negative")
    if day_granularity and np.any(T_arr != np.floor(T_arr)):
        raise ValueError("with day_granularity=True, T must be whole days")

    lam = rng.gamma(r, 1.0 / alpha, size=n_users)
    drop = rng.beta(a, b, size=n_users)

    frequency = np.zeros(n_users, dtype=np.int64)
    recency = np.zeros(n_users, dtype=float)
    last_day = np.zeros(n_users, dtype=np.int64)
    clock = np.zeros(n_users, dtype=float)
    active = np.arange(n_users)
    while active.size:
        clock[active] += rng.exponential(1.0, size=active.size) / lam[active]
        in_window = clock[active] < T_arr[active]
        active = active[in_window]
        if not active.size:
            break
        if day_granularity:
            day = np.floor(clock[active]).astype(np.int64)
            new_day = day > last_day[active]
            counted = active[new_day]
            frequency[counted] += 1
            last_day[counted] = day[new_day]
            recency[counted] = day[new_day]
        else:
            frequency[active] += 1
            recency[active] = clock[active]
        # after each purchase the user survives with probability 1 - p_i
        active = active[rng.random(active.size) > drop[active]]

    summary = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T_arr})
    if p is not None or q is not None or v is not None:
        if p is None or q is None or v is None:
            raise ValueError("give all of p, q, v for Gamma-Gamma spend, or none")
        nu = rng.gamma(q, 1.0 / v, size=n_users)
        repeat = frequency > 0
        total = np.zeros(n_users)
        total[repeat] = rng.gamma(p * frequency[repeat], 1.0 / nu[repeat])
        summary["monetary_value"] = np.where(repeat, total / np.maximum(frequency, 1), 0.0)
    summary.index.name = "user_id"
    return summary
