"""BG/NBD and Gamma-Gamma conditional expectations, broadcasting over users and parameter draws.

E[purchases in (T, T+t] | x, t_x, T] = P(alive | x, t_x, T) * E[purchases | alive, x, T] (Fader, Hardie &
Lee 2005, eq. 10): only the second factor needs 2F1 and it does not depend on t_x, so callers evaluate it
once per distinct (x, T) and P(alive) per distinct (x, t_x, T). docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def bgnbd_p_alive(r, alpha, a, b, frequency, recency, T) -> np.ndarray:
    """P(still alive at T | x, t_x, T); 1 without a repeat purchase.

    As lifetimes' `conditional_probability_alive`, written as a logistic so large
    frequencies do not overflow.
    """
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (
            np.log(alpha + T) - np.log(alpha + tx)
        )
    return np.where(x > 0, special.expit(-log_odds_dead), 1.0)


def bgnbd_alive_purchases(r, alpha, a, b, t, frequency, T) -> np.ndarray:
    """E[repeat purchases in (T, T+t] | alive at T, x, T]: eq. 10's numerator.

    Same arithmetic as lifetimes' `conditional_expected_number_of_purchases_up_to_time`,
    including its Euler-transform fallback when 2F1 overflows, except that 2F1's sign is
    carried separately: with c = a + b + x - 1 < 0 (x = 0 and a + b < 1, which parameter
    draws reach) 2F1 is negative and lifetimes' log(2F1) gives NaN.
    """
    x = np.asarray(frequency, dtype=float)
    T = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    _a, _b, _c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hyp = special.hyp2f1(_a, _b, _c, z)
        ln_hyp, sign = np.log(np.abs(hyp)), np.sign(hyp)
        bad = ~np.isfinite(hyp)
        if np.any(bad):
            alt = special.hyp2f1(_c - _a, _c - _b, _c, z)
            ln_hyp = np.where(bad, np.log(np.abs(alt)) + (_c - _a - _b) * np.log1p(-z), ln_hyp)
            sign = np.where(bad, np.sign(alt), sign)
        second = 1.0 - sign * np.exp(ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + t + T)))
    return (a + b + x - 1) / (a - 1) * second


def bgnbd_expected_purchases(r, alpha, a, b, t, frequency, recency, T) -> np.ndarray:
    """E[repeat purchases in (T, T+t] | x, t_x, T] (FHL 2005 eq. 10)."""
    return bgnbd_alive_purchases(r, alpha, a, b, t, frequency, T) * bgnbd_p_alive(r, alpha, a, b, frequency, recency, T)


def discount_nodes(horizon_days: float, n_per_piece: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes/weights on [0, H], pieces [0,1], [1,2], [2,4], ... (E(t) bends fastest near 0)."""
    edges = [0.0]
    while 2 * edges[-1] + (edges[-1] == 0) < horizon_days:
        edges.append(2 * edges[-1] + (edges[-1] == 0))
    edges.append(float(horizon_days))
    gx, gw = np.polynomial.legendre.leggauss(n_per_piece)
    nodes, weights = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        nodes.append((hi - lo) / 2 * gx + (hi + lo) / 2)
        weights.append((hi - lo) / 2 * gw)
    return np.concatenate(nodes), np.concatenate(weights)


def bgnbd_discounted_alive_purchases(r, alpha, a, b, horizon_days, frequency, T, daily_discount_rate) -> np.ndarray:
    """`bgnbd_alive_purchases` over the next `horizon_days`, a purchase at time t worth (1+rate)^-t.

    Continuous discounting of the expected purchase curve E(t):
    int_0^H (1+d)^-t dE(t) = (1+d)^-H E(H) + ln(1+d) int_0^H (1+d)^-t E(t) dt,
    the integral by composite Gauss-Legendre (~1e-9 relative, tested against quadrature).
    """
    E_H = bgnbd_alive_purchases(r, alpha, a, b, horizon_days, frequency, T)
    if daily_discount_rate == 0 or horizon_days == 0:
        return E_H
    log_d = np.log1p(daily_discount_rate)
    total = np.exp(-log_d * horizon_days) * E_H
    nodes, weights = discount_nodes(horizon_days)
    for s, w in zip(nodes, weights):
        total = total + log_d * w * np.exp(-log_d * s) * bgnbd_alive_purchases(r, alpha, a, b, s, frequency, T)
    return total


def bgnbd_discounted_purchases(r, alpha, a, b, horizon_days, frequency, recency, T, daily_discount_rate) -> np.ndarray:
    """Expected repeat purchases in the next `horizon_days`, discounted (see `bgnbd_discounted_alive_purchases`)."""
    return bgnbd_discounted_alive_purchases(
        r, alpha, a, b, horizon_days, frequency, T, daily_discount_rate
    ) * bgnbd_p_alive(r, alpha, a, b, frequency, recency, T)


def gamma_gamma_spend_weight(p, q, frequency) -> np.ndarray:
    """Weight of the user's own mean spend in the Gamma-Gamma expectation: p x / (p x + q - 1)."""
    x = np.asarray(frequency, dtype=float)
    return p * x / (p * x + q - 1)


def gamma_gamma_expected_spend(p, q, v, frequency, monetary_value, population_mean=None) -> np.ndarray:
    """E[value of a future purchase | x, m]: a credibility mix of m and the population mean v p / (q - 1).

    Users without a repeat purchase (x = 0) get the population mean. ``population_mean`` replaces the fit's
    v p / (q - 1), e.g. by ``repeat_purchase_mean`` when the spend has a heavier tail than Gamma-Gamma's
    (docs/ltv_btyd.md, "whales").
    """
    weight = gamma_gamma_spend_weight(p, q, frequency)
    if population_mean is None:
        population_mean = v * p / (q - 1)
    return (1 - weight) * population_mean + weight * np.asarray(monetary_value, dtype=float)


def repeat_purchase_mean(frequency, monetary_value) -> float:
    """The mean value of all repeat purchases, sum(x m) / sum(x) over the users with x > 0.

    With spend independent of frequency (Gamma-Gamma's own assumption) this is an unbiased estimate of the
    population mean spend per purchase whatever the distribution of the users' mean spend, where Gamma-Gamma's
    v p / (q - 1) is unbiased only if that distribution is the inverse-gamma the model assumes.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    repeat = x > 0
    if not repeat.any():
        raise ValueError("no user with a repeat purchase (frequency > 0): no repeat purchase mean")
    return float((x[repeat] * m[repeat]).sum() / x[repeat].sum())
