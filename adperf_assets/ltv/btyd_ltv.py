"""BTYD LTV per user and per install cohort x segment, as the daily assets compute it (no Dagster here).

The pieces, each a plain function over DataFrames:

- ``user_rfm_frame(payments, segments, as_of)``: per user installed in the window, lifetimes'
  summary as of ``as_of`` (``rfm_summary``: birth = install day, purchase days after it,
  refunds netted) plus the revenue realised so far within each LTV horizon.
- ``fit_segments(rfm)``: BG/NBD + Gamma-Gamma (``fit_btyd``) per segment that has at least
  ``min_repeat_buyers`` repeat buyers, and one pooled fit on every user for the others (and
  for any segment whose own fit fails to converge or gives Gamma-Gamma q <= 1). A segment
  below the threshold is not fitted at all: a handful of repeat buyers gives parameters that
  swing from day to day, and the pooled fit is the stable answer for them.
- ``user_ltv_frame(fits, rfm)``: per user and horizon H, LTV over days 0..H-1 since install =
  revenue realised so far in that span + expected revenue on the days of it still ahead
  (H - 1 - age of them; none once the user is H days old).
- ``cohort_ltv_frame(fits, rfm)``: the same summed per install cohort x segment, with an
  interval on the expected part from the fit's parameter uncertainty by the delta method
  (gradient of the group's expected revenue w.r.t. the 7 log-parameters, times
  ``BTYDModel.log_params_covariance_``; log-normal form so it stays positive). The realised
  part is known and has no width. Not covered: the purchase noise of the cohort's own users
  (this is an interval on the expected value) -- the back-test's coverage says how much that
  matters for small cohorts.

Times are whole days of the report time zone; money is in the currency of ``net_usd``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from adperf_assets.ltv.backtest import BY_SEGMENT, PREDICTION_COLUMNS, backtest_metrics, pool_cohorts
from adperf_assets.ltv.btyd import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS, BTYDModel, fit_btyd
from adperf_assets.ltv.btyd_predict import bgnbd_alive_purchases, bgnbd_p_alive, gamma_gamma_expected_spend
from adperf_assets.ltv.rfm import rfm_summary
from adperf_assets.ltv.keys import BACKTEST_HORIZONS, HORIZONS, MADE_AT_DAYS, SEGMENT_KEYS  # made at day k: days 0..k-1 seen

WINDOW_DAYS = 365  # users installed in the trailing year are summarised and fitted
MIN_REPEAT_BUYERS = 100  # a segment gets its own fit from this many repeat buyers on
MIN_POOLED_REPEAT_BUYERS = 20  # below this even the pooled fit is not attempted
#: A fit needs users watched this long: with a day or two of history BG/NBD's dropout is not
#: identified (r and alpha run off to ~1e6 and every prediction is NaN). Same floor as the cohort method.
MIN_OBSERVED_DAYS = 7
CONFIDENCE = 0.99  # same level as the cohort method's interval
POOLED = "pooled"
NO_FIT = "none"
_DAY = np.timedelta64(1, "D")


def realised_column(horizon: int) -> str:
    return f"revenue_{horizon}d_usd"


def ltv_column(horizon: int) -> str:
    return f"ltv_{horizon}d_usd"


def _day(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return (ts.tz_localize(None) if ts.tzinfo else ts).normalize()


# ----------------------------------------------------------------------------- RFM


@dataclass
class RfmInputs:
    """What ``user_rfm_frame`` read, for the asset's log and metadata."""

    users: int = 0
    payment_rows: int = 0
    older_user_rows: int = 0  # payments of users installed before the window (not summarised)
    older_user_usd: float = 0.0


def user_rfm_frame(
    payments: pd.DataFrame,
    segments: pd.DataFrame,
    as_of,
    *,
    window_days: int = WINDOW_DAYS,
    horizons=HORIZONS,
    info: RfmInputs | None = None,
) -> pd.DataFrame:
    """One row per user installed in [as_of - window_days + 1, as_of]: segment keys, install_date,
    ``frequency, recency, T, monetary_value_usd`` (lifetimes' convention in days, via
    ``rfm_summary``), ``revenue_usd`` (net, install day to as_of) and ``revenue_{H}d_usd`` (net,
    days 0..min(H, age+1)-1 since install).

    ``payments``: rows with user_id, report_date, net_usd (any number per user and day; refunds
    already netted onto the purchase's day, as ``payments_snapshot`` has them). ``segments``:
    one row per user with install_date and the segment keys. Payments of users installed before
    the window are not summarised (counted in ``info``); a payment of a user installed inside
    the window but missing from ``segments`` cannot be told apart from those, so ``segments``
    must cover the whole window.
    """
    info = info if info is not None else RfmInputs()
    end = _day(as_of)
    start = end - pd.Timedelta(days=window_days - 1)
    for name, frame, cols in (("payments", payments, ["user_id", "report_date", "net_usd"]),
                              ("segments", segments, ["user_id", "install_date", *SEGMENT_KEYS])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} is missing column(s) {missing}; has {list(frame.columns)}")
    seg_days = segments["install_date"].to_numpy(dtype="datetime64[ns]")
    users = segments.loc[(seg_days >= start.to_datetime64()) & (seg_days <= end.to_datetime64()),
                         ["user_id", "install_date", *SEGMENT_KEYS]].reset_index(drop=True)
    pay_days = payments["report_date"].to_numpy(dtype="datetime64[ns]")
    pay = payments.loc[(pay_days >= start.to_datetime64()) & (pay_days <= end.to_datetime64()),
                       ["user_id", "report_date", "net_usd"]]
    known = pay["user_id"].isin(users["user_id"]).to_numpy()
    info.users = len(users)
    info.payment_rows = int(known.sum())
    info.older_user_rows = int((~known).sum())
    info.older_user_usd = float(pay.loc[~known, "net_usd"].sum())
    pay = pay[known]

    summary = rfm_summary(pay, end, users[["user_id", "install_date"]], revenue_col="net_usd")
    if np.array_equal(summary.index.to_numpy(), users["user_id"].to_numpy()):
        out = users  # rfm_summary keeps the installs' order: no reindex by user needed
    else:
        out = users.set_index("user_id").loc[summary.index].reset_index()
    out["frequency"] = summary["frequency"].to_numpy()
    out["recency"] = summary["recency"].to_numpy()
    out["T"] = summary["T"].to_numpy()
    out["monetary_value_usd"] = summary["monetary_value"].to_numpy()

    code = pd.Index(out["user_id"]).get_indexer(pay["user_id"])
    install = out["install_date"].to_numpy(dtype="datetime64[ns]")[code]
    age = (pay["report_date"].to_numpy(dtype="datetime64[ns]") - install) // _DAY
    net = pay["net_usd"].to_numpy(dtype=float)
    n = len(out)
    out["revenue_usd"] = np.bincount(code, weights=net, minlength=n)
    for h in horizons:
        out[realised_column(h)] = np.bincount(code, weights=np.where(age < h, net, 0.0), minlength=n)
    out.insert(0, "report_date", end)
    return out


def summary_of(rfm: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' summary (frequency, recency, T, monetary_value) of ``user_rfm`` rows."""
    return pd.DataFrame({
        "frequency": rfm["frequency"].to_numpy(dtype=np.int64),
        "recency": rfm["recency"].to_numpy(dtype=float),
        "T": rfm["T"].to_numpy(dtype=float),
        "monetary_value": rfm["monetary_value_usd"].to_numpy(dtype=float),
    }, index=pd.Index(rfm["user_id"].to_numpy(), name="user_id"))


# ----------------------------------------------------------------------------- fits


@dataclass
class SegmentFits:
    """Fitted models and which one each segment uses (``model_of``: segment tuple -> key of ``models``)."""

    models: dict = field(default_factory=dict)  # key: segment tuple or POOLED -> BTYDModel
    model_of: dict = field(default_factory=dict)  # segment tuple -> key in models, or NO_FIT
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per segment: users, repeat buyers, fit
    notes: list = field(default_factory=list)
    # what fit_segments worked out for its rfm frame, reused by user_ltv_frame / cohort_ltv_frame
    # when they are given that same frame object (the daily asset passes one frame to all three)
    _rfm: object = field(default=None, repr=False, compare=False)
    _segments: tuple = field(default=None, repr=False, compare=False)  # (codes, segment tuples)
    _users: dict = field(default_factory=dict, repr=False, compare=False)  # model key -> (rows, _Users)
    _thetas: dict = field(default_factory=dict, repr=False, compare=False)  # model key -> log-parameters

    def theta(self, key) -> np.ndarray:
        """A model's 7 log-parameters (read from its pandas params once, not once per use)."""
        if key not in self._thetas:
            self._thetas[key] = _theta(self.models[key])
        return self._thetas[key]

    def params(self) -> pd.DataFrame:
        rows = []
        for key, model in self.models.items():
            p = model.params_
            rows.append({"model": _label(key), "users": model.n_users_, "repeat_buyers": model.n_repeat_buyers_,
                         **{k: float(p[k]) for k in BGNBD_PARAMS + GAMMA_GAMMA_PARAMS}})
        return pd.DataFrame(rows)


def _label(key) -> str:
    return key if isinstance(key, str) else "/".join(str(k) for k in key)


def _try_fit(summary: pd.DataFrame, penalizer: float) -> tuple[BTYDModel | None, str, "_Users | None"]:
    span = float(summary["T"].max()) if len(summary) else 0.0
    if span < MIN_OBSERVED_DAYS:
        return None, f"users observed for at most {span:g} days < {MIN_OBSERVED_DAYS}", None
    try:
        model = fit_btyd(summary, penalizer=penalizer)
    except ValueError as exc:  # ConvergenceError is a ValueError
        return None, str(exc).splitlines()[0], None
    q = float(model.gamma_gamma.params_["q"])
    if not q > 1:
        return None, f"Gamma-Gamma q = {q:.3g} <= 1 (infinite mean spend)", None
    theta = _theta(model)
    users = _Users(summary["frequency"].to_numpy(float), summary["recency"].to_numpy(float),
                   summary["T"].to_numpy(float), summary["monetary_value"].to_numpy(float))
    ahead = users.purchases(np.exp(theta[:4]), max(HORIZONS)) * users.spend(np.exp(theta[4:]))
    if not (np.isfinite(theta).all() and np.isfinite(ahead).all()):
        p = model.params_
        return None, ("degenerate fit, predictions not finite: "
                      + ", ".join(f"{k}={float(p[k]):.3g}" for k in BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)), None
    return model, "", users


def fit_segments(
    rfm: pd.DataFrame,
    *,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    min_pooled_repeat_buyers: int = MIN_POOLED_REPEAT_BUYERS,
    penalizer: float = 0.0,
) -> SegmentFits:
    """Per-segment fits where the data allow, the pooled fit elsewhere (module docstring)."""
    fits = SegmentFits()
    summary = summary_of(rfm)
    repeat = summary["frequency"].to_numpy() > 0
    codes, segs = _group_codes(rfm, SEGMENT_KEYS)
    fits._rfm, fits._segments = rfm, (codes, segs)
    rows = []
    need_pooled = []
    for i, seg in enumerate(segs):
        mask = codes == i
        n_rep = int(repeat[mask].sum())
        row = {**dict(zip(SEGMENT_KEYS, seg)), "users": int(mask.sum()), "repeat_buyers": n_rep}
        if n_rep >= min_repeat_buyers:
            model, why, users = _try_fit(summary[mask], penalizer)
            if model is not None:
                fits.models[seg] = model
                fits._users[seg] = (np.flatnonzero(mask), users)  # the segment's rows are the model's
                fits.model_of[seg] = seg
                rows.append({**row, "fit": "segment", "note": ""})
                continue
            row["note"] = f"own fit failed: {why}"
        else:
            row["note"] = f"{n_rep} repeat buyers < {min_repeat_buyers}"
        need_pooled.append(seg)
        rows.append({**row, "fit": POOLED})
    if need_pooled:
        n_rep = int(repeat.sum())
        if n_rep >= min_pooled_repeat_buyers:
            model, why, _ = _try_fit(summary, penalizer)
        else:
            model, why = None, f"{n_rep} repeat buyers in all < {min_pooled_repeat_buyers}"
        if model is not None:
            fits.models[POOLED] = model
        else:
            fits.notes.append(f"pooled fit not available: {why}")
        for seg in need_pooled:
            fits.model_of[seg] = POOLED if model is not None else NO_FIT
        for row in rows:
            if row["fit"] == POOLED and model is None:
                row["fit"] = NO_FIT
                row["note"] = f"{row['note']}; pooled fit not available: {why}"
    fits.table = pd.DataFrame(rows, columns=[*SEGMENT_KEYS, "users", "repeat_buyers", "fit", "note"])
    return fits


# ----------------------------------------------------------------------------- predictions


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


def _theta(model: BTYDModel) -> np.ndarray:
    return np.log(model.params_[list(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)].to_numpy(dtype=float))


def _remaining(T: np.ndarray, horizon: int) -> np.ndarray:
    """Days of the horizon (days 0..H-1 since install) still ahead of a user observed through age T."""
    return np.maximum(horizon - 1 - T, 0.0)


def _users(rfm: pd.DataFrame, rows: np.ndarray) -> _Users:
    return _Users(rfm["frequency"].to_numpy(dtype=float)[rows], rfm["recency"].to_numpy(dtype=float)[rows],
                  rfm["T"].to_numpy(dtype=float)[rows], rfm["monetary_value_usd"].to_numpy(dtype=float)[rows])


def _segment_codes(fits: SegmentFits, rfm: pd.DataFrame) -> tuple[np.ndarray, list]:
    """``_group_codes(rfm, SEGMENT_KEYS)``, taken from ``fits`` when it was fitted on this very frame."""
    if fits._rfm is rfm and fits._segments is not None:
        return fits._segments
    return _group_codes(rfm, SEGMENT_KEYS)


def _model_codes(fits: SegmentFits, rfm: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Per row the index into ``keys`` of its model (-1: no fit) and the model keys."""
    keys = list(fits.models)
    where = {k: i for i, k in enumerate(keys)}
    seg_code, segs = _segment_codes(fits, rfm)
    per_seg = np.array([where.get(fits.model_of.get(s, NO_FIT), -1) for s in segs], dtype=np.int64)
    return (per_seg[seg_code] if len(rfm) else np.zeros(0, dtype=np.int64)), keys


def _model_users(fits: SegmentFits, rfm: pd.DataFrame, codes: np.ndarray, keys: list) -> dict:
    """Model key -> (its rows of ``rfm``, their ``_Users``) for the models with rows; shared through
    ``fits`` (with the memo ``fit_segments`` filled) when ``rfm`` is the frame it was fitted on."""
    same = fits._rfm is rfm
    out = {}
    for i, key in enumerate(keys):
        if same and key in fits._users:
            out[key] = fits._users[key]
            continue
        rows = np.flatnonzero(codes == i)
        if len(rows):
            out[key] = (rows, _users(rfm, rows))
            if same:
                fits._users[key] = out[key]
    return out


def _group_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Group number per row (groups sorted by ``keys``) and the groups' key tuples, as
    ``groupby(keys, sort=True, dropna=False)`` numbers them; one factorize per column and a
    mixed-radix code instead of pandas' groupby (which took ~15 ms a call on 50k rows)."""
    if len(frame) == 0:
        return np.zeros(0, dtype=np.int64), []
    key = np.zeros(len(frame), dtype=np.int64)
    levels, radix = [], []
    for k in keys:
        c, u = pd.factorize(frame[k], sort=True)
        if len(keys) < 2 or (c < 0).any() or np.prod([*radix, len(u)], dtype=float) > 2**62:
            g = frame.groupby(keys, sort=True, dropna=False)  # missing keys (pandas' own order), one key
            return g.ngroup().to_numpy(dtype=np.int64), list(g.size().index)
        key = key * len(u) + c
        levels.append(u)
        radix.append(len(u))
    uniq, inverse = np.unique(key, return_inverse=True)
    level_codes = []
    rest = uniq
    for n in radix[::-1]:
        level_codes.append(rest % n)
        rest = rest // n
    index = pd.MultiIndex(levels=levels, codes=level_codes[::-1], names=keys, verify_integrity=False)
    return inverse.astype(np.int64).reshape(-1), list(index)


def user_ltv_frame(fits: SegmentFits, rfm: pd.DataFrame, horizons=HORIZONS) -> pd.DataFrame:
    """Per user (keys and segment of ``rfm``): ``model`` used, ``p_alive``, ``expected_{H}d_usd``
    (revenue still ahead within the horizon) and ``ltv_{H}d_usd`` = realised + expected; NaN where
    no model could be fitted. The summary itself stays in ``rfm`` (one copy of it per day is plenty)."""
    codes, keys = _model_codes(fits, rfm)
    out = rfm[["report_date", "user_id", "install_date", *SEGMENT_KEYS]].reset_index(drop=True)
    labels = np.array([_label(k) for k in keys] + [NO_FIT], dtype=object)
    out["model"] = labels[codes]
    p_alive = np.full(len(rfm), np.nan)
    expected = {h: np.full(len(rfm), np.nan) for h in horizons}
    for key, (rows, users) in _model_users(fits, rfm, codes, keys).items():
        theta = fits.theta(key)
        r, alpha, a, b = np.exp(theta[:4])
        p_alive[rows] = bgnbd_p_alive(r, alpha, a, b, users.x, users.tx, users.T)
        spend = users.spend(np.exp(theta[4:]))
        for h in horizons:
            expected[h][rows] = users.purchases(np.exp(theta[:4]), h) * spend
    out["p_alive"] = p_alive
    for h in horizons:
        out[f"expected_{h}d_usd"] = expected[h]
    for h in horizons:
        out[ltv_column(h)] = rfm[realised_column(h)].to_numpy(dtype=float) + expected[h]
    return out


_STEP = 1e-4  # central-difference step in log-parameters (as BTYDModel's delta method)


def _group_expected(per_model: list, gcode: np.ndarray, n_groups: int, n_users: int,
                    horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: sum of expected revenue ahead, its delta-method standard deviation from the
    parameters, the standard deviation of the users' own revenue around it (``revenue_variance``)
    and the probability that none of them buys again within the horizon.

    ``per_model``: (rows, _Users, theta, covariance, groups of those rows) per model; every group
    belongs to one model. The per-user terms of all models are laid side by side and summed per
    group by one bincount each (a group's users are added in row order, as a per-model bincount
    would); groups of no model stay NaN."""
    value, var, log_p0 = np.zeros(n_users), np.zeros(n_users), np.zeros(n_users)
    diffs = np.zeros((7, n_users))
    for rows, users, theta, _, _ in per_model:
        bg, gg = np.exp(theta[:4]), np.exp(theta[4:])
        purchases = users.purchases(bg, horizon)
        spend = users.spend(gg)
        for k in range(7):
            step = np.zeros(7)
            step[k] = _STEP
            if k < 4:
                diffs[k, rows] = spend * (users.purchases(np.exp(theta[:4] + step[:4]), horizon)
                                          - users.purchases(np.exp(theta[:4] - step[:4]), horizon)) / (2 * _STEP)
            else:
                diffs[k, rows] = purchases * (users.spend(np.exp(theta[4:] + step[4:]))
                                              - users.spend(np.exp(theta[4:] - step[4:]))) / (2 * _STEP)
        value[rows] = purchases * spend
        var[rows] = users.revenue_variance(theta, horizon)
        log_p0[rows] = users.log_p_no_purchase(theta, horizon)
    grad = np.empty((n_groups, 7))
    for k in range(7):
        grad[:, k] = np.bincount(gcode, weights=diffs[k], minlength=n_groups)
    point = np.bincount(gcode, weights=value, minlength=n_groups)
    param_sd = np.full(n_groups, np.nan)
    for _, _, _, cov, mine in per_model:
        g = grad[mine]
        param_sd[mine] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov, g), 0.0))
    process_sd = np.sqrt(np.bincount(gcode, weights=var, minlength=n_groups))
    p_zero = np.exp(np.bincount(gcode, weights=log_p0, minlength=n_groups))
    fitted = np.zeros(n_groups, dtype=bool)
    for *_, mine in per_model:
        fitted[mine] = True
    for a in (point, process_sd, p_zero):
        a[~fitted] = np.nan
    return point, param_sd, process_sd, p_zero


INTERVALS = ("prediction", "expected")


def revenue_interval(point, sd, p_zero=0.0, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of revenue with mean ``point``, standard deviation ``sd`` and an atom
    ``p_zero`` at 0 (nobody buys): 0 with probability ``p_zero``, else log-normal with the
    matching conditional mean and variance. ``p_zero=0`` gives a plain log-normal (stays > 0).
    The interval is widened to contain ``point`` where the atom pushes the upper quantile below it."""
    point, sd = np.asarray(point, dtype=float), np.asarray(sd, dtype=float)
    p0 = np.clip(np.broadcast_to(np.asarray(p_zero, dtype=float), point.shape), 0.0, 1.0 - 1e-12)
    tail = (1.0 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = point / (1.0 - p0)  # given S > 0
        second = (sd**2 + point**2) / (1.0 - p0)
        s2 = np.log(np.maximum(second / mean**2, 1.0))
        mu = np.log(mean) - s2 / 2

        def quantile(q):
            level = (q - p0) / (1.0 - p0)
            inner = np.exp(mu + np.sqrt(s2) * stats.norm.ppf(np.clip(level, 1e-300, 1.0 - 1e-16)))
            return np.where((point > 0) & (level > 0), inner, 0.0)

        # a zero-heavy sum can have its mean above the upper quantile: keep the estimate inside
        return np.minimum(quantile(tail), point), np.maximum(quantile(1.0 - tail), point)


def cohort_ltv_frame(
    fits: SegmentFits, rfm: pd.DataFrame, horizons=HORIZONS, confidence: float = CONFIDENCE,
    interval: str = "prediction",
) -> pd.DataFrame:
    """Per install cohort x segment x horizon: ``cohort_size``, ``realised_usd``, ``expected_usd``,
    ``ltv_usd`` (their sum), ``ltv_per_user_usd`` with ``lower_usd``/``upper_usd`` (per user),
    ``param_sd_usd`` and ``process_sd_usd`` (of the group's expected part), ``age_days``, ``model``.

    ``interval="prediction"`` (default): for the revenue the cohort will realise -- parameter
    uncertainty (delta method) and the users' own purchase noise (``_Users.revenue_variance``)
    added in variance, with the chance that nobody in the cohort buys again as an atom at 0
    (``revenue_interval``); ``"expected"``: for its expected value, parameters only, log-normal.
    Either way on the part still ahead; the realised part is known.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    cols = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "age_days", "cohort_size", "realised_usd",
            "expected_usd", "param_sd_usd", "process_sd_usd", "ltv_usd", "ltv_per_user_usd", "lower_usd",
            "upper_usd", "model"]
    if len(rfm) == 0:
        return pd.DataFrame(columns=cols)
    codes, keys = _model_codes(fits, rfm)
    shared = _model_users(fits, rfm, codes, keys)
    seg_code, segs = _segment_codes(fits, rfm)
    rfm = rfm.reset_index(drop=True)
    group_keys = ["install_date", *SEGMENT_KEYS]
    day_code, day_values = pd.factorize(rfm["install_date"], sort=True)
    if (day_code < 0).any():
        gcode, groups = _group_codes(rfm, group_keys)
    else:  # groups numbered by (install day, segment), as groupby on group_keys does
        uniq, gcode = np.unique(day_code * len(segs) + seg_code, return_inverse=True)
        gcode = gcode.astype(np.int64).reshape(-1)
        groups = [(d, *segs[i]) for d, i in zip(day_values[uniq // len(segs)], uniq % len(segs))]
    n_groups = len(groups)
    size = np.bincount(gcode, minlength=n_groups).astype(float)
    gmodel = np.full(n_groups, -1)
    gmodel[gcode] = codes  # every user of a group shares its segment, hence its model
    labels = np.array([_label(k) for k in keys] + [NO_FIT], dtype=object)
    base = pd.DataFrame(groups, columns=group_keys)
    base.insert(0, "report_date", rfm["report_date"].iloc[0])
    age = ((base["report_date"] - base["install_date"]) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    per_model = []
    for key, (rows, users) in shared.items():
        model = fits.models[key]
        per_model.append((rows, users, fits.theta(key), model.log_params_covariance_.to_numpy(), np.unique(gcode[rows])))
    # rows in the order of the sort by install_date, segment, horizon: groups are numbered in
    # (install_date, segment) order, so that is group after group, each with its horizons
    n_h = len(horizons)
    order = np.argsort(np.asarray(horizons), kind="stable")
    hs = np.asarray(horizons, dtype=np.int64)[order]
    per_h = {name: np.empty((n_groups, n_h)) for name in
             ("realised", "point", "param_sd", "process_sd", "lower", "upper")}
    for j, hi in enumerate(order):
        h = horizons[hi]
        realised = np.bincount(gcode, weights=rfm[realised_column(h)].to_numpy(dtype=float), minlength=n_groups)
        point, param_sd, process_sd, p_zero = _group_expected(per_model, gcode, n_groups, len(rfm), h)
        if interval == "prediction":
            lower, upper = revenue_interval(point, np.hypot(param_sd, process_sd), p_zero, confidence)
        else:
            lower, upper = revenue_interval(point, param_sd, 0.0, confidence)
        for name, values in (("realised", realised), ("point", point), ("param_sd", param_sd),
                             ("process_sd", process_sd), ("lower", lower), ("upper", upper)):
            per_h[name][:, j] = values
    flat = {name: values.reshape(-1) for name, values in per_h.items()}
    realised, point = flat["realised"], flat["point"]
    size_rows = np.repeat(size, n_h)
    out = base.iloc[np.repeat(np.arange(n_groups), n_h)].reset_index(drop=True)
    out["horizon"] = np.tile(hs, n_groups)
    out["age_days"] = np.repeat(age, n_h)
    out["cohort_size"] = size_rows.astype(np.int64)
    out["realised_usd"] = realised
    out["expected_usd"] = point
    out["param_sd_usd"] = flat["param_sd"]
    out["process_sd_usd"] = flat["process_sd"]
    out["ltv_usd"] = realised + point
    out["ltv_per_user_usd"] = (realised + point) / size_rows
    out["lower_usd"] = np.where(np.isnan(point), np.nan, (realised + flat["lower"]) / size_rows)
    out["upper_usd"] = np.where(np.isnan(point), np.nan, (realised + flat["upper"]) / size_rows)
    out["model"] = np.repeat(labels[gmodel], n_h)
    return out[cols]


# ----------------------------------------------------------------------------- back-test rows



def milestone_predictions(cohort_ltv: pd.DataFrame, made_at_days=MADE_AT_DAYS, horizons=BACKTEST_HORIZONS) -> pd.DataFrame:
    """The rows of a day's ``cohort_ltv_frame`` that are back-test predictions: cohorts whose
    ``made_at_day`` (= age_days + 1) is a milestone before the horizon, in ``ltv.backtest``'s columns."""
    made = cohort_ltv["age_days"].to_numpy() + 1
    keep = np.isin(made, list(made_at_days)) & cohort_ltv["horizon"].isin(list(horizons)).to_numpy()
    keep &= made < cohort_ltv["horizon"].to_numpy()  # made at the horizon or later is no prediction
    keep &= cohort_ltv["model"].to_numpy() != NO_FIT
    sel = cohort_ltv[keep]
    return pd.DataFrame({
        "report_date": sel["report_date"].to_numpy(),
        "estimator": "btyd",
        **{k: sel[k].to_numpy() for k in ["install_date", *SEGMENT_KEYS]},
        "made_at_day": made[keep].astype(np.int64),
        "horizon": sel["horizon"].to_numpy(dtype=np.int64),
        "cohort_size": sel["cohort_size"].to_numpy(dtype=np.int64),
        "predicted_per_user": sel["ltv_per_user_usd"].to_numpy(dtype=float),
        "lower": sel["lower_usd"].to_numpy(dtype=float),
        "upper": sel["upper_usd"].to_numpy(dtype=float),
        "model": sel["model"].to_numpy(),
    })


def realised_per_cohort(
    payments: pd.DataFrame, segments: pd.DataFrame, as_of, horizons=BACKTEST_HORIZONS,
) -> pd.DataFrame:
    """Per install cohort x segment x horizon whose days 0..H-1 all lie on or before ``as_of``:
    ``cohort_size`` and ``realised_per_user`` (net revenue of the cohort's users in those days /
    cohort size). ``payments`` must hold every payment of ``segments``' users up to ``as_of``."""
    end = _day(as_of)
    users = segments[["user_id", "install_date", *SEGMENT_KEYS]].reset_index(drop=True)
    gkeys = ["install_date", *SEGMENT_KEYS]
    gcode, groups = _group_codes(users, gkeys)
    n_groups = len(groups)
    size = np.bincount(gcode, minlength=n_groups)
    pay = payments[payments["report_date"] <= end]
    code = pd.Index(users["user_id"]).get_indexer(pay["user_id"])
    pay, code = pay[code >= 0], code[code >= 0]
    install = users["install_date"].to_numpy(dtype="datetime64[ns]")[code]
    age = (pay["report_date"].to_numpy(dtype="datetime64[ns]") - install) // _DAY
    net = pay["net_usd"].to_numpy(dtype=float)
    base = pd.DataFrame(list(groups), columns=gkeys)
    frames = []
    for h in horizons:
        revenue = np.bincount(gcode[code], weights=np.where(age < h, net, 0.0), minlength=n_groups)
        done = (base["install_date"] + pd.Timedelta(days=h - 1) <= end).to_numpy()
        f = base[done].copy()
        f["horizon"] = h
        f["cohort_size"] = size[done]
        f["realised_per_user"] = revenue[done] / size[done]
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=[*gkeys, "horizon", "cohort_size", "realised_per_user"])
    return pd.concat(frames, ignore_index=True)


def join_realised(predictions: pd.DataFrame, realised: pd.DataFrame, carry: tuple[str, ...] = ()) -> pd.DataFrame:
    """Predictions (``milestone_predictions`` rows) next to what their cohort realised, in
    ``ltv.backtest``'s columns plus ``cohort_size`` (and the ``carry`` columns of the predictions);
    predictions whose horizon has not been realised yet are left out (they are not errors, just not due)."""
    keys = ["install_date", *SEGMENT_KEYS, "horizon"]
    cols = ["estimator", "install_date", *SEGMENT_KEYS, "made_at_day", "horizon", "predicted_per_user", "lower",
            "upper"]
    out = predictions[[*cols, *carry]].merge(realised[keys + ["cohort_size", "realised_per_user"]], on=keys,
                                             how="inner", validate="many_to_one")
    return out[[*cols, "realised_per_user", "cohort_size", *carry]]


def due_rows(predictions: pd.DataFrame, realised: pd.DataFrame, cohort_rows: pd.DataFrame, window_days: int,
             metrics_days: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The back-test rows of a run of days, each with the first and last report day it is scored on,
    so ``ltv.backtest.backtest_days`` scores every day from one table instead of re-filtering the
    window per day. A BTYD prediction (made on its ``report_date``) next to its cohort's realised
    revenue (``realised``: as of the run's last day -- a completed horizon's revenue no longer
    changes) is due from the day it exists and its horizon is complete until the completion leaves
    the ``metrics_days`` scored or the install leaves the ``window_days`` read; a ``cohort_ltv_backtest``
    row from its completion day for ``metrics_days``. Same rows on each day as filtering per day."""
    window, scored = pd.Timedelta(days=window_days - 1), pd.Timedelta(days=metrics_days - 1)
    ours = join_realised(predictions, realised, carry=("report_date",))
    completed = ours["install_date"] + pd.to_timedelta(ours["horizon"] - 1, unit="D")
    rows = pd.concat([ours.drop(columns="report_date"), cohort_rows[[*PREDICTION_COLUMNS, "cohort_size"]]],
                     ignore_index=True)
    ns = "datetime64[ns]"
    valid_from = np.concatenate([np.maximum(ours["report_date"].to_numpy(ns), completed.to_numpy(ns)),
                                 cohort_rows["report_date"].to_numpy(ns)])
    valid_to = np.concatenate([np.minimum((completed + scored).to_numpy(ns), (ours["install_date"] + window).to_numpy(ns)),
                               (cohort_rows["report_date"] + scored).to_numpy(ns)])
    return rows, valid_from, valid_to


POOLINGS = {"monthly": "MS", "daily": None}  # back-test metrics on install-month cohorts and on daily ones


@dataclass
class Comparison:
    """What ``common_cohorts`` kept and dropped, for the asset's metadata."""

    rows: int = 0
    dropped: dict = field(default_factory=dict)  # estimator -> rows without a counterpart
    realised_max_abs_diff: float = 0.0  # the estimators' realised values of the same cohort should agree


def common_cohorts(frames: list[pd.DataFrame], info: Comparison | None = None) -> pd.DataFrame:
    """Union of back-test rows of several estimators, kept where EVERY estimator has a row for the
    cohort x segment x made_at_day x horizon, so their MAPEs are over the same cohorts. The
    realised value is each frame's own; their largest disagreement goes to ``info``."""
    info = info if info is not None else Comparison()
    keys = ["install_date", *SEGMENT_KEYS, "made_at_day", "horizon"]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    allrows = pd.concat(frames, ignore_index=True)
    per_key = allrows.groupby(keys, dropna=False)["estimator"].transform("nunique")
    n_est = allrows["estimator"].nunique()
    keep = (per_key == n_est).to_numpy()
    info.dropped = allrows.loc[~keep, "estimator"].value_counts().to_dict()
    out = allrows[keep].reset_index(drop=True)
    g = out.groupby(keys, dropna=False)["realised_per_user"]
    spread = g.max() - g.min()
    info.realised_max_abs_diff = float(spread.max()) if len(spread) else 0.0
    info.rows = len(out)
    return out


def backtest_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``backtest_metrics`` per estimator x segment x made_at_day x horizon, on install-month
    cohorts (``pooling="monthly"``, what the selection uses: a daily cohort x segment has a handful
    of users, whose realised revenue scatters too much to tell estimators apart) and on the daily
    cohorts (``"daily"``). One day's definition: ``ltv.backtest.backtest_days`` scores many days at
    once and is tested against it."""
    out = []
    for name, freq in POOLINGS.items():
        pooled = pool_cohorts(rows, freq) if freq else rows
        out.append(backtest_metrics(pooled, by=BY_SEGMENT).assign(pooling=name))
    return pd.concat(out, ignore_index=True)
