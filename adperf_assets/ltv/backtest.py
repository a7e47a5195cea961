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

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def _check_sizes(df: pd.DataFrame) -> np.ndarray:
    if "cohort_size" not in df:
        raise ValueError("pool_cohorts needs a cohort_size column to weight the cohorts")
    n = df["cohort_size"].to_numpy(float)
    if (n <= 0).any() or ~np.isfinite(n).all():
        i = int(np.flatnonzero(~(n > 0) | ~np.isfinite(n))[0])
        raise ValueError(f"predictions row {df.index[i]!r}: cohort_size = {_show(df['cohort_size'].iloc[i])} must be > 0")
    return n


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
    n = _check_sizes(df)
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


# ---------------------------------------------------------------- many report days at once
#
# A daily back-test scores, each day, the rows whose cohorts completed in a trailing window: most rows
# are the same as the previous day's. ``backtest_days`` encodes the rows of a whole run once (integer
# codes for estimator, segment, cell, group) and scores each day with bincounts over the day's rows,
# so a day costs a few numpy passes instead of pandas group-bys on string keys.


@dataclass
class BacktestDay:
    """What ``backtest_days`` scored for one day."""

    day: pd.Timestamp
    selected: np.ndarray  # positions of the rows due that day
    kept: np.ndarray  # of those, the rows whose cell every estimator of the day has (``common_cohorts``)
    realised_max_abs_diff: float  # largest disagreement of the estimators' realised value of one cell


def _codes(frame: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Dense codes of the rows' ``cols`` in sorted order (as a sorted group-by numbers them) and the keys."""
    g = frame.groupby(cols, sort=True, dropna=False, observed=True)
    code = g.ngroup().to_numpy(np.int64)
    first = np.unique(code, return_index=True)[1]
    return code, frame[cols].iloc[first].reset_index(drop=True)


def _group_sum(gid: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Per group the sums of the columns of ``values`` in row order, NaN skipped, compensated exactly
    as pandas' group-by sum (Kahan): a pooled realised value that sits on an interval end must land
    on the same side of it as ``pool_cohorts`` puts it."""
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    rank = np.arange(len(g)) - np.searchsorted(g, g)  # position of the row within its group
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2 if len(rank) else 1))
    g, v = g[by_rank], values[order][by_rank]
    total = np.zeros((n_groups, values.shape[1]))
    comp = np.zeros_like(total)
    cols = np.arange(values.shape[1])[None, :]
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # the j-th row of every group at once
        gj, val = g[lo:hi, None], v[lo:hi]
        skip = np.isnan(val)
        with np.errstate(invalid="ignore"):
            y = val - comp[gj, cols]
            t = total[gj, cols] + y
            c = t - total[gj, cols] - y
        # an infinite value gives a NaN compensation: pandas resets it
        comp[gj, cols] = np.where(skip, comp[gj, cols], np.where(np.isnan(c), 0.0, c))
        total[gj, cols] = np.where(skip, total[gj, cols], t)
    return total


def _group_metrics(gid: np.ndarray, n_groups: int, p, r, lo, hi, w) -> tuple[np.ndarray, dict]:
    """``backtest_metrics`` by integer group id: the ids present (ascending) and their metric columns."""
    cohorts = np.bincount(gid, minlength=n_groups)
    pos = r > 0
    has = ~np.isnan(lo) & ~np.isnan(hi)
    rp = np.where(pos, r, 1.0)
    n_pos = np.bincount(gid, weights=pos, minlength=n_groups)
    ape = np.bincount(gid, weights=np.where(pos, np.abs(p - r) / rp, 0.0), minlength=n_groups)
    spe = np.bincount(gid, weights=np.where(pos, (p - r) / rp, 0.0), minlength=n_groups)
    abs_w = np.bincount(gid, weights=w * np.abs(p - r), minlength=n_groups)
    real_w = np.bincount(gid, weights=w * r, minlength=n_groups)
    n_has = np.bincount(gid, weights=has, minlength=n_groups)
    inside = np.bincount(gid, weights=has & (lo <= r) & (r <= hi), minlength=n_groups)
    present = np.flatnonzero(cohorts > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = {
            "cohorts": cohorts[present].astype(np.int64),
            "users": np.bincount(gid, weights=w, minlength=n_groups)[present],
            "zero_realised": (cohorts - n_pos)[present].astype(np.int64),
            "mape": np.where(n_pos > 0, ape / n_pos, np.nan)[present],
            "bias": np.where(n_pos > 0, spe / n_pos, np.nan)[present],
            "wape": np.where(real_w > 0, abs_w / real_w, np.nan)[present],
            "with_interval": n_has[present].astype(np.int64),
            "coverage": np.where(n_has > 0, inside / n_has, np.nan)[present],
        }
    return present, cols


def backtest_days(rows: pd.DataFrame, valid_from, valid_to, days, poolings: dict) -> tuple[pd.DataFrame, list[BacktestDay]]:
    """Per day of ``days``: the rows due that day (``valid_from <= day <= valid_to``, per row), kept
    where every estimator present that day has the cohort x segment x made_at_day x horizon (as
    ``btyd_ltv.common_cohorts``), scored per estimator x segment x made_at_day x horizon
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

    # integer codes: the metric group (sorted as backtest_metrics sorts) and, per pooling, the pooled cohort
    seg, seg_keys = _codes(rows, list(SEGMENT_KEYS))
    made, made_keys = _codes(rows, ["made_at_day"])
    hor, hor_keys = _codes(rows, ["horizon"])
    n_seg, n_made, n_hor = len(seg_keys), len(made_keys), len(hor_keys)
    group = ((est * n_seg + seg) * n_made + made) * n_hor + hor
    n_groups = n_est * n_seg * n_made * n_hor
    install = pd.to_datetime(rows["install_date"])
    period = {}
    for name, freq in poolings.items():
        if freq is not None:
            start = install.dt.to_period(freq.rstrip("S") if freq.endswith("S") else freq).dt.start_time
            period[name] = _codes(pd.DataFrame({"p": start}), ["p"])[0]
    n = rows["cohort_size"].to_numpy(float)
    p_all = rows["predicted_per_user"].to_numpy(float)
    lo_all, hi_all = rows["lower"].to_numpy(float), rows["upper"].to_numpy(float)
    no_interval = np.isnan(lo_all) | np.isnan(hi_all)

    parts = []
    for d in result:
        if len(d.kept) == 0:
            continue
        k = d.kept
        for name, freq in poolings.items():
            if freq is None:
                gid, p, rr, lo, hi, w = group[k], p_all[k], r[k], lo_all[k], hi_all[k], n[k]
            else:
                # size-weighted sums per pooled cohort (pool_cohorts), its metric group = its rows' group
                n_per = int(period[name].max()) + 1
                pid = group[k] * n_per + period[name][k]
                u, inv = np.unique(pid, return_inverse=True)
                nk = n[k]
                w = np.bincount(inv, weights=nk)
                sums = _group_sum(inv, len(u), np.column_stack([p_all[k], r[k], lo_all[k], hi_all[k]]) * nk[:, None])
                p, rr, lo, hi = (sums[:, i] / w for i in range(4))
                missing_interval = np.bincount(inv, weights=no_interval[k]) > 0
                lo[missing_interval] = np.nan
                hi[missing_interval] = np.nan
                gid = u // n_per
            present, cols = _group_metrics(gid, n_groups, p, rr, lo, hi, w)
            parts.append((d.day, name, present, cols))

    present = np.concatenate([pr for _, _, pr, _ in parts])
    h = present % n_hor
    m = (present // n_hor) % n_made
    s = (present // (n_hor * n_made)) % n_seg
    e = present // (n_hor * n_made * n_seg)
    out = pd.DataFrame({"report_date": np.repeat(np.array([d for d, _, _, _ in parts], dtype="datetime64[ns]"),
                                                 [len(pr) for _, _, pr, _ in parts]),
                        "pooling": np.repeat(np.array([nm for _, nm, _, _ in parts], dtype=object),
                                             [len(pr) for _, _, pr, _ in parts])})
    out["estimator"] = est_keys["estimator"].to_numpy()[e]
    for key in SEGMENT_KEYS:
        out[key] = seg_keys[key].to_numpy()[s]
    out["made_at_day"] = made_keys["made_at_day"].to_numpy()[m]
    out["horizon"] = hor_keys["horizon"].to_numpy()[h]
    for col in METRIC_COLUMNS:
        out[col] = np.concatenate([cols[col] for _, _, _, cols in parts])
    return out, result
