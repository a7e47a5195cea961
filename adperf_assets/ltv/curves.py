"""Segment curves of the studio method: install cohorts pooled the seed's way, fitted in one batch.

``ActivityCube`` holds the ``cohort_activity`` rows as arrays (segment x install cohort x day
since install). ``segment_curves(cube, estimate_days, window_days=90)`` builds, for every
segment and every estimate day ``e``, the curve the seed describes: the cohorts installed in the
trailing window ``[e - window_days + 1, e]`` combined so that day ``t`` pools the cohorts that
have reached ``t`` by ``e`` (``retention.combine_cohorts``; a test checks they agree), and fits
the blended retention (``retention.fit_many``: cleaned access rate, sBG MLE + rational NLS,
averaged) to all curves at once. The result (``CurveSet``) is what ``retention_fit`` stores
(``CurveSet.to_frame``, one row per segment x day since install) and what the LTV estimates read
(``estimates.estimate_ltv``), whether they come from that table (``CurveSet.from_frame``) or
straight from the cube (the back-test).

Per curve, beside the fit:

- ``revenue_per_user[t]`` mu(t): revenue per installed user at day ``t``. Observed days
  (``t < curve_days``) use the pooled revenue / pooled cohort size; later days the fitted
  retention times the tail ARPU and its age profile, ``mu(t) = arpu * g(t) / g_w * R(t)`` (below).
- ``arpu`` / ``arpu_se``: the seed's moving average of daily revenue per active user over the
  curve's last ``arpu_window`` (28) days, weighted by active users (= window revenue / active
  user-days, so days nobody was active in a small segment don't break it), with the weighted
  standard error of ``cohort.arpu_moving_average``. Revenue per active user falls with age on
  the sample world (buyers stop buying), so this late-age ARPU is used only beyond the observed
  days, where it belongs. A negative average (refunds above revenue) is floored at 0 and flagged.
- ``arpu_decay_tau`` / ``arpu_decay_k``: it keeps falling beyond the observed days, so the tail is
  ``mu(t) = arpu * g(t) / g_w * R(t)`` with the age profile ``g(t) = (1 + t / tau)^-k`` (g_w: its
  active-weighted mean over the ARPU window). A mixture of users whose spending stops at
  Gamma-distributed daily rates decays exactly so (the Laplace transform of the Gamma). One
  profile per estimate day, fitted (``arpu_age_profile``) to the revenue per active user of all
  segments' curves pooled over days 1..L-1 (a segment alone is too thin), each segment keeping
  its own level. k = 0 is the constant ARPU of the seed.
- ``user_revenue_cv``: the spread of revenue between users, sd / mean of revenue per user over
  the first ``h_ref = clip(curve_days // 2, 7, 28)`` days, estimated from the cohorts of the
  window as sum_c n_c (x_c - x)^2 / (K - 1) / x^2 (x_c: cohort c's revenue per user, x the
  size-weighted mean). It includes real differences between cohorts, so it errs wide. It sets
  how far one cohort's realised revenue strays from the expectation (the LTV interval).
- ``geometric_ratio`` (+ se): the baseline's daily retention ratio (``cohort.daily_retention_ratio``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.ltv.backtest import SEGMENT_KEYS
from adperf_assets.ltv.cohort import daily_retention_ratio
from adperf_assets.ltv.retention import MIN_DAYS, RetentionFits, clean_access_rate, fit_many

MAX_AGE = 365  # days since install the curves cover (t = 0..364): the longest LTV horizon
ARPU_WINDOW = 28
CV_MIN_DAYS, CV_MAX_DAYS = 7, 28
REVENUE_SOURCES = ("revenue_usd", "credited_usd")


class NotEnoughHistoryError(ValueError):
    """No segment has a week of activity yet: there is no curve to fit (the seed's first estimate
    comes after 7 days)."""


def _day_index(dates, origin: pd.Timestamp) -> np.ndarray:
    s = pd.to_datetime(pd.Series(dates))
    # naive datetimes cast to days in numpy; to_numpy("datetime64[D]") goes through one Timestamp per row
    d = s.to_numpy("datetime64[ns]").astype("datetime64[D]") if isinstance(s.dtype, np.dtype) else s.to_numpy("datetime64[D]")
    return (d - np.datetime64(origin.date(), "D")).astype(int)


@dataclass
class ActivityCube:
    """``cohort_activity`` rows as dense arrays: ``size[s, c]``, ``active[s, c, t]``, ``value[s, c, t]``.

    Cohort index ``c`` counts days from ``first_day``; a cell is known when ``c + t`` is on or
    before ``last_day``. ``cum_value[s, c, t]`` / ``cum_active`` are prefix sums over t < t.
    """

    segments: pd.DataFrame  # SEGMENT_KEYS, row s
    first_day: pd.Timestamp
    last_day: pd.Timestamp
    size: np.ndarray
    active: np.ndarray
    value: np.ndarray
    value_column: str
    max_age: int = MAX_AGE
    cum_value: np.ndarray = field(init=False, repr=False)
    cum_active: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        zeros = np.zeros(self.value.shape[:2] + (1,))
        self.cum_value = np.concatenate([zeros, np.cumsum(self.value, axis=2)], axis=2)
        self.cum_active = np.concatenate([zeros, np.cumsum(self.active, axis=2)], axis=2)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @classmethod
    def from_frame(cls, activity: pd.DataFrame, value: str = "revenue_usd", *, first_day=None, last_day=None,
                   max_age: int = MAX_AGE) -> "ActivityCube":
        """Cube of the cohorts installed on or after ``first_day`` (default: the first report_date).

        Cohorts installed before the first loaded activity day are partly seen and left out.
        Every cohort x segment must have a row for each day from its install to ``last_day``
        (default: the last report_date) or ``max_age``; a missing one (a partition that was not
        materialized) is an error naming it, never a silent zero.
        """
        need = ["report_date", "install_date", *SEGMENT_KEYS, "days_since_install", "cohort_size",
                "active_users", value]
        missing = [c for c in need if c not in activity.columns]
        if missing:
            raise ValueError(f"cohort activity is missing column(s) {missing}; it has {list(activity.columns)}")
        if value not in REVENUE_SOURCES:
            raise ValueError(f"value must be one of {REVENUE_SOURCES}, got {value!r}")
        df = activity
        if df.empty:
            raise ValueError("cohort activity has no rows; materialize cohort_activity for the window first")
        report = pd.to_datetime(df["report_date"])
        first = pd.Timestamp(first_day) if first_day is not None else report.min()
        last = pd.Timestamp(last_day) if last_day is not None else report.max()
        install = pd.to_datetime(df["install_date"])
        keep = ((install >= first) & (report <= last) & (df["days_since_install"] < max_age)).to_numpy()
        df = df.loc[keep]
        if df[value].isna().any():
            raise ValueError(f"cohort activity column {value} has missing values; "
                             "(credited_usd is empty when behavior_value was not used)")
        segs = (df[list(SEGMENT_KEYS)].drop_duplicates().sort_values(list(SEGMENT_KEYS))
                .reset_index(drop=True))
        s_idx = pd.MultiIndex.from_frame(segs).get_indexer(pd.MultiIndex.from_frame(df[list(SEGMENT_KEYS)]))
        c_idx = _day_index(df["install_date"], first)
        t_idx = df["days_since_install"].to_numpy().astype(int)
        C = (last - first).days + 1
        S = len(segs)
        dup = pd.DataFrame({"s": s_idx, "c": c_idx, "t": t_idx}).duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            r = df.iloc[i]
            raise ValueError(f"cohort activity has two rows for cohort {r['install_date']} x "
                             f"{tuple(r[k] for k in SEGMENT_KEYS)} on {r['report_date']}")
        size = np.zeros((S, C))
        active = np.zeros((S, C, max_age))
        val = np.zeros((S, C, max_age))
        size[s_idx, c_idx] = df["cohort_size"].to_numpy(float)
        active[s_idx, c_idx, t_idx] = df["active_users"].to_numpy(float)
        val[s_idx, c_idx, t_idx] = df[value].to_numpy(float)
        # every cohort x segment needs its rows for days 0 .. min(last - install, max_age - 1)
        counts = pd.DataFrame({"s": s_idx, "c": c_idx}).value_counts()
        expected = np.minimum(C - counts.index.get_level_values("c").to_numpy(), max_age)
        short = counts.to_numpy() != expected
        if short.any():
            s, c = counts.index[int(np.flatnonzero(short)[0])]
            have = set(t_idx[(s_idx == s) & (c_idx == c)])
            gap = next(t for t in range(int(expected[np.flatnonzero(short)[0]])) if t not in have)
            cohort = first + pd.Timedelta(days=int(c))
            raise ValueError(
                f"cohort activity has no row for cohort {cohort.date()} x {tuple(segs.iloc[s])} on "
                f"{(cohort + pd.Timedelta(days=gap)).date()} (day {gap} since install); materialize cohort_activity "
                "for every day of the window")
        sizes_bad = (np.abs(active) > size[:, :, None] + 1e-9)
        if sizes_bad.any():
            s, c, t = np.argwhere(sizes_bad)[0]
            raise ValueError(f"cohort {(first + pd.Timedelta(days=int(c))).date()} x {tuple(segs.iloc[s])}: "
                             f"{active[s, c, t]:.0f} active users on day {t} but only {size[s, c]:.0f} installed")
        return cls(segs, first, last, size, active, val, value, max_age)

    def segment_index(self, keys: pd.DataFrame) -> np.ndarray:
        """Row of each segment of ``keys`` in this cube (-1 if the cube has no such segment)."""
        return pd.MultiIndex.from_frame(self.segments).get_indexer(pd.MultiIndex.from_frame(keys[list(SEGMENT_KEYS)]))


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
        mine = pd.MultiIndex.from_frame(self.keys.assign(report_date=pd.to_datetime(self.keys["report_date"])))
        want = keys[list(SEGMENT_KEYS)].assign(report_date=pd.to_datetime(pd.Series(report_date, index=keys.index)))
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
        out["report_date"] = pd.to_datetime(out["report_date"]).astype("datetime64[ns]")
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
                 "curve_days": "int64", "cv_days": "int64", "platform": object, "attribution": object,
                 "network": object, "revenue_source": object}
        cols = ["report_date", *SEGMENT_KEYS, "days_since_install", "observed", "cohorts", "cohort_size",
                "active_users", "revenue_usd", "access_rate", "clean_access_rate", "retention", "retention_se",
                "active_days", "active_days_se", "revenue_per_user_usd", "window_days", "curve_days",
                "revenue_source", "arpu_usd", "arpu_se_usd", "arpu_floored", "user_revenue_cv", "cv_days",
                "cv_fallback", "geometric_ratio", "geometric_ratio_se", "sbg_alpha", "sbg_beta", "sbg_alpha_se",
                "sbg_beta_se", "sbg_converged", "sbg_log_likelihood", "rational_a", "rational_b", "rational_c",
                "rational_d", "rational_a_se", "rational_b_se", "rational_c_se", "rational_d_se", "rational_rss",
                "day0_rate", "arpu_decay_tau", "arpu_decay_k"]
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
        param_cols = [c for c in table.columns if c.startswith(("sbg_", "rational_", "arpu_decay_")) or c == "day0_rate"]
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


# ---------------------------------------------------------------------- pooling and fitting


def pooled_sums(cube: ActivityCube, seg: np.ndarray, end: np.ndarray, window_days: int):
    """Cohorts [e - window + 1, e] of segment s combined per day t (those that reached t by e).

    Returns (cohorts, n, active, value), each (K, max_age), and the observed days L (K,): the
    first day no cohort of the window has reached (or whose cohorts are all empty).
    """
    S, C, T = cube.active.shape
    t = np.arange(T)[None, :]
    lo = np.maximum(end - window_days + 1, 0)[:, None]
    hi = end[:, None] - t  # newest cohort that reached day t
    ok = hi >= lo
    hi_c = np.clip(hi, -1, C - 1) + 1  # prefix position (exclusive end)
    lo_c = np.broadcast_to(lo, hi.shape)
    s = seg[:, None]
    pn = np.concatenate([np.zeros((S, 1)), np.cumsum(cube.size, axis=1)], axis=1)
    pc = np.concatenate([np.zeros((S, 1)), np.cumsum(cube.size > 0, axis=1)], axis=1)
    n = np.where(ok, pn[s, hi_c] - pn[s, lo_c], 0.0)
    cohorts = np.where(ok, pc[s, hi_c] - pc[s, lo_c], 0.0)
    a = np.zeros(hi.shape)
    v = np.zeros(hi.shape)
    # prefix sums over cohorts, one segment at a time (bounded memory)
    for si in np.unique(seg):
        rows = np.flatnonzero(seg == si)
        pa = np.concatenate([np.zeros((1, T)), np.cumsum(cube.active[si], axis=0)], axis=0)
        pv = np.concatenate([np.zeros((1, T)), np.cumsum(cube.value[si], axis=0)], axis=0)
        tt = np.broadcast_to(t, (len(rows), T))
        a[rows] = np.where(ok[rows], pa[hi_c[rows], tt] - pa[lo_c[rows], tt], 0.0)
        v[rows] = np.where(ok[rows], pv[hi_c[rows], tt] - pv[lo_c[rows], tt], 0.0)
    empty = n <= 0
    L = np.where(empty.any(axis=1), empty.argmax(axis=1), T)
    beyond = t >= L[:, None]
    for arr in (n, a, v, cohorts):
        arr[beyond] = 0.0
    return cohorts, n, a, v, L


def _subset(fits: RetentionFits, idx: np.ndarray) -> RetentionFits:
    return RetentionFits(**{f: (getattr(fits, f)[idx] if f != "variance" else fits.variance)
                            for f in fits.__dataclass_fields__})


def _cumulative_se(fits: RetentionFits, points: np.ndarray, T: int, chunk: int = 256) -> np.ndarray:
    """Standard error of sum_{u<h} R(u) at h in ``points`` (others NaN), shape (K, T + 1)."""
    K = len(fits)
    se = np.full((K, T + 1), np.nan)
    se[:, 0] = 0.0
    pts = np.asarray(sorted(set(int(p) for p in points if 1 <= p <= T)), dtype=int)
    if len(pts) == 0:
        return se
    for i in range(0, K, chunk):
        idx = np.arange(i, min(K, i + chunk))
        se[np.ix_(idx, pts)] = _subset(fits, idx).cumulative(pts)[1]
    return se


def _arpu(active: np.ndarray, value: np.ndarray, L: np.ndarray, window: int):
    """Active-weighted moving average of daily ARPU over each curve's last ``window`` days, and its se."""
    K, T = active.shape
    t = np.arange(T)[None, :]
    start = np.maximum(L - window, 0)[:, None]
    inw = (t >= start) & (t < L[:, None])
    w = np.where(inw, active, 0.0)
    m = inw.sum(axis=1).astype(float)
    wsum = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(wsum > 0, np.where(inw, value, 0.0).sum(axis=1) / wsum, 0.0)
        x = np.where(w > 0, value / np.where(w > 0, active, 1.0), 0.0)
        var = (w**2 * (x - mean[:, None]) ** 2).sum(axis=1)
        se = np.where((wsum > 0) & (m > 1), np.sqrt(m / np.maximum(m - 1, 1) * var) / np.where(wsum > 0, wsum, 1), 0.0)
    floored = mean < 0
    return np.maximum(mean, 0.0), se, floored


DECAY_TAUS = np.geomspace(1.0, 1000.0, 19)
DECAY_KS = np.linspace(0.0, 2.0, 41)


def arpu_age_profile(active: np.ndarray, value: np.ndarray, L) -> tuple[np.ndarray, np.ndarray]:
    """Fit revenue per active user by day since install to ``A (1 + t / tau)^-k``, per row (module docstring).

    ``active`` / ``value``: (P, T) active users and revenue by day t; only days 1..L-1 are used
    (day 0, the install day, buys differently). Weighted least squares on the daily revenue per
    active user, weights = active users (days nobody was active count for nothing), A in closed
    form, (tau, k) on a grid (``DECAY_TAUS`` x ``DECAY_KS``). Returns (tau, k); k = 0 (no decay)
    where fewer than 3 days or no revenue.
    """
    a = np.atleast_2d(np.asarray(active, dtype=float))
    v = np.atleast_2d(np.asarray(value, dtype=float))
    if a.shape != v.shape:
        raise ValueError(f"active has shape {a.shape} but value has {v.shape}")
    P, T = a.shape
    L = np.broadcast_to(np.asarray(L, dtype=int), (P,))
    t = np.arange(T)
    use = (t[None, :] >= 1) & (t[None, :] < L[:, None]) & (a > 0)
    a = np.where(use, a, 0.0)
    v = np.where(use, v, 0.0)
    tau, k = np.meshgrid(DECAY_TAUS, DECAY_KS, indexing="ij")
    tau, k = tau.ravel(), k.ravel()
    g = (1.0 + t[None, :] / tau[:, None]) ** (-k[:, None])  # (grid, T)
    svg = v @ g.T  # (P, grid)
    sag = a @ (g**2).T
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where((sag > 0) & (svg > 0), svg**2 / sag, -np.inf)  # SSE = const - score
    best = score.argmax(axis=1)
    ok = (use.sum(axis=1) >= 3) & np.isfinite(score.max(axis=1))
    return np.where(ok, tau[best], 1.0), np.where(ok, k[best], 0.0)


def _user_cv(cum_value: np.ndarray, size: np.ndarray, lo: int, hi: int, h: int) -> float:
    """sd / mean of revenue per user over days < h, from cohorts lo..hi (module docstring)."""
    if hi < lo:
        return float("nan")
    n = size[lo:hi + 1]
    keep = n > 0
    if keep.sum() < 2:
        return float("nan")
    n = n[keep]
    x = cum_value[lo:hi + 1, h][keep] / n
    mean = float((n * x).sum() / n.sum())
    if mean <= 0:
        return float("nan")
    var = float((n * (x - mean) ** 2).sum() / (len(n) - 1))
    return float(np.sqrt(var) / mean)


def segment_curves(
    cube: ActivityCube,
    estimate_days,
    window_days: int = 90,
    *,
    arpu_window: int = ARPU_WINDOW,
    variance: str = "model_averaged",
    horizon_days: int = MAX_AGE,
    survival_se: bool = False,
    se_days=None,
    segments: np.ndarray | None = None,
) -> tuple[CurveSet, pd.DataFrame]:
    """Fit every segment's pooled curve as of each estimate day (module docstring).

    Returns the fitted ``CurveSet`` and a frame of the (day, segment) pairs that got no curve
    and why (fewer than 7 observed days, or nobody active on the install day). ``survival_se``
    adds the per-day standard error of R(t) (a per-curve loop: for the daily asset, not the
    back-test). ``se_days``: the horizons h at which the standard error of the expected active days
    sum_{t<h} R(t) is computed (default every day; the estimates need it at their horizons and at
    the end of each curve's observed days, so the back-test passes only those -- the rest is NaN).
    """
    if not 1 <= window_days <= cube.max_age:
        raise ValueError(f"window_days must be between 1 and {cube.max_age}, got {window_days}")
    if horizon_days > cube.max_age:
        raise ValueError(f"horizon_days {horizon_days} exceeds the cube's {cube.max_age} days since install")
    days = pd.DatetimeIndex(pd.to_datetime(list(estimate_days)))
    if len(days) and (days.max() > cube.last_day or days.min() < cube.first_day):
        raise ValueError(f"estimate days {days.min().date()}..{days.max().date()} are outside the activity "
                         f"loaded ({cube.first_day.date()}..{cube.last_day.date()})")
    S = len(cube.segments)
    seg_all = np.arange(S) if segments is None else np.asarray(segments)
    e_idx = _day_index(days, cube.first_day)
    seg = np.tile(seg_all, len(e_idx))
    end = np.repeat(e_idx, len(seg_all))
    cohorts, n, a, v, L = pooled_sums(cube, seg, end, window_days)
    cohorts, n, a, v = (x[:, :horizon_days] for x in (cohorts, n, a, v))
    L = np.minimum(L, horizon_days)
    ok = (L >= MIN_DAYS) & (a[:, 0] > 0)
    keys = cube.segments.iloc[seg].reset_index(drop=True)
    keys.insert(0, "report_date", cube.first_day + pd.to_timedelta(end, unit="D"))
    skipped = keys[~ok].assign(curve_days=L[~ok], reason=np.where(L[~ok] < MIN_DAYS, f"fewer than {MIN_DAYS} days",
                                                                 "nobody active on the install day"))
    keep = np.flatnonzero(ok)
    keys = keys.iloc[keep].reset_index(drop=True)
    seg, end, L = seg[keep], end[keep], L[keep]
    cohorts, n, a, v = cohorts[keep], n[keep], a[keep], v[keep]
    K, T = len(keep), horizon_days
    if K == 0:
        raise NotEnoughHistoryError(f"no segment has {MIN_DAYS} observed days of activity in the window; "
                                    f"the first estimate needs a week of data")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, a / np.where(n > 0, n, 1.0), 0.0)
    fits = fit_many(rate, np.where(n > 0, n, 1.0), L, variance=variance)
    R = fits.survival(np.arange(T))
    cum = np.concatenate([np.zeros((K, 1)), np.cumsum(R, axis=1)], axis=1)
    cum_se = _cumulative_se(fits, np.arange(1, T + 1) if se_days is None else se_days, T)
    r_se = np.full((K, T), np.nan)
    if survival_se:
        for k in range(K):
            r_se[k] = fits.blended(k).survival_se(np.arange(T))
    arpu, arpu_se, floored = _arpu(a, v, L, arpu_window)
    t = np.arange(T)[None, :]
    # one age profile of revenue per active user per estimate day, from all its segments pooled
    ends, which = np.unique(end, return_inverse=True)
    pool_a = np.zeros((len(ends), T))
    pool_v = np.zeros((len(ends), T))
    np.add.at(pool_a, which, a)
    np.add.at(pool_v, which, v)
    pool_L = np.zeros(len(ends), dtype=int)
    np.maximum.at(pool_L, which, L)
    d_tau, d_k = arpu_age_profile(pool_a, pool_v, pool_L)
    d_tau, d_k = d_tau[which], d_k[which]
    g = (1.0 + t / d_tau[:, None]) ** (-d_k[:, None])
    in_w = (t >= np.maximum(L - arpu_window, 0)[:, None]) & (t < L[:, None])
    wa = np.where(in_w, a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_w = np.where(wa.sum(axis=1) > 0, (wa * g).sum(axis=1) / wa.sum(axis=1), 1.0)
        mu = np.where(t < L[:, None], v / np.where(n > 0, n, 1.0), arpu[:, None] * g / g_w[:, None] * R)
    # spread of revenue between users, from the window's cohorts (and all segments pooled as fallback)
    lo = np.maximum(end - window_days + 1, 0)
    h_ref = np.clip(L // 2, CV_MIN_DAYS, CV_MAX_DAYS)
    cv = np.array([_user_cv(cube.cum_value[s], cube.size[s], lo_k, e - h + 1, h)
                   for s, lo_k, e, h in zip(seg, lo, end, h_ref)])
    all_cum = cube.cum_value.sum(axis=0)
    all_size = cube.size.sum(axis=0)
    fallback = np.array([_user_cv(all_cum, all_size, lo_k, e - h + 1, h) for lo_k, e, h in zip(lo, end, h_ref)])
    geo = np.array([daily_retention_ratio(rate[k, :L[k]]) for k in range(K)]).reshape(K, 2)
    se_sbg = np.sqrt(np.maximum(np.stack([fits.sbg_covariance[:, 0, 0], fits.sbg_covariance[:, 1, 1]], 1), 0))
    se_sbg = np.where(np.isnan(se_sbg), np.inf, se_sbg)
    rat_var = np.stack([fits.rational_covariance[:, i, i] for i in range(4)], 1)
    se_rat = np.where(np.isnan(rat_var), np.inf, np.sqrt(np.maximum(rat_var, 0)))
    params = pd.DataFrame({
        "sbg_alpha": fits.alpha, "sbg_beta": fits.beta, "sbg_alpha_se": se_sbg[:, 0], "sbg_beta_se": se_sbg[:, 1],
        "sbg_converged": fits.sbg_converged.astype(bool), "sbg_log_likelihood": fits.log_likelihood,
        **{f"rational_{p}": fits.rational[:, i] for i, p in enumerate("abcd")},
        **{f"rational_{p}_se": se_rat[:, i] for i, p in enumerate("abcd")},
        "rational_rss": fits.rss, "day0_rate": fits.day0, "arpu_decay_tau": d_tau, "arpu_decay_k": d_k,
    })
    curves = CurveSet(
        keys=keys, window_days=window_days, value_column=cube.value_column, curve_days=L, cohorts=cohorts,
        cohort_size=n, active_users=a, revenue=v, retention=R, retention_se=r_se, active_days=cum,
        active_days_se=cum_se, revenue_per_user=mu, arpu=arpu, arpu_se=arpu_se, arpu_floored=floored,
        user_revenue_cv=cv, cv_days=h_ref, cv_fallback=fallback, geometric_ratio=geo[:, 0],
        geometric_ratio_se=geo[:, 1], params=params,
    )
    return curves, skipped.reset_index(drop=True)
