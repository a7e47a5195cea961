"""Back-test metrics of LTV estimators: predictions made early in a cohort's life vs what it realised.

One yardstick for the cohort method and BTYD (MAPE, bias, WAPE, interval coverage), so the report can
pick the more accurate per segment. One frame (``backtest_metrics``, ``pool_cohorts``) and many report
days at once (``backtest_days``) are scored by the same integer-coded group sums.
Columns, metrics and why cohorts are pooled: docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.ltv.keys import SEGMENT_KEYS

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
    """MAPE, bias, WAPE and interval coverage (``METRIC_COLUMNS``) per group of ``by``, groups sorted.

    ``mape``/``bias``: mean of |p - r| / r and (p - r) / r over cohorts with realised r > 0 (the others
    are counted in ``zero_realised``); ``wape``: sum w |p - r| / sum w r, w = ``cohort_size`` when given
    (also summed as ``users``); ``coverage``: share of ``with_interval`` cohorts inside [lower, upper].
    """
    df = check_predictions(predictions)
    by = list(by)
    unknown = [c for c in by if c not in df.columns]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not columns of the predictions frame")
    gid, keys = _codes(df, by)
    w = df["cohort_size"].to_numpy(float) if "cohort_size" in df else np.ones(len(df))
    scores = _scores(gid, df["predicted_per_user"].to_numpy(float), df["realised_per_user"].to_numpy(float),
                     df["lower"].to_numpy(float), df["upper"].to_numpy(float), w)
    return pd.concat([keys.iloc[scores.index.to_numpy()].reset_index(drop=True),
                      scores.reset_index(drop=True)], axis=1)


def _check_sizes(df: pd.DataFrame) -> np.ndarray:
    if "cohort_size" not in df:
        raise ValueError("pool_cohorts needs a cohort_size column to weight the cohorts")
    n = df["cohort_size"].to_numpy(float)
    if (n <= 0).any() or ~np.isfinite(n).all():
        i = int(np.flatnonzero(~(n > 0) | ~np.isfinite(n))[0])
        raise ValueError(f"predictions row {df.index[i]!r}: cohort_size = {_show(df['cohort_size'].iloc[i])} must be > 0")
    return n


def _period_start(install: pd.Series, freq: str) -> pd.Series:
    return install.dt.to_period(freq.rstrip("S") if freq.endswith("S") else freq).dt.start_time


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
    _check_sizes(df)
    work = df[_POOL_KEYS].copy()
    install = as_datetimes(work["install_date"])
    work["install_date"] = install if freq is None else _period_start(install, freq)
    if across_segments:
        for k in SEGMENT_KEYS:
            work[k] = "all"
    gid, keys = _codes(work, _POOL_KEYS)
    pooled = _pooled(gid, df["cohort_size"].to_numpy(), *(df[c].to_numpy(float) for c in _VALUES))
    out = pd.concat([keys.iloc[pooled.index.to_numpy()].reset_index(drop=True), pooled.reset_index(drop=True)], axis=1)
    if "report_date" in df:
        out["report_date"] = df["report_date"].groupby(gid, sort=True).max().reset_index(drop=True)
    return out


# ----------------------------------------------------------------------------- the group sums
# Every metric is a sum, count or mean per integer group id, taken with pandas' group-by kernels: the
# same compensated (Kahan) sums in row order as a group-by on the key columns, so a pooled value that
# sits on an interval end lands on the same side of it whichever entry point computed it.

_POOL_KEYS = ["estimator", *SEGMENT_KEYS, "install_date", "made_at_day", "horizon"]
_VALUES = ("predicted_per_user", "lower", "upper", "realised_per_user")


def _codes(frame: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Dense codes of the rows' ``cols`` in sorted order (as a sorted group-by numbers them) and the keys."""
    if not cols:  # one group of every row
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=range(1 if len(frame) else 0))
    g = frame.groupby(cols, sort=True, dropna=False, observed=True)
    return g.ngroup().to_numpy(np.int64), g.size().index.to_frame(index=False)


def _pooled(gid: np.ndarray, sizes, p, lo, hi, r) -> pd.DataFrame:
    """Per group id present (ascending index): the size-weighted pooled ``_VALUES`` (NaN interval where a
    row has none), ``cohort_size`` (sum of ``sizes``, its dtype kept) and ``cohorts`` (rows)."""
    n = np.asarray(sizes, dtype=float)
    work = pd.DataFrame({"predicted_per_user": p * n, "lower": lo * n, "upper": hi * n, "realised_per_user": r * n,
                         "cohort_size": np.asarray(sizes)})
    g = work.groupby(gid, sort=True)
    out = g.sum()
    out["cohorts"] = g.size()
    for col in _VALUES:
        out[col] = out[col] / out["cohort_size"]
    # a pooled interval exists only if every cohort in it had one
    missing = pd.Series(np.isnan(lo) | np.isnan(hi)).groupby(gid, sort=True).any().to_numpy()
    out.loc[missing, ["lower", "upper"]] = np.nan
    return out


def _scores(gid: np.ndarray, p, r, lo, hi, w) -> pd.DataFrame:
    """``METRIC_COLUMNS`` per group id present (ascending index); ``backtest_metrics`` defines them."""
    pos = r > 0
    has = ~np.isnan(lo) & ~np.isnan(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(pos, np.abs(p - r) / np.where(pos, r, 1.0), np.nan)
        spe = np.where(pos, (p - r) / np.where(pos, r, 1.0), np.nan)
    sums = pd.DataFrame({"users": w, "zero_realised": (~pos).astype(int), "abs_w": w * np.abs(p - r),
                         "real_w": w * r, "with_interval": has.astype(int)}).groupby(gid, sort=True)
    means = pd.DataFrame({"mape": ape, "bias": spe, "coverage": np.where(has, (lo <= r) & (r <= hi), np.nan)})
    out = sums.sum()
    out.insert(0, "cohorts", sums.size())
    out = out.join(means.groupby(gid, sort=True).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wape"] = np.where(out["real_w"] > 0, out["abs_w"] / out["real_w"], np.nan)
    return out[METRIC_COLUMNS]


# ----------------------------------------------------------------------------- many report days at once
# A daily back-test scores, each day, the rows whose cohorts completed in a trailing window: most rows
# are the same as the previous day's. ``backtest_days`` encodes the rows of a whole run once (integer
# codes for estimator, cell, metric group, install period) and scores each day through ``_pooled`` / ``_scores`` on
# the day's rows, instead of pandas group-bys on string keys.


@dataclass
class BacktestDay:
    """What ``backtest_days`` scored for one day."""

    day: pd.Timestamp
    selected: np.ndarray  # positions of the rows due that day
    kept: np.ndarray  # of those, the rows whose cell every estimator of the day has (``common_cohorts``)
    realised_max_abs_diff: float  # largest disagreement of the estimators' realised value of one cell


def backtest_days(rows: pd.DataFrame, valid_from, valid_to, days, poolings: dict) -> tuple[pd.DataFrame, list[BacktestDay]]:
    """Per day of ``days``: the rows due that day (``valid_from <= day <= valid_to``, per row), kept
    where every estimator present that day has the cohort x segment x made_at_day x horizon (as
    ``btyd_backtest_rows.common_cohorts``), scored per estimator x segment x made_at_day x horizon
    (``BY_SEGMENT``) on each pooling of ``poolings`` (name -> ``pool_cohorts`` freq, None: daily
    cohorts as they are). Returns the metric rows (``report_date``, ``pooling`` and
    ``backtest_metrics``' columns; per day the poolings in order, groups sorted) and per day which
    rows it used. Needs ``cohort_size``; the rows any day uses are validated as ``pool_cohorts`` does.
    """
    missing = [c for c in [*PREDICTION_COLUMNS, "cohort_size"] if c not in rows.columns]
    if missing:
        raise ValueError(f"predictions frame is missing column(s) {missing}; it has {list(rows.columns)}")
    rows = rows.reset_index(drop=True)
    day_of = np.asarray(pd.to_datetime(pd.Series(days)).to_numpy("datetime64[ns]"), dtype="datetime64[ns]")
    vf = pd.to_datetime(pd.Series(valid_from)).to_numpy("datetime64[ns]")
    vt = pd.to_datetime(pd.Series(valid_to)).to_numpy("datetime64[ns]")
    # which rows each day uses, before any arithmetic on them
    est, est_keys = _codes(rows, ["estimator"])
    cell, _ = _codes(rows, ["install_date", *SEGMENT_KEYS, "made_at_day", "horizon"])
    n_est, n_cell = len(est_keys), int(cell.max()) + 1 if len(cell) else 0
    r = rows["realised_per_user"].to_numpy(float) if len(rows) else np.zeros(0)
    order = np.lexsort((r, cell))  # per cell by realised value: its spread is last - first
    result: list[BacktestDay] = []
    used = np.zeros(len(rows), dtype=bool)
    for day in day_of:
        sel = np.flatnonzero((vf <= day) & (day <= vt))
        if len(sel) == 0:
            result.append(BacktestDay(pd.Timestamp(day), sel, sel, 0.0))
            continue
        has = np.zeros((n_cell, n_est), dtype=bool)
        has[cell[sel], est[sel]] = True
        n_day = int(np.unique(est[sel]).size)
        keep = np.zeros(len(rows), dtype=bool)
        keep[sel] = has.sum(axis=1)[cell[sel]] == n_day
        used |= keep
        ks = order[keep[order]]
        spread = 0.0
        if len(ks):
            c = cell[ks]
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            ends = np.r_[starts[1:], len(c)] - 1
            spread = float(np.max(r[ks[ends]] - r[ks[starts]]))
        result.append(BacktestDay(pd.Timestamp(day), sel, np.flatnonzero(keep), spread))
    if not used.any():
        return pd.DataFrame(), result
    _check_sizes(check_predictions(rows[used]))  # the rows any day scores, checked as pool_cohorts checks them

    # the metric group of each row (numbered as backtest_metrics sorts them) and, per pooling, its install period
    group, group_keys = _codes(rows, BY_SEGMENT)
    period = {name: _codes(pd.DataFrame({"p": _period_start(as_datetimes(rows["install_date"]), freq)}), ["p"])[0]
              for name, freq in poolings.items() if freq is not None}
    sizes = rows["cohort_size"].to_numpy()
    values = [rows[c].to_numpy(float) for c in _VALUES]
    w_all = sizes.astype(float)
    parts = []
    for d in result:
        if len(d.kept) == 0:
            continue
        k = d.kept
        for name, freq in poolings.items():
            if freq is None:
                gid, (p, lo, hi, rr), w = group[k], [v[k] for v in values], w_all[k]
            else:  # pool_cohorts: a pooled cohort is a group x period; its metric group is its rows' group
                n_per = int(period[name].max()) + 1
                pooled = _pooled(group[k] * n_per + period[name][k], sizes[k], *(v[k] for v in values))
                gid = pooled.index.to_numpy() // n_per
                p, lo, hi, rr = (pooled[c].to_numpy(float) for c in _VALUES)
                w = pooled["cohort_size"].to_numpy(float)
            parts.append((d.day, name, _scores(gid, p, rr, lo, hi, w)))

    scores = pd.concat([s for _, _, s in parts])
    n_rows = [len(s) for _, _, s in parts]
    out = pd.DataFrame({"report_date": np.repeat(np.array([d for d, _, _ in parts], dtype="datetime64[ns]"), n_rows),
                        "pooling": np.repeat(np.array([nm for _, nm, _ in parts], dtype=object), n_rows)})
    keys = group_keys.iloc[scores.index.to_numpy()].reset_index(drop=True)
    return pd.concat([out, keys, scores.reset_index(drop=True)], axis=1), result
