"""Fitted segment curves (``CurveSet``): what ``retention_fit`` stores and what the LTV estimates read.

One curve per (estimate day, segment): the pooled counts, the blended retention, revenue per
installed user by age, tail ARPU and the spreads the intervals use; ``to_frame`` / ``from_frame``
convert to and from the table. What each field means: docs/ltv_cohort.md ("Segment curves").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.ltv.access_rate import clean_access_rate
from adperf_assets.ltv.keys import SEGMENT_KEYS


@dataclass
class CurveSet:
    """Fitted segment curves, one per (estimate day, segment); arrays indexed by curve, then day t."""

    keys: pd.DataFrame  # report_date + SEGMENT_KEYS, row k
    window_days: int
    value_column: str
    curve_days: np.ndarray  # (K,) observed days L
    cohorts: np.ndarray  # (K, T) cohorts that reached day t
    cohort_size: np.ndarray  # (K, T) n(t)
    active_users: np.ndarray  # (K, T)
    revenue: np.ndarray  # (K, T)
    retention: np.ndarray  # (K, T) blended R(t)
    retention_se: np.ndarray  # (K, T) (NaN when not computed)
    active_days: np.ndarray  # (K, T + 1) sum_{u < t} R(u)
    active_days_se: np.ndarray  # (K, T + 1)
    revenue_per_user: np.ndarray  # (K, T) mu(t)
    arpu: np.ndarray  # (K,)
    arpu_se: np.ndarray
    arpu_floored: np.ndarray  # (K,) bool
    user_revenue_cv: np.ndarray  # (K,) NaN when the window cannot tell
    cv_days: np.ndarray  # (K,) h_ref
    cv_fallback: np.ndarray  # (K,) all segments pooled, same day
    geometric_ratio: np.ndarray
    geometric_ratio_se: np.ndarray
    params: pd.DataFrame  # per curve: sbg_alpha, sbg_beta, *_se, sbg_converged, rational_a..d, *_se

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def horizon_days(self) -> int:
        return self.retention.shape[1]

    def access_rate(self) -> np.ndarray:
        """Observed pooled access rate, NaN beyond each curve's observed days."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.active_users / self.cohort_size
        t = np.arange(self.horizon_days)[None, :]
        return np.where(t < self.curve_days[:, None], r, np.nan)

    def index(self, report_date, keys: pd.DataFrame) -> np.ndarray:
        """Curve of each (report_date, segment) pair, -1 where there is none."""
        mine = pd.MultiIndex.from_frame(self.keys.assign(report_date=as_datetimes(self.keys["report_date"])))
        want = keys[list(SEGMENT_KEYS)].assign(report_date=as_datetimes(pd.Series(report_date, index=keys.index)))
        return mine.get_indexer(pd.MultiIndex.from_frame(want[["report_date", *SEGMENT_KEYS]]))

    # ------------------------------------------------------------------ the retention_fit table
    PER_CURVE = ["window_days", "curve_days", "revenue_source", "arpu_usd", "arpu_se_usd", "arpu_floored",
                 "user_revenue_cv", "cv_days", "cv_fallback", "geometric_ratio", "geometric_ratio_se"]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per curve x day since install (``retention_fit``)."""
        K, T = self.retention.shape
        rep = np.repeat(np.arange(K), T)
        t = np.tile(np.arange(T), K)
        rate = self.access_rate()
        clean = np.full_like(rate, np.nan)
        for k in range(K):
            L = int(self.curve_days[k])
            clean[k, :L] = clean_access_rate(rate[k, :L])
        out = self.keys.iloc[rep].reset_index(drop=True)
        out["report_date"] = as_datetimes(out["report_date"]).astype("datetime64[ns]")
        out["days_since_install"] = t.astype("int64")
        out["observed"] = t < self.curve_days[rep]
        out["cohorts"] = self.cohorts.ravel().astype("int64")
        out["cohort_size"] = self.cohort_size.ravel()
        out["active_users"] = self.active_users.ravel()
        out["revenue_usd"] = self.revenue.ravel()
        out["access_rate"] = rate.ravel()
        out["clean_access_rate"] = clean.ravel()
        out["retention"] = self.retention.ravel()
        out["retention_se"] = self.retention_se.ravel()
        out["active_days"] = self.active_days[:, 1:].ravel()
        out["active_days_se"] = self.active_days_se[:, 1:].ravel()
        out["revenue_per_user_usd"] = self.revenue_per_user.ravel()
        per = pd.DataFrame({
            "window_days": np.full(K, self.window_days, dtype="int64"), "curve_days": self.curve_days.astype("int64"),
            "revenue_source": self.value_column, "arpu_usd": self.arpu, "arpu_se_usd": self.arpu_se,
            "arpu_floored": self.arpu_floored.astype(bool), "user_revenue_cv": self.user_revenue_cv,
            "cv_days": self.cv_days.astype("int64"), "cv_fallback": self.cv_fallback,
            "geometric_ratio": self.geometric_ratio, "geometric_ratio_se": self.geometric_ratio_se,
        })
        per = pd.concat([per, self.params.reset_index(drop=True)], axis=1)
        return pd.concat([out, per.iloc[rep].reset_index(drop=True)], axis=1)

    @staticmethod
    def empty_frame() -> pd.DataFrame:
        """``to_frame``'s columns and types, no rows (a day before any segment has a week of data)."""
        types = {"report_date": "datetime64[ns]", "is_emulator": bool, "observed": bool, "arpu_floored": bool,
                 "sbg_converged": bool, "days_since_install": "int64", "cohorts": "int64", "window_days": "int64",
                 "curve_days": "int64", "cv_days": "int64", "fit_start_day": "int64", "platform": object,
                 "attribution": object, "network": object, "revenue_source": object}
        cols = ["report_date", *SEGMENT_KEYS, "days_since_install", "observed", "cohorts", "cohort_size",
                "active_users", "revenue_usd", "access_rate", "clean_access_rate", "retention", "retention_se",
                "active_days", "active_days_se", "revenue_per_user_usd", "window_days", "curve_days",
                "revenue_source", "arpu_usd", "arpu_se_usd", "arpu_floored", "user_revenue_cv", "cv_days",
                "cv_fallback", "geometric_ratio", "geometric_ratio_se", "sbg_alpha", "sbg_beta", "sbg_alpha_se",
                "sbg_beta_se", "sbg_converged", "sbg_log_likelihood", "rational_a", "rational_b", "rational_c",
                "rational_d", "rational_a_se", "rational_b_se", "rational_c_se", "rational_d_se", "rational_rss",
                "day0_rate", "fit_start_day", "fit_start_rate", "arpu_decay_tau", "arpu_decay_k"]
        return pd.DataFrame({c: pd.Series(dtype=types.get(c, float)) for c in cols})

    @classmethod
    def from_frame(cls, table: pd.DataFrame) -> "CurveSet":
        """Rebuild from ``to_frame`` rows (e.g. the stored ``retention_fit`` partition)."""
        need = ["report_date", *SEGMENT_KEYS, "days_since_install", *cls.PER_CURVE, "cohorts", "cohort_size",
                "active_users", "revenue_usd", "retention", "retention_se", "active_days", "active_days_se",
                "revenue_per_user_usd"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise ValueError(f"retention fit table is missing column(s) {missing}")
        if table.empty:
            raise ValueError("retention fit table has no rows")
        df = table.sort_values(["report_date", *SEGMENT_KEYS, "days_since_install"], kind="stable")
        g = df.groupby(["report_date", *SEGMENT_KEYS], sort=False, observed=True)
        T = int(g.size().iloc[0])
        if (g.size() != T).any() or not (df["days_since_install"].to_numpy().reshape(-1, T) == np.arange(T)).all():
            raise ValueError("retention fit table: every curve must have one row per day 0..T-1")
        K = len(df) // T
        first = df.iloc[::T].reset_index(drop=True)

        def arr(col):
            return df[col].to_numpy(float).reshape(K, T)

        zero = np.zeros((K, 1))
        sources = first["revenue_source"].unique()
        windows = first["window_days"].unique()
        if len(sources) != 1 or len(windows) != 1:
            raise ValueError(f"retention fit table mixes revenue sources {list(sources)} / windows {list(windows)}")
        param_cols = [c for c in table.columns if c.startswith(("sbg_", "rational_", "arpu_decay_", "fit_start_"))
                      or c == "day0_rate"]
        return cls(
            keys=first[["report_date", *SEGMENT_KEYS]].copy(), window_days=int(windows[0]),
            value_column=str(sources[0]), curve_days=first["curve_days"].to_numpy(int),
            cohorts=arr("cohorts"), cohort_size=arr("cohort_size"), active_users=arr("active_users"),
            revenue=arr("revenue_usd"), retention=arr("retention"), retention_se=arr("retention_se"),
            active_days=np.concatenate([zero, arr("active_days")], axis=1),
            active_days_se=np.concatenate([zero, arr("active_days_se")], axis=1),
            revenue_per_user=arr("revenue_per_user_usd"), arpu=first["arpu_usd"].to_numpy(float),
            arpu_se=first["arpu_se_usd"].to_numpy(float), arpu_floored=first["arpu_floored"].to_numpy(bool),
            user_revenue_cv=first["user_revenue_cv"].to_numpy(float), cv_days=first["cv_days"].to_numpy(int),
            cv_fallback=first["cv_fallback"].to_numpy(float), geometric_ratio=first["geometric_ratio"].to_numpy(float),
            geometric_ratio_se=first["geometric_ratio_se"].to_numpy(float),
            params=first[param_cols].reset_index(drop=True),
        )
