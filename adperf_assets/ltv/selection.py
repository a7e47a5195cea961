"""Which LTV estimate the report uses: per segment and horizon, the estimator that back-tested better.

The cohort method's and BTYD's estimates of a cohort x segment x horizon are judged by their back-test
(``ltv.backtest.backtest_metrics``) at the matching milestone and horizon: the lower WAPE (or MAPE, with
``metric="mape"``) when both have enough back-tested cohorts, else the cohort method. The ``selection``
column names the rule applied; the rules, and why WAPE: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.activity_cube import number_segments
from adperf_assets.ltv.keys import BACKTEST_HORIZONS, MADE_AT_DAYS, SEGMENT_KEYS

MIN_COHORTS = 20
METRICS = ("wape", "mape")  # the back-test error the choice is made by; the first is the default
COHORT, BTYD = "cohort", "btyd"
CANDIDATE_COLUMNS = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "cohort_size", "age_days",
                     "ltv_per_user_usd", "lower_usd", "upper_usd"]
ESTIMATE_COLUMNS = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "cohort_size", "ltv_per_user_usd",
                    "lower_usd", "upper_usd", "estimator", "backtest_mape", "backtest_cohorts",
                    "backtest_made_at_day", "backtest_horizon", "other_mape", "selection"]


def milestone_for(age_days, made_at_days=MADE_AT_DAYS) -> np.ndarray:
    """The back-test milestone matching an estimate made with ``age_days + 1`` days observed."""
    seen = np.asarray(age_days, dtype=np.int64) + 1
    ms = np.sort(np.asarray(made_at_days, dtype=np.int64))
    i = np.searchsorted(ms, seen, side="right") - 1
    return ms[np.clip(i, 0, len(ms) - 1)]


def backtest_horizon_for(horizon, horizons=BACKTEST_HORIZONS) -> np.ndarray:
    """The back-tested horizon an estimate of ``horizon`` days is judged by (docs/ltv_btyd.md)."""
    h = np.asarray(horizon, dtype=np.int64)
    hs = np.sort(np.asarray(horizons, dtype=np.int64))
    i = np.searchsorted(hs, h, side="right") - 1
    return hs[np.clip(i, 0, len(hs) - 1)]


def _check(frame: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; has {list(frame.columns)}")


def choose_estimates(
    cohort: pd.DataFrame,
    btyd: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    min_cohorts: int = MIN_COHORTS,
    made_at_days=MADE_AT_DAYS,
    backtest_horizons=BACKTEST_HORIZONS,
    per_report_date: bool = False,
    metric: str = METRICS[0],
) -> pd.DataFrame:
    """One row per cohort x segment x horizon with the chosen estimate (``ESTIMATE_COLUMNS``).

    ``cohort`` and ``btyd``: candidate estimates (``CANDIDATE_COLUMNS``), per installed user.
    ``metrics``: back-test rows with ``estimator``, the segment keys, ``made_at_day``,
    ``horizon``, ``cohorts``, ``zero_realised``, ``mape`` and ``metric`` (the error compared: ``wape``,
    revenue-weighted, or ``mape``, a mean of ratios; ``backtest_mape`` / ``other_mape`` report the MAPE
    either way, ``selection`` says ``lower_<metric>``). With ``per_report_date`` the
    metrics carry a ``report_date`` too and each estimate is judged by its own day's back-test:
    many days in one call (sorted by report_date first), as if each day were chosen alone.
    """
    _check(cohort, CANDIDATE_COLUMNS, "cohort estimates")
    _check(btyd, CANDIDATE_COLUMNS, "btyd estimates")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    day_key = ["report_date"] if per_report_date else []
    _check(metrics, [*day_key, "estimator", *SEGMENT_KEYS, "made_at_day", "horizon", "cohorts", "zero_realised",
                     "mape", metric], "back-test metrics")
    keys = ["report_date", "install_date", *SEGMENT_KEYS, "horizon"]
    # the segments numbered once, in their sort order, for all three frames: the merges, checks and the final
    # sort go by that number instead of four object columns (most of the function's time on a range run)
    # (an empty frame's columns may be typeless: left out, so the segments keep the rows' dtypes)
    frames = {"cohort": cohort, "btyd": btyd, "metrics": metrics}
    rows = [name for name, f in frames.items() if len(f)] or list(frames)
    segs, seg = number_segments(pd.concat([frames[n][list(SEGMENT_KEYS)] for n in rows], ignore_index=True))
    seg_of = {n: np.zeros(0, dtype=np.int64) for n in frames}
    seg_of.update(zip(rows, np.split(seg, np.cumsum([len(frames[n]) for n in rows])[:-1])))
    coded = ["report_date", "install_date", "_seg", "horizon"]
    value_cols = ["cohort_size", "age_days", "ltv_per_user_usd", "lower_usd", "upper_usd"]
    sides = {}
    for name, frame in (("cohort", cohort), ("btyd", btyd)):
        side = frame[["report_date", "install_date", "horizon", *value_cols]].assign(_seg=seg_of[name])
        dup = side.duplicated(coded).to_numpy()
        if dup.any():
            raise ValueError(f"{name} estimates have more than one row for {frame.loc[dup, keys].iloc[0].to_dict()}")
        sides[name] = side[coded + value_cols]
    both = sides["cohort"].merge(sides["btyd"], on=coded, how="outer", suffixes=("_c", "_b"), indicator=True)
    age = both["age_days_c"].fillna(both["age_days_b"]).to_numpy()
    both["backtest_made_at_day"] = milestone_for(age, made_at_days)
    both["backtest_horizon"] = backtest_horizon_for(both["horizon"].to_numpy(), backtest_horizons)

    mkeys = [*day_key, "_seg", "made_at_day", "horizon"]
    m = metrics.assign(_n=metrics["cohorts"] - metrics["zero_realised"], _score=metrics[metric], _seg=seg_of["metrics"])
    for est, tag in ((COHORT, "c"), (BTYD, "b")):
        part = m.loc[m["estimator"] == est, mkeys + ["mape", "_score", "_n"]]
        if part.duplicated(mkeys).any():
            raise ValueError(f"back-test metrics have more than one {est} row per "
                             f"{'day x ' if day_key else ''}segment x made_at_day x horizon")
        part = part.rename(columns={"made_at_day": "backtest_made_at_day", "horizon": "backtest_horizon",
                                    "mape": f"mape_{tag}", "_score": f"score_{tag}", "_n": f"n_{tag}"})
        both = both.merge(part, on=[*day_key, "_seg", "backtest_made_at_day", "backtest_horizon"], how="left")
    for tag in ("c", "b"):
        both[f"n_{tag}"] = pd.to_numeric(both[f"n_{tag}"], errors="coerce").fillna(0).astype(np.int64)

    # a NaN estimate (an estimator that could not predict the cell) is no estimate
    has_c = both["_merge"].isin(["both", "left_only"]).to_numpy() & np.isfinite(both["ltv_per_user_usd_c"].to_numpy(float))
    has_b = both["_merge"].isin(["both", "right_only"]).to_numpy() & np.isfinite(both["ltv_per_user_usd_b"].to_numpy(float))
    mc, mb = both["mape_c"].to_numpy(float), both["mape_b"].to_numpy(float)
    sc, sb = both["score_c"].to_numpy(float), both["score_b"].to_numpy(float)
    enough = (both["n_c"].to_numpy() >= min_cohorts) & (both["n_b"].to_numpy() >= min_cohorts) \
        & np.isfinite(sc) & np.isfinite(sb)
    tie = enough & np.isclose(sb, sc, rtol=1e-12, atol=0.0)
    realised = age + 1 >= both["horizon"].to_numpy()  # the whole horizon is observed: nothing to estimate
    pick_b = (has_b & ~has_c) | (has_c & has_b & enough & ~tie & (sb < sc) & ~realised)
    selection = np.select(
        [realised, has_c & ~has_b, has_b & ~has_c, ~enough, tie],
        ["realised", "only_cohort", "only_btyd", "too_little_history", "tie"],
        default=f"lower_{metric}",
    )
    out = both[["report_date", "install_date"]].reset_index(drop=True)  # a RangeIndex: sort_values looks each key up in the index too
    where = both["_seg"].to_numpy()
    for k in SEGMENT_KEYS:
        out[k] = segs[k].to_numpy()[where]
    out["horizon"] = both["horizon"].to_numpy()
    for col in value_cols:
        out[col] = np.where(pick_b, both[f"{col}_b"], both[f"{col}_c"])
    out["estimator"] = np.where(pick_b, BTYD, COHORT)
    out["backtest_mape"] = np.where(realised, np.nan, np.where(pick_b, mb, mc))
    out["backtest_cohorts"] = np.where(realised, 0, np.where(pick_b, both["n_b"], both["n_c"])).astype(np.int64)
    out["backtest_made_at_day"] = both["backtest_made_at_day"].astype(np.int64)
    out["backtest_horizon"] = both["backtest_horizon"].astype(np.int64)
    out["other_mape"] = np.where(realised, np.nan, np.where(pick_b, mc, mb))
    out["selection"] = selection
    out["cohort_size"] = out["cohort_size"].astype(np.int64)
    out["_seg"] = where  # numbered in the segments' sort order: the same order as sorting by SEGMENT_KEYS
    out = out.sort_values([*day_key, "install_date", "_seg", "horizon"], kind="stable").reset_index(drop=True)
    return out[ESTIMATE_COLUMNS]
