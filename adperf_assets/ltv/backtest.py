"""Back-test metrics for LTV estimators: predictions made early in a cohort's life vs what it realised.

Shared by the cohort (studio) back-test and the BTYD one, so both estimators are judged by
the same yardstick and the report can pick the more accurate per segment.

Input frame (one row per estimator x cohort x segment x made_at_day x horizon), columns
``PREDICTION_COLUMNS``:

- ``estimator``           e.g. "cohort", "geometric", "btyd"
- ``platform, attribution, network, is_emulator``   the segment keys (``SEGMENT_KEYS``)
- ``install_date``        the cohort
- ``made_at_day``         how many days of the cohort's life the estimate saw (7 = days 0..6)
- ``horizon``             days of revenue predicted (days 0..horizon-1 since install)
- ``predicted_per_user``  predicted revenue per installed user over the horizon
- ``lower, upper``        its interval (NaN when the estimator gives none; ``upper`` may be inf)
- ``realised_per_user``   the revenue per installed user the cohort actually made in the horizon

Optional ``cohort_size`` (users) is carried into the metrics as ``users``.

``pool_cohorts`` sums daily cohorts into bigger ones (install month, or all segments of a day)
before scoring: a daily cohort x segment of a small app has a handful of users, and its
realised revenue scatters so much around its expectation that even the true expected value
misses it by ~100% (sample world), so pooled cohorts say more about the estimator.

Metrics per group (``backtest_metrics``):

- ``mape``  mean of |predicted - realised| / realised over cohorts with realised > 0 (the
  seed's yardstick; a cohort that realised nothing has no percentage error and is counted in
  ``zero_realised`` instead of being silently dropped)
- ``bias``  mean of (predicted - realised) / realised over the same cohorts (> 0: over-estimates)
- ``wape``  sum |predicted - realised| / sum realised, weighted by cohort size when known
  (robust to small cohorts with tiny realised values)
- ``coverage``  share of cohorts whose [lower, upper] contains the realised value, over the
  cohorts that have an interval (``with_interval``; an infinite ``upper`` counts)
- ``cohorts``, ``zero_realised``, ``with_interval``, ``users``
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENT_KEYS = ("platform", "attribution", "network", "is_emulator")
PREDICTION_COLUMNS = [
    "estimator", *SEGMENT_KEYS, "install_date", "made_at_day", "horizon",
    "predicted_per_user", "lower", "upper", "realised_per_user",
]
#: Default grouping: per estimator, segment, how early, and horizon.
BY_SEGMENT = ["estimator", *SEGMENT_KEYS, "made_at_day", "horizon"]
#: Overall: every cohort x segment of an estimator pooled.
OVERALL = ["estimator", "made_at_day", "horizon"]
METRIC_COLUMNS = ["cohorts", "users", "zero_realised", "mape", "bias", "wape", "with_interval", "coverage"]


def _show(x) -> str:
    """A value for an error message without numpy's repr (``nan``, ``1.5``, ``'x'``)."""
    return repr(x.item() if hasattr(x, "item") else x)


def _finite(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def mape(predicted, realised) -> float:
    """Mean absolute percentage error over the pairs with realised > 0 (NaN if there are none)."""
    p, r = _finite(predicted, "predicted"), _finite(realised, "realised")
    if p.shape != r.shape:
        raise ValueError(f"predicted has {len(p)} values but realised has {len(r)}")
    keep = r > 0
    return float(np.mean(np.abs(p[keep] - r[keep]) / r[keep])) if keep.any() else float("nan")


def bias(predicted, realised) -> float:
    """Mean signed percentage error (predicted - realised) / realised over realised > 0."""
    p, r = _finite(predicted, "predicted"), _finite(realised, "realised")
    if p.shape != r.shape:
        raise ValueError(f"predicted has {len(p)} values but realised has {len(r)}")
    keep = r > 0
    return float(np.mean((p[keep] - r[keep]) / r[keep])) if keep.any() else float("nan")


def wape(predicted, realised, weights=None) -> float:
    """Weighted absolute percentage error: sum w |p - r| / sum w r (NaN if sum w r is 0)."""
    p, r = _finite(predicted, "predicted"), _finite(realised, "realised")
    w = np.ones_like(p) if weights is None else _finite(weights, "weights")
    if not (p.shape == r.shape == w.shape):
        raise ValueError("predicted, realised and weights must have the same length")
    den = float((w * r).sum())
    return float((w * np.abs(p - r)).sum() / den) if den > 0 else float("nan")


def coverage(lower, upper, realised) -> float:
    """Share of rows with lower <= realised <= upper, over rows that have an interval (no NaN end)."""
    lo, hi, r = _finite(lower, "lower"), _finite(upper, "upper"), _finite(realised, "realised")
    if not (lo.shape == hi.shape == r.shape):
        raise ValueError("lower, upper and realised must have the same length")
    has = ~np.isnan(lo) & ~np.isnan(hi)
    return float(np.mean((lo[has] <= r[has]) & (r[has] <= hi[has]))) if has.any() else float("nan")


def check_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a predictions-vs-realised frame; raise naming the row and column of the first bad value."""
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"predictions frame is missing column(s) {missing}; it has {list(df.columns)}")
    for col in ("made_at_day", "horizon", "predicted_per_user", "realised_per_user", "lower", "upper"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        # an interval end may be NaN (no interval) or infinite (unbounded); the rest must be finite
        bad = np.isnan(values) & df[col].notna().to_numpy() if col in ("lower", "upper") else ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"predictions row {df.index[i]!r}: {col} = {_show(df[col].iloc[i])} is not a finite number")
    for col in ("made_at_day", "horizon"):
        v = df[col].to_numpy(float)
        bad = (v < 1) | (v != np.round(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"predictions row {df.index[i]!r}: {col} = {_show(df[col].iloc[i])} must be a whole number >= 1")
    for col in ("estimator", "install_date", *SEGMENT_KEYS):
        bad = df[col].isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"predictions row {df.index[i]!r}: {col} is missing")
    lo, hi = df["lower"].to_numpy(float), df["upper"].to_numpy(float)
    bad = ~np.isnan(lo) & ~np.isnan(hi) & (lo > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"predictions row {df.index[i]!r}: lower {_show(lo[i])} is above upper {_show(hi[i])}")
    return df


def backtest_metrics(predictions: pd.DataFrame, by=BY_SEGMENT) -> pd.DataFrame:
    """MAPE, bias, WAPE and interval coverage per group of ``by`` (module docstring)."""
    df = check_predictions(predictions)
    by = list(by)
    unknown = [c for c in by if c not in df.columns]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not columns of the predictions frame")
    p = df["predicted_per_user"].to_numpy(float)
    r = df["realised_per_user"].to_numpy(float)
    lo, hi = df["lower"].to_numpy(float), df["upper"].to_numpy(float)
    w = df["cohort_size"].to_numpy(float) if "cohort_size" in df else np.ones(len(df))
    pos = r > 0
    has = ~np.isnan(lo) & ~np.isnan(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(pos, np.abs(p - r) / np.where(pos, r, 1.0), np.nan)
        spe = np.where(pos, (p - r) / np.where(pos, r, 1.0), np.nan)
    work = df[by].copy()
    work["_n"] = 1
    work["_users"] = w
    work["_zero"] = (~pos).astype(int)
    work["_ape"], work["_spe"] = ape, spe
    work["_abs_w"], work["_real_w"] = w * np.abs(p - r), w * r
    work["_has"] = has.astype(int)
    work["_cov"] = np.where(has, (lo <= r) & (r <= hi), np.nan)
    if not by:
        work["_all"] = "all"
        by = ["_all"]
    g = work.groupby(by, sort=True, dropna=False, observed=True)
    out = g.agg(cohorts=("_n", "sum"), users=("_users", "sum"), zero_realised=("_zero", "sum"),
                mape=("_ape", "mean"), bias=("_spe", "mean"), _abs_w=("_abs_w", "sum"),
                _real_w=("_real_w", "sum"), with_interval=("_has", "sum"), coverage=("_cov", "mean"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wape"] = np.where(out["_real_w"] > 0, out["_abs_w"] / out["_real_w"], np.nan)
    out = out.drop(columns=["_abs_w", "_real_w"]).reset_index()
    if by == ["_all"]:
        out = out.drop(columns=["_all"])
    return out[[c for c in by if c != "_all"] + METRIC_COLUMNS]


def pool_cohorts(predictions: pd.DataFrame, freq: str | None = "MS", *, across_segments: bool = False) -> pd.DataFrame:
    """Size-weighted sums of daily cohorts: per install period (``freq``, a pandas period alias
    such as "W" or "MS"; None keeps days) and, with ``across_segments``, over all segments (the
    segment keys then read "all").

    predicted / realised per user become totals over the pooled users divided by their number;
    lower / upper are pooled the same way, i.e. as if the cohorts' errors were perfectly
    correlated (they share the segment curve; for their independent luck this is conservative).
    Needs ``cohort_size``. A ``report_date`` column becomes the latest of the pooled rows' (the
    day the pooled realised value is complete); it is not a grouping key.
    """
    df = check_predictions(predictions)
    if "cohort_size" not in df:
        raise ValueError("pool_cohorts needs a cohort_size column to weight the cohorts")
    n = df["cohort_size"].to_numpy(float)
    if (n <= 0).any() or ~np.isfinite(n).all():
        i = int(np.flatnonzero(~(n > 0) | ~np.isfinite(n))[0])
        raise ValueError(f"predictions row {df.index[i]!r}: cohort_size = {_show(df['cohort_size'].iloc[i])} must be > 0")
    work = df.copy()
    install = pd.to_datetime(work["install_date"])
    if freq is not None:
        install = install.dt.to_period(freq.rstrip("S") if freq.endswith("S") else freq).dt.start_time
    work["install_date"] = install
    if across_segments:
        for k in SEGMENT_KEYS:
            work[k] = "all"
    for col in ("predicted_per_user", "lower", "upper", "realised_per_user"):
        work[col] = work[col].to_numpy(float) * n
    keys = ["estimator", *SEGMENT_KEYS, "install_date", "made_at_day", "horizon"]
    extra = {"report_date": ("report_date", "max")} if "report_date" in work else {}
    out = work.groupby(keys, sort=True, dropna=False, observed=True).agg(
        predicted_per_user=("predicted_per_user", "sum"), lower=("lower", "sum"), upper=("upper", "sum"),
        realised_per_user=("realised_per_user", "sum"), cohort_size=("cohort_size", "sum"),
        cohorts=("cohort_size", "size"), **extra).reset_index()
    for col in ("predicted_per_user", "lower", "upper", "realised_per_user"):
        out[col] = out[col] / out["cohort_size"]
    # a pooled interval exists only if every cohort in it had one
    missing = work.assign(_nan=work["lower"].isna() | work["upper"].isna()).groupby(
        keys, sort=True, dropna=False, observed=True)["_nan"].any().to_numpy()
    out.loc[missing, ["lower", "upper"]] = np.nan
    return out
