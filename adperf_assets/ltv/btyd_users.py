"""The users of one fitted BTYD model: expected purchases, spend, revenue variance and P(no purchase)
on the days of a horizon still ahead, memoized per parameter set (the delta method asks again).

Distinct (x, T) and (x, t_x, T) rows are evaluated once each. Method: docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.ltv.btyd_model import BTYDModel
from adperf_assets.ltv.btyd_predict import bgnbd_alive_purchases, bgnbd_p_alive, gamma_gamma_expected_spend
from adperf_assets.ltv.btyd_summary import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each row's number among the distinct rows of whole-number columns, and those rows."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        c = col.astype(np.int64)
        key = key * (int(c.max()) + 1 if len(c) else 1) + c
    inverse, uniques = pd.factorize(key, sort=False)
    first = np.zeros(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]  # any row of each group will do
    return inverse, [col[first] for col in columns]


@dataclass
class _Users:
    """The users of one model: summary arrays and their distinct (x, T) and (x, t_x, T) rows.

    E[purchases] = P(alive | x, t_x, T) * E[purchases | alive, x, T, t]; the 2F1 in the second
    factor is evaluated once per distinct (x, T) (t follows from T and the horizon) and only where
    days of the horizon remain, P(alive) once per distinct (x, t_x, T). Both are kept per parameter
    set (and horizon): the delta method and the noise terms ask for the same ones again.
    """

    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    m: np.ndarray

    def __post_init__(self):
        self.xt_of, (self.xt_x, self.xt_T) = _distinct(self.x, self.T)
        self.row_of, (self.row_x, self.row_tx, self.row_T) = _distinct(self.x, self.tx, self.T)
        self._memo = {}

    def _alive(self, bg: np.ndarray, horizon: int) -> np.ndarray:
        """E[purchases | alive] per distinct (x, T); 0 where no day of the horizon is left."""
        key = ("alive", bg.tobytes(), horizon)
        if key not in self._memo:
            r, alpha, a, b = bg
            t = _remaining(self.xt_T, horizon)
            ahead = t > 0
            alive = np.zeros(len(t))
            with np.errstate(invalid="ignore", divide="ignore"):
                alive[ahead] = bgnbd_alive_purchases(r, alpha, a, b, t[ahead], self.xt_x[ahead], self.xt_T[ahead])
            self._memo[key] = alive
        return self._memo[key]

    def _p_alive(self, bg: np.ndarray) -> np.ndarray:
        """P(alive) per distinct (x, t_x, T)."""
        key = ("p_alive", bg.tobytes())
        if key not in self._memo:
            r, alpha, a, b = bg
            self._memo[key] = bgnbd_p_alive(r, alpha, a, b, self.row_x, self.row_tx, self.row_T)
        return self._memo[key]

    def purchases(self, bg: np.ndarray, horizon: int, parts: bool = False):
        """Expected repeat purchase days per user on the days of the horizon still ahead; with
        ``parts``, its two factors: expected purchases if alive and P(alive)."""
        bg = np.asarray(bg, dtype=float)
        alive = self._alive(bg, horizon)[self.xt_of]
        p_alive = self._p_alive(bg)[self.row_of]
        return (alive, p_alive) if parts else alive * p_alive

    def spend(self, gg: np.ndarray) -> np.ndarray:
        gg = np.asarray(gg, dtype=float)
        key = ("spend", gg.tobytes())
        if key not in self._memo:
            p, q, v = gg
            self._memo[key] = gamma_gamma_expected_spend(p, q, v, self.x, self.m)
        return self._memo[key]

    def revenue_variance(self, theta: np.ndarray, horizon: int) -> np.ndarray:
        """Approximate variance of each user's revenue on the days ahead, given the parameters.

        Revenue S = z_1 + ... + z_N. Spend: z_j ~ Gamma(p, nu) with nu | x, m ~ Gamma(q + p x,
        v + x m) (Gamma-Gamma's posterior), so E[1/nu] = u / (s - 1), E[1/nu^2] = u^2 / ((s-1)(s-2)).
        Purchases: alive with probability P(alive); if alive, N is taken as negative binomial
        with mean mu (FHL eq. 10's numerator) and shape r + x (the Gamma posterior of the
        purchase rate; dropout is ignored in the variance, which it would lower a little):
        E[N] = P mu, E[N^2] = P (mu + mu^2 (1 + 1 / (r + x))). Then
        Var S = p E[1/nu^2] E[N] + p^2 (E[N^2] E[1/nu^2] - E[N]^2 E[1/nu]^2).
        """
        r, _, _, _, p, q, v = np.exp(theta)
        mu, p_alive = self.purchases(np.exp(theta[:4]), horizon, parts=True)
        e_n = p_alive * mu
        e_n2 = p_alive * (mu + mu**2 * (1.0 + 1.0 / (r + self.x)))
        shape = q + p * self.x
        rate = v + self.x * self.m
        inv1 = rate / (shape - 1.0)
        inv2 = np.where(shape > 2.0, rate**2 / ((shape - 1.0) * (shape - 2.0)), np.inf)
        with np.errstate(invalid="ignore"):
            var = p * inv2 * e_n + p**2 * (e_n2 * inv2 - e_n**2 * inv1**2)
        return np.where(e_n > 0, var, 0.0)

    def log_p_no_purchase(self, theta: np.ndarray, horizon: int) -> np.ndarray:
        """log P(no purchase on the days ahead): dead, or alive with a negative binomial N = 0
        (same approximation as ``revenue_variance``)."""
        r = np.exp(theta[0])
        mu, p_alive = self.purchases(np.exp(theta[:4]), horizon, parts=True)
        k = r + self.x
        p_zero_alive = np.exp(-k * np.log1p(mu / k))
        return np.log(np.clip(1.0 - p_alive + p_alive * p_zero_alive, 1e-300, 1.0))


def _in_order(params: pd.Series, names: tuple) -> np.ndarray:
    """``params[list(names)]`` as floats; the Series as it is when already in that order (a list lookup
    costs ~1 ms of pandas, and a range run asks for every fit of every day)."""
    if tuple(params.index) == names:
        return params.to_numpy(dtype=float)
    return params[list(names)].to_numpy(dtype=float)


def _theta(model: BTYDModel) -> np.ndarray:
    # the two fitters' own Series, not BTYDModel.params_ (a pd.concat on every call)
    return np.log(np.concatenate([_in_order(model.bgnbd.params_, BGNBD_PARAMS),
                                  _in_order(model.gamma_gamma.params_, GAMMA_GAMMA_PARAMS)]))


def _remaining(T: np.ndarray, horizon: int) -> np.ndarray:
    """Days of the horizon (days 0..H-1 since install) still ahead of a user observed through age T."""
    return np.maximum(horizon - 1 - T, 0.0)


def _users(rfm: pd.DataFrame, rows: np.ndarray) -> _Users:
    return _Users(rfm["frequency"].to_numpy(dtype=float)[rows], rfm["recency"].to_numpy(dtype=float)[rows],
                  rfm["T"].to_numpy(dtype=float)[rows], rfm["monetary_value_usd"].to_numpy(dtype=float)[rows])
