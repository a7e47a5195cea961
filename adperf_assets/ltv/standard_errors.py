"""Standard errors of the fitted retention curves: the delta method, sums over horizons, the average's variance.

Shared by the sBG and rational fits, their average and the batched fits. Why two variances of the
average, and what each assumes: docs/ltv_cohort.md ("Variance of the average").
"""

from __future__ import annotations

import numpy as np

_VARIANCES = ("model_averaged", "independent")


def _quad_se(jac: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sqrt(g' cov g) for gradients jac (K, n, p) and covariances (K, p, p).

    A NaN covariance (singular information: the data do not bound the parameters, e.g.
    nobody or everybody churned) gives an infinite standard error wherever the quantity
    depends on the parameters at all.
    """
    undefined = np.isnan(cov).any(axis=(1, 2))
    var = np.einsum("knp,kpq,knq->kn", jac, np.nan_to_num(cov), jac)
    se = np.sqrt(np.maximum(var, 0.0))
    moves = np.abs(jac).sum(axis=-1) > 0
    return np.where(undefined[:, None] & moves, np.inf, se)


def _sums_before(values: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """``values`` summed over days t < h for each h in ``horizons``, along axis 1 (days): one running
    sum, not an (h x days) 0/1 matrix product per curve."""
    shape = list(values.shape)
    shape[1] = 1
    running = np.concatenate([np.zeros(shape), np.cumsum(values, axis=1)], axis=1)
    return running[:, np.asarray(horizons, dtype=np.int64)]


def _combine_se(v_s, se_s, v_c, se_c, variance: str):
    """Standard error of the average (s + c) / 2 of two fits with values v and errors se, per ``variance``."""
    if variance == "independent":
        return 0.5 * np.sqrt(se_s**2 + se_c**2)
    spread = 0.5 * (v_s - v_c)  # = s - m = -(c - m)
    return 0.5 * (np.sqrt(se_s**2 + spread**2) + np.sqrt(se_c**2 + spread**2))
