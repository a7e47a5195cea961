"""Back-test of the cohort LTV estimates on the history available at a day (no Dagster).

For a back-test day ``D``: every install cohort with at least ``max(horizons)`` days of realised
history (installed in ``[D - max(h) + 1 - cohort_days + 1, D - max(h) + 1]``), every segment,
and every ``made_at_day`` m < horizon: the estimate the cohort method would have published on
day ``c + m - 1`` (only data up to then: the segment curves pooled and fitted as of that day,
the cohort's first m days) -- the same ``curves.segment_curves`` + ``estimates.estimate_ltv``
path as the daily ``retention_fit`` / ``cohort_ltv`` assets -- against the revenue per
installed user the cohort realised in its first ``horizon`` days. Both estimators ("cohort",
"geometric") are scored. Output columns: ``backtest.PREDICTION_COLUMNS`` plus ``report_date``
(D), ``cohort_size``, ``basis`` and ``revenue_to_date_usd``; score it with
``backtest.backtest_metrics``.

The predictions do not depend on D (only on data up to ``c + m - 1`` and the realised value up
to ``c + h - 1 <= D``), so a run over many back-test days fits each (segment, day) curve once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.backtest import PREDICTION_COLUMNS, SEGMENT_KEYS
from adperf_assets.ltv.curves import ActivityCube, segment_curves
from adperf_assets.ltv.estimates import estimate_ltv

MADE_AT_DAYS = (7, 14, 30)
BACKTEST_HORIZONS = (30, 90, 180)
COHORT_DAYS = 180
BACKTEST_COLUMNS = ["report_date", *PREDICTION_COLUMNS, "cohort_size", "basis", "revenue_to_date_usd"]
_DTYPES = {"report_date": "datetime64[ns]", "install_date": "datetime64[ns]", "is_emulator": bool,
           "made_at_day": "int64", "horizon": "int64", "cohort_size": "int64", "predicted_per_user": float,
           "lower": float, "upper": float, "realised_per_user": float, "revenue_to_date_usd": float}


def empty_backtest() -> pd.DataFrame:
    """No rows, but the table's column types (a day before any cohort has enough history)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, object)) for c in BACKTEST_COLUMNS})


def history_days(horizons=BACKTEST_HORIZONS, cohort_days: int = COHORT_DAYS, window_days: int = 90,
                 made_at_days=MADE_AT_DAYS) -> int:
    """Days of cohort activity before D (D included) that a back-test day reads."""
    oldest_cohort = max(horizons) - 1 + cohort_days - 1
    return oldest_cohort + 1 + max(0, window_days - min(made_at_days))


def cohort_backtest(
    cube: ActivityCube,
    report_days,
    *,
    made_at_days=MADE_AT_DAYS,
    horizons=BACKTEST_HORIZONS,
    cohort_days: int = COHORT_DAYS,
    window_days: int = 90,
    confidence: float = 0.99,
) -> pd.DataFrame:
    """Predictions vs realised for every back-test day in ``report_days`` (module docstring)."""
    days = pd.DatetimeIndex(pd.to_datetime(list(report_days)))
    made = sorted(set(int(x) for x in made_at_days))
    hs = sorted(set(int(x) for x in horizons))
    if not made or not hs or min(made) < 1:
        raise ValueError(f"made_at_days {made_at_days} and horizons {horizons} must be whole days >= 1")
    if max(hs) > cube.max_age:
        raise ValueError(f"horizon {max(hs)} exceeds the {cube.max_age} days since install the activity covers")
    hmax = max(hs)
    if len(days) == 0:
        return empty_backtest()
    newest = days.max() - pd.Timedelta(days=hmax - 1)
    oldest = days.min() - pd.Timedelta(days=hmax - 1 + cohort_days - 1)
    sizes = pd.DataFrame({
        "install_date": np.repeat(cube.first_day + pd.to_timedelta(np.arange(cube.size.shape[1]), unit="D"),
                                  len(cube.segments)),
        "s": np.tile(np.arange(len(cube.segments)), cube.size.shape[1]),
        "cohort_size": cube.size.T.ravel(),
    })
    cohorts = sizes[(sizes["cohort_size"] > 0) & (sizes["install_date"] >= max(oldest, cube.first_day))
                    & (sizes["install_date"] <= newest)].reset_index(drop=True)
    if cohorts.empty:
        return empty_backtest()
    cohorts = pd.concat([cohorts, cube.segments.iloc[cohorts["s"]].reset_index(drop=True)], axis=1)
    req = pd.concat([cohorts.assign(made_at_day=m, report_date=cohorts["install_date"] + pd.Timedelta(days=m - 1))
                     for m in made], ignore_index=True)
    estimate_days = sorted(req["report_date"].unique())
    # the estimates read the error of the expected active days at their horizons and where each
    # curve's observed days end (<= window_days)
    se_days = set(hs) | set(range(1, window_days + 1)) | set(made)
    curves, _ = segment_curves(cube, estimate_days, window_days, se_days=se_days)
    est, _ = estimate_ltv(curves, cube, req[["report_date", "install_date", *SEGMENT_KEYS]], hs, confidence)
    est = est.rename(columns={"report_date": "made_on"})
    est["made_at_day"] = (est["made_on"] - est["install_date"]).dt.days + 1
    est = est[est["made_at_day"] < est["horizon"]]
    # realised revenue per installed user in the first h days
    c_idx = ((est["install_date"] - cube.first_day).dt.days).to_numpy()
    s_idx = cube.segment_index(est)
    h = est["horizon"].to_numpy()
    est["realised_per_user"] = cube.cum_value[s_idx, c_idx, h] / cube.size[s_idx, c_idx]
    est = est.rename(columns={"ltv_per_user_usd": "predicted_per_user", "lower_usd": "lower", "upper_usd": "upper"})
    out = []
    for d in days:
        lo = d - pd.Timedelta(days=hmax - 1 + cohort_days - 1)
        hi = d - pd.Timedelta(days=hmax - 1)
        part = est[(est["install_date"] >= lo) & (est["install_date"] <= hi)]
        out.append(part.assign(report_date=d))
    res = pd.concat(out, ignore_index=True)
    res["report_date"] = res["report_date"].astype("datetime64[ns]")
    res["made_at_day"] = res["made_at_day"].astype("int64")
    res = res.sort_values(["report_date", "estimator", *SEGMENT_KEYS, "install_date", "made_at_day", "horizon"],
                          kind="stable").reset_index(drop=True)
    return res[BACKTEST_COLUMNS]
