"""A user's expected return given their history: the posterior mean, in place of the realised return.

A campaign's true value is what its users are worth in expectation; a user's realised return is that
plus the noise of which purchases happened to fall in the window, and with a heavy tail (whales) that
noise dominates the means the SKAN decoder takes (docs/skan.md, "Targets"). The posterior mean
E[latent expected return | history] has the least squared error of any estimate from the same history.

Model (fitted on the users given, each run): purchase-days over a user's exposure t are Poisson with a
gamma-distributed rate (NBD: ``r``, ``alpha``, maximum likelihood); the mean value per purchase is
Gamma-Gamma (``p``, ``q``, ``v``; the project's ``fit_gamma_gamma``) with the population mean taken as the
mean of all purchases (unbiased whatever the spread of users' spend). Then, for x purchases worth
``value`` in total over t days,

    E[expected return over t | x, value] = t (r + x) / (alpha + t)  x  ((1 - w) mean + w value / x),
    w = p x / (p x + q - 1)

(w = 1 when q <= 1: a prior with no finite mean does not shrink; users without purchases take the
population mean per purchase). Rate and spend are taken independent, as BG/NBD and Gamma-Gamma do.

Used by ``benchmarks/skan.py --tracked-value model``; not by ``skan_modelled``: on the benchmark's worlds it
does not make the campaigns' modelled return closer to their truth (docs/skan.md, "Posterior-mean user values").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifetimes.utils import ConvergenceError
from scipy import optimize, special

from adperf_assets.ltv.btyd import fit_gamma_gamma
from adperf_assets.ltv.btyd_summary import _collapse


def _nbd_negloglik(log_params: np.ndarray, x: np.ndarray, t: np.ndarray, w: np.ndarray) -> float:
    r, alpha = np.exp(log_params)
    ll = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha / (alpha + t))
          + x * np.log(t / (alpha + t)))
    return -float(np.dot(w, ll)) / float(w.sum())


def fit_nbd(purchases, exposure_days) -> tuple[float, float]:
    """Maximum-likelihood (r, alpha) of the NBD: counts Poisson(lambda t), lambda ~ Gamma(r, alpha)."""
    x = np.asarray(purchases, dtype=float)
    t = np.asarray(exposure_days, dtype=float)
    if len(x) == 0 or not (x > 0).any():
        raise ValueError("fit_nbd needs users with at least one purchase")
    if (t <= 0).any() or (x < 0).any():
        raise ValueError("fit_nbd needs exposure_days > 0 and purchases >= 0")
    (ux, ut), w, _ = _collapse(x, t)
    m = float((x / t).mean())
    var = float((x / t).var())
    # moments as the start: r / alpha = mean rate, r / alpha^2 ~ variance of rates beyond Poisson noise
    extra = max(var - float((x / t ** 2).mean()), 1e-3 * m * m)
    x0 = np.log([max(m * m / extra, 1e-3), max(m / extra, 1e-3)])
    res = optimize.minimize(_nbd_negloglik, x0, args=(ux, ut, w), method="L-BFGS-B",
                            bounds=[(-20, 20), (-20, 20)])
    if not res.success or np.any(np.abs(res.x) >= 20 - 1e-6):
        raise ConvergenceError(f"NBD fit did not converge (log r, log alpha {np.round(res.x, 3).tolist()})")
    r, alpha = np.exp(res.x)
    return float(r), float(alpha)


@dataclass
class ShrunkUserValue:
    """Posterior-mean return per user from their purchase count and return over their exposure (module
    docstring). ``fit(purchases, value, exposure_days)`` -> self (``params_``); ``predict`` the same
    inputs (the users fitted on or others) -> expected return per user."""

    group_prior: float = 20.0  # pseudo-users of the population's rate in a group's mean rate

    def fit(self, purchases, value, exposure_days, groups=None) -> "ShrunkUserValue":
        x = np.asarray(purchases, dtype=float)
        v = np.asarray(value, dtype=float)
        t = np.asarray(exposure_days, dtype=float)
        if not (len(x) == len(v) == len(t)):
            raise ValueError("purchases, value and exposure_days must have one entry per user")
        r, alpha = fit_nbd(x, t)
        # a group's (e.g. campaign's) own mean purchase rate, shrunk to the population's: its users' prior
        self.group_rate_ = {}
        if groups is not None:
            g = pd.Series(np.asarray(groups, dtype=object))
            k, t_bar = self.group_prior, float(t.mean())
            sums = pd.DataFrame({"g": g, "x": x, "t": t}).groupby("g")[["x", "t"]].sum()
            rate = (sums["x"] + k * t_bar * r / alpha) / (sums["t"] + k * t_bar)
            self.group_rate_ = rate.to_dict()
        buyers = (x > 0) & (v > 0)
        mean = float(v[buyers].sum() / x[buyers].sum())
        p = q = gg_v = np.nan
        try:
            gg = fit_gamma_gamma(x[buyers], v[buyers] / x[buyers])
            p, q, gg_v = (float(gg.params_[k]) for k in ("p", "q", "v"))
        except (ConvergenceError, ValueError):  # too few buyers or no optimum: the users' own means kept
            pass
        self.params_ = {"r": r, "alpha": alpha, "mean_per_purchase": mean, "p": p, "q": q, "v": gg_v,
                        "users": len(x), "buyers": int(buyers.sum())}
        return self

    def spend_weight(self, purchases) -> np.ndarray:
        """Weight of a user's own mean value per purchase (Gamma-Gamma's credibility); 1 without a prior."""
        x = np.asarray(purchases, dtype=float)
        p, q = self.params_["p"], self.params_["q"]
        if not (np.isfinite(p) and np.isfinite(q)) or q <= 1:
            return np.ones(len(x))
        return p * x / (p * x + q - 1)

    def predict(self, purchases, value, exposure_days, groups=None) -> np.ndarray:
        """Expected return per user; with ``groups``, users of a group fitted take its own mean rate as
        their prior (the rate's spread stays the population's), others the population's."""
        x = np.asarray(purchases, dtype=float)
        v = np.asarray(value, dtype=float)
        t = np.asarray(exposure_days, dtype=float)
        r, alpha, mean = self.params_["r"], self.params_["alpha"], self.params_["mean_per_purchase"]
        if groups is not None and self.group_rate_:
            rate = pd.Series(np.asarray(groups, dtype=object)).map(self.group_rate_).to_numpy(dtype=float)
            alpha = np.where(np.isfinite(rate) & (rate > 0), r / np.where(rate > 0, rate, 1.0), alpha)
        count = t * (r + x) / (alpha + t)
        own = np.divide(v, x, out=np.full(len(x), mean), where=x > 0)
        w = np.where(x > 0, self.spend_weight(x), 0.0)
        return count * ((1 - w) * mean + w * own)
