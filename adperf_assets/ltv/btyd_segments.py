"""BG/NBD + Gamma-Gamma fits per segment (``fit_segments``): a segment's own fit where it has enough
repeat buyers, one pooled fit on every user for the others, and which model each row of a frame uses.

Thresholds and why: docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.ltv.btyd import fit_btyd
from adperf_assets.ltv.btyd_model import BTYDModel
from adperf_assets.ltv.btyd_rfm import _group_codes, summary_of
from adperf_assets.ltv.btyd_summary import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS
from adperf_assets.ltv.btyd_users import _theta, _users, _Users
from adperf_assets.ltv.keys import HORIZONS, SEGMENT_KEYS

MIN_REPEAT_BUYERS = 100  # a segment gets its own fit from this many repeat buyers on
MIN_POOLED_REPEAT_BUYERS = 20  # below this even the pooled fit is not attempted
#: A fit needs users watched this long: with a day or two of history BG/NBD's dropout is not
#: identified (r and alpha run off to ~1e6 and every prediction is NaN). Same floor as the cohort method.
MIN_OBSERVED_DAYS = 7
POOLED = "pooled"
NO_FIT = "none"


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


def _try_fit(summary: pd.DataFrame, penalizer: float, start=None
             ) -> tuple[BTYDModel | None, str, "_Users | None", "np.ndarray | None"]:
    span = float(summary["T"].max()) if len(summary) else 0.0
    if span < MIN_OBSERVED_DAYS:
        return None, f"users observed for at most {span:g} days < {MIN_OBSERVED_DAYS}", None, None
    try:
        model = fit_btyd(summary, penalizer=penalizer, start=start)
    except ValueError as exc:  # ConvergenceError is a ValueError
        return None, str(exc).splitlines()[0], None, None
    q = float(model.gamma_gamma.params_["q"])
    if not q > 1:
        return None, f"Gamma-Gamma q = {q:.3g} <= 1 (infinite mean spend)", None, None
    theta = _theta(model)
    users = _Users(summary["frequency"].to_numpy(float), summary["recency"].to_numpy(float),
                   summary["T"].to_numpy(float), summary["monetary_value"].to_numpy(float))
    ahead = users.purchases(np.exp(theta[:4]), max(HORIZONS)) * users.spend(np.exp(theta[4:]))
    if not (np.isfinite(theta).all() and np.isfinite(ahead).all()):
        p = model.params_
        return None, ("degenerate fit, predictions not finite: "
                      + ", ".join(f"{k}={float(p[k]):.3g}" for k in BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)), None, None
    return model, "", users, theta


def fit_segments(
    rfm: pd.DataFrame,
    *,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    min_pooled_repeat_buyers: int = MIN_POOLED_REPEAT_BUYERS,
    penalizer: float = 0.0,
    start: "SegmentFits | None" = None,
) -> SegmentFits:
    """Per-segment fits where the data allow, the pooled fit elsewhere (docs/ltv_btyd.md).

    ``start``: the fits of a neighbouring day (a range run's previous day); each model's optimiser starts
    from its parameters there (a segment without its own fit there from the pooled one). The optimum is
    the same to optimiser tolerance; cold fits where there is none."""
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
            model, why, users, theta = _try_fit(summary[mask], penalizer, _start(start, seg))
            if model is not None:
                fits.models[seg] = model
                fits._thetas[seg] = theta
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
            model, why, _, theta = _try_fit(summary, penalizer, _start(start, POOLED))
        else:
            model, why = None, f"{n_rep} repeat buyers in all < {min_pooled_repeat_buyers}"
        if model is not None:
            fits.models[POOLED] = model
            fits._thetas[POOLED] = theta
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


def _start(previous: "SegmentFits | None", key) -> np.ndarray | None:
    """The 7 parameters of ``key``'s model in ``previous`` (its segment's own, else the pooled one)."""
    if previous is None:
        return None
    key = key if key in previous.models else POOLED
    if key not in previous.models:
        return None
    return np.exp(previous.theta(key))  # cached there for its predictions


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
