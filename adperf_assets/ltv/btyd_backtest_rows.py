"""The BTYD back-test's rows: milestone predictions of ``cohort_ltv_frame``, the revenue each cohort
realised, both joined with the other estimators' rows on the cells they all have, and the one-day
table ``ltv.backtest.backtest_days`` is tested against. docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adperf_assets.ltv.backtest import BY_SEGMENT, PREDICTION_COLUMNS, backtest_metrics, pool_cohorts
from adperf_assets.ltv.btyd_rfm import _DAY, _day, _group_codes
from adperf_assets.ltv.btyd_segments import NO_FIT
from adperf_assets.ltv.keys import BACKTEST_HORIZONS, MADE_AT_DAYS, SEGMENT_KEYS  # made at day k: days 0..k-1 seen


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
