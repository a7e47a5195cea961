"""The fitted BG/NBD + Gamma-Gamma pair (``BTYDModel``): per-user predictions and their intervals.

Expected purchases x expected spend per user, optionally discounted, with an interval from the
parameters' estimation uncertainty (delta method or parameter draws), per user or summed per group.
Method: docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from scipy import sparse, stats

from adperf_assets.ltv.btyd_predict import (
    bgnbd_discounted_alive_purchases,
    bgnbd_p_alive,
    gamma_gamma_expected_spend,
    gamma_gamma_spend_weight,
)
from adperf_assets.ltv.btyd_summary import (
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    _collapse,
    _one_blas_thread,
    _summary_arrays,
    validate_summary,
)


def _check_horizon(horizon_days: float, daily_discount_rate: float) -> None:
    if not np.isfinite(horizon_days) or horizon_days < 0:
        raise ValueError(f"horizon_days must be a finite number >= 0, got {horizon_days!r}")
    if not np.isfinite(daily_discount_rate) or daily_discount_rate < 0:
        raise ValueError(f"daily_discount_rate must be a finite number >= 0, got {daily_discount_rate!r}")


@dataclass
class BTYDModel:
    """A fitted BG/NBD + Gamma-Gamma pair (`fit_btyd`), plus the covariance of its log-parameters.

    `log_params_covariance_` is the inverse Hessian of the total (not mean) penalized
    negative log-likelihood in (log r, log alpha[days], log a, log b, log p, log q, log v);
    the two models have separate likelihoods, so it is block-diagonal. (lifetimes'
    own `variance_matrix_` is kept on the fitters as lifetimes computes it; its off-diagonal
    entries are not a proper delta-method covariance, its diagonal is.)
    """

    bgnbd: BetaGeoFitter
    gamma_gamma: GammaGammaFitter
    log_params_covariance_: pd.DataFrame
    n_users_: int
    n_repeat_buyers_: int
    collapsed_rows_: dict = field(default_factory=dict)

    @property
    def params_(self) -> pd.Series:
        return pd.concat([self.bgnbd.params_, self.gamma_gamma.params_])

    def _check_gamma_gamma(self, q: float) -> None:
        if q <= 1:
            raise ValueError(
                f"Gamma-Gamma q = {q:.4g} <= 1: the population mean spend v p / (q - 1) is not finite; "
                "refit with a penalizer or check monetary_value"
            )

    def expected_purchases(self, summary: pd.DataFrame, horizon_days: float, daily_discount_rate: float = 0.0) -> pd.Series:
        """Expected repeat purchase-days per user in the next `horizon_days` (discounted if a rate is given)."""
        validate_summary(summary, monetary=False)
        _check_horizon(horizon_days, daily_discount_rate)
        layout = _Layout.of(summary)
        r, alpha, a, b = self.bgnbd.params_[list(BGNBD_PARAMS)]
        alive = bgnbd_discounted_alive_purchases(r, alpha, a, b, horizon_days, layout.xt_x, layout.xt_T, daily_discount_rate)
        rows = alive[layout.xt_of_row] * bgnbd_p_alive(r, alpha, a, b, layout.row_x, layout.row_tx, layout.row_T)
        return pd.Series(rows[layout.row_of_user], index=summary.index, name="expected_purchases")

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Gamma-Gamma expected value per future purchase; users with frequency 0 get the population mean."""
        validate_summary(summary)
        p, q, v = self.gamma_gamma.params_[list(GAMMA_GAMMA_PARAMS)]
        self._check_gamma_gamma(q)
        x, _, _, m = _summary_arrays(summary)
        return pd.Series(gamma_gamma_expected_spend(p, q, v, x, m), index=summary.index, name="expected_spend")

    def expected_value(self, summary: pd.DataFrame, horizon_days: float, daily_discount_rate: float = 0.0) -> pd.Series:
        """Expected revenue per user over the next `horizon_days`, in the currency of `monetary_value`.

        BG/NBD expected purchases x Gamma-Gamma expected spend (the usual independence
        assumption of the pair). With `daily_discount_rate` d, revenue expected t days
        after the end of observation is worth (1+d)^-t.
        """
        purchases = self.expected_purchases(summary, horizon_days, daily_discount_rate)
        spend = self.expected_spend(summary)
        return (purchases * spend).rename("expected_value")

    def sample_params(self, n_draws: int, random_state=0) -> tuple[np.ndarray, np.ndarray]:
        """Parameter draws from the asymptotic normal of the log-parameters, exponentiated.

        Returns (n_draws x [r, alpha, a, b], n_draws x [p, q, v]). Gamma-Gamma draws with
        q <= 1 (infinite mean spend) are redrawn.
        """
        rng = np.random.default_rng(random_state)
        cov = self.log_params_covariance_.to_numpy()
        bg_mean = np.log(self.bgnbd.params_[list(BGNBD_PARAMS)].to_numpy(dtype=float))
        gg_mean = np.log(self.gamma_gamma.params_[list(GAMMA_GAMMA_PARAMS)].to_numpy(dtype=float))
        bg = np.exp(rng.multivariate_normal(bg_mean, cov[:4, :4], size=n_draws))
        gg = np.empty((0, 3))
        for _ in range(20):
            more = np.exp(rng.multivariate_normal(gg_mean, cov[4:, 4:], size=2 * n_draws))
            gg = np.vstack([gg, more[more[:, 1] > 1]])
            if len(gg) >= n_draws:
                return bg, gg[:n_draws]
        raise ValueError(
            "Gamma-Gamma q is too uncertain: most parameter draws have q <= 1 (infinite mean spend); "
            "an interval cannot be sampled"
        )

    def expected_value_interval(
        self,
        summary: pd.DataFrame,
        horizon_days: float,
        confidence: float = 0.99,
        groups=None,
        daily_discount_rate: float = 0.0,
        method: str = "delta",
        n_draws: int = 1000,
        random_state=0,
    ) -> pd.DataFrame:
        """Expected value with an interval from the parameters' estimation uncertainty.

        The log-parameters are asymptotically normal (mean = MLE, covariance =
        `log_params_covariance_`). Two ways to carry that to the expected value:
        - `method="delta"` (default): gradient of each value w.r.t. the 7 log-parameters
          by central differences (BG/NBD factor and Gamma-Gamma factor separately, 15
          evaluations in all), variance g' S g, and a log-normal interval
          value * exp(+-z sd/value), which stays positive. Cheap on millions of users.
        - `method="draws"`: `n_draws` parameter sets drawn in log space (Gamma-Gamma draws
          with q <= 1 redrawn), the value recomputed under each, central quantiles. Catches
          skewness on small data; costs n_draws x the point estimate, far more with a
          discount rate (use "delta" there; costs in docs/ltv_btyd.md).
        `expected_value` is the value at the MLE either way.

        Without `groups`: one row per user (index of `summary`). With `groups` (a Series
        on summary's index, or labels in summary's row order, e.g. cohort x segment): one
        row per group for the SUM over its users (the users share the parameters, so
        their uncertainties add up coherently), plus `n_users`.

        Not covered: the Poisson/spend noise of individual users (this is an interval on
        the expected value, not a prediction interval on realised revenue) and model
        misspecification; the back-test's coverage measures how much that matters.
        """
        validate_summary(summary)
        _check_horizon(horizon_days, daily_discount_rate)
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        if method not in ("delta", "draws"):
            raise ValueError(f"method must be 'delta' or 'draws', got {method!r}")
        if method == "draws" and n_draws < 2:
            raise ValueError(f"n_draws must be >= 2, got {n_draws!r}")
        layout = _Layout.of(summary)
        codes = n_groups = None
        if groups is not None:
            codes, uniques = _group_codes(groups, summary)
            n_groups = len(uniques)
        with _one_blas_thread():
            if method == "delta":
                point, lower, upper = self._delta_interval(layout, horizon_days, daily_discount_rate, confidence, codes, n_groups)
            else:
                point, lower, upper = self._draws_interval(
                    layout, horizon_days, daily_discount_rate, confidence, codes, n_groups, n_draws, random_state
                )
        frame = pd.DataFrame({"expected_value": point, "lower": lower, "upper": upper})
        if groups is None:
            frame.index = summary.index
            return frame
        frame.index = pd.Index(uniques, name=groups.name if isinstance(groups, pd.Series) else None)
        frame["n_users"] = np.bincount(codes, minlength=n_groups)
        return frame

    def _purchases(self, layout: "_Layout", bg: np.ndarray, horizon_days, rate) -> np.ndarray:
        r, alpha, a, b = bg
        alive = bgnbd_discounted_alive_purchases(r, alpha, a, b, horizon_days, layout.xt_x, layout.xt_T, rate)
        rows = alive[layout.xt_of_row] * bgnbd_p_alive(r, alpha, a, b, layout.row_x, layout.row_tx, layout.row_T)
        return rows[layout.row_of_user]

    def _delta_interval(self, layout, horizon_days, rate, confidence, codes, n_groups):
        theta = np.log(self.params_[list(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)].to_numpy(dtype=float))
        self._check_gamma_gamma(np.exp(theta[5]))
        h = 1e-4
        purchases = self._purchases(layout, np.exp(theta[:4]), horizon_days, rate)
        spend = gamma_gamma_expected_spend(*np.exp(theta[4:]), layout.x, layout.m)
        gradient = np.empty((len(layout.x), 7))
        for i in range(7):
            step = np.zeros(7)
            step[i] = h
            if i < 4:
                up = self._purchases(layout, np.exp(theta[:4] + step[:4]), horizon_days, rate)
                down = self._purchases(layout, np.exp(theta[:4] - step[:4]), horizon_days, rate)
                gradient[:, i] = spend * (up - down) / (2 * h)
            else:
                up = gamma_gamma_expected_spend(*np.exp(theta[4:] + step[4:]), layout.x, layout.m)
                down = gamma_gamma_expected_spend(*np.exp(theta[4:] - step[4:]), layout.x, layout.m)
                gradient[:, i] = purchases * (up - down) / (2 * h)
        point = purchases * spend
        if codes is not None:
            membership = _membership(codes, n_groups)
            point, gradient = membership @ point, membership @ gradient
        cov = self.log_params_covariance_.to_numpy()
        sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", gradient, cov, gradient), 0.0))
        z = stats.norm.ppf(0.5 + confidence / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(point > 0, np.exp(z * sd / point), 1.0)
        return point, point / factor, point * factor

    def _draws_interval(self, layout, horizon_days, rate, confidence, codes, n_groups, n_draws, random_state):
        quantiles = [0.5 - confidence / 2, 0.5 + confidence / 2]
        p0, q0, v0 = self.gamma_gamma.params_[list(GAMMA_GAMMA_PARAMS)]
        self._check_gamma_gamma(q0)
        point = self._purchases(layout, self.bgnbd.params_[list(BGNBD_PARAMS)].to_numpy(dtype=float), horizon_days, rate)
        point = point * gamma_gamma_expected_spend(p0, q0, v0, layout.x, layout.m)
        bg, gg = self.sample_params(n_draws, random_state)
        r, alpha, a, b = (bg[:, i] for i in range(4))
        p, q, v = (gg[:, i] for i in range(3))
        population_mean = v * p / (q - 1)
        alive = bgnbd_discounted_alive_purchases(
            r, alpha, a, b, horizon_days, layout.xt_x[:, None], layout.xt_T[:, None], rate
        )  # distinct (x, T) x draws

        def row_purchases(rows: np.ndarray) -> np.ndarray:  # distinct rows x draws
            p_alive = bgnbd_p_alive(r, alpha, a, b, layout.row_x[rows, None], layout.row_tx[rows, None], layout.row_T[rows, None])
            return alive[layout.xt_of_row[rows]] * p_alive

        if codes is None:  # per user: users sharing a row are handled together
            lower, upper = np.empty(len(layout.x)), np.empty(len(layout.x))
            order = np.argsort(layout.row_of_user, kind="stable")
            chunk = max(1, 4_000_000 // n_draws)
            for start in range(0, len(order), chunk):
                users = order[start:start + chunk]
                rows, local = np.unique(layout.row_of_user[users], return_inverse=True)
                values = row_purchases(rows)[local] * gamma_gamma_expected_spend(
                    p, q, v, layout.x[users, None], layout.m[users, None]
                )
                lower[users], upper[users] = np.quantile(values, quantiles, axis=1)
            return point, lower, upper

        # sum over a group's users of purchases(row) * [(1 - w_x) pop + w_x m]
        #   = pop * (users per group x row) @ (P (1 - w)) + (spend per group x row) @ (P w)
        n_rows = len(layout.row_x)
        users_in = sparse.csc_matrix((np.ones(len(codes)), (codes, layout.row_of_user)), shape=(n_groups, n_rows))
        spend_in = sparse.csc_matrix(
            (np.where(layout.x > 0, layout.m, 0.0), (codes, layout.row_of_user)), shape=(n_groups, n_rows)
        )
        sums = np.zeros((n_groups, n_draws))
        chunk = max(1, 4_000_000 // n_draws)
        for start in range(0, n_rows, chunk):
            rows = np.arange(start, min(start + chunk, n_rows))
            purchases = row_purchases(rows)
            weight = gamma_gamma_spend_weight(p, q, layout.row_x[rows, None])
            sums += population_mean * (users_in[:, rows] @ (purchases * (1 - weight)))
            sums += spend_in[:, rows] @ (purchases * weight)
        lower, upper = np.quantile(sums, quantiles, axis=1)
        return np.bincount(codes, weights=point, minlength=n_groups), lower, upper


def _group_codes(groups, summary: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    if isinstance(groups, pd.Series):
        if not groups.index.equals(summary.index):
            raise ValueError("groups is a Series whose index differs from summary's; align it first")
        values = groups.to_numpy()
    else:
        values = np.asarray(groups)
    if len(values) != len(summary):
        raise ValueError(f"groups has {len(values)} labels for {len(summary)} summary rows")
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def _membership(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n_groups, len(codes)))


@dataclass(frozen=True)
class _Layout:
    """Users -> distinct (x, t_x, T) rows -> distinct (x, T): what each factor of eq. 10 depends on."""

    x: np.ndarray
    m: np.ndarray
    row_of_user: np.ndarray
    row_x: np.ndarray
    row_tx: np.ndarray
    row_T: np.ndarray
    xt_of_row: np.ndarray
    xt_x: np.ndarray
    xt_T: np.ndarray

    @classmethod
    def of(cls, summary: pd.DataFrame) -> "_Layout":
        x, tx, T, m = _summary_arrays(summary)
        (row_x, row_tx, row_T), _, row_of_user = _collapse(x, tx, T)
        (xt_x, xt_T), _, xt_of_row = _collapse(row_x, row_T)
        return cls(
            x=x, m=m if m is not None else np.zeros(len(x)), row_of_user=row_of_user,
            row_x=row_x, row_tx=row_tx, row_T=row_T, xt_of_row=xt_of_row, xt_x=xt_x, xt_T=xt_T,
        )
