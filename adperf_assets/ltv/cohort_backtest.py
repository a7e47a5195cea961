"""Back-test of the cohort LTV estimates, each scored on the day its realised value became known (no Dagster).

A row is the estimate the daily assets would have published after m days of a cohort (only data
up to then, the same ``segment_curves`` + ``estimate_ltv`` path) next to the revenue per user it
realised in its first h days, written once, on the day that value completes.
Docs: docs/ltv_cohort.md ("Back-test").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.ltv.activity_cube import ActivityCube
from adperf_assets.ltv.backtest import PREDICTION_COLUMNS
from adperf_assets.ltv.estimates import estimate_ltv
from adperf_assets.ltv.keys import BACKTEST_HORIZONS, MADE_AT_DAYS, SEGMENT_KEYS
from adperf_assets.ltv.segment_fits import segment_curves

BACKTEST_COLUMNS = ["report_date", *PREDICTION_COLUMNS, "cohort_size", "basis", "revenue_to_date_usd"]
_DTYPES = {"report_date": "datetime64[ns]", "install_date": "datetime64[ns]", "is_emulator": bool,
           "made_at_day": "int64", "horizon": "int64", "cohort_size": "int64", "predicted_per_user": float,
           "lower": float, "upper": float, "realised_per_user": float, "revenue_to_date_usd": float}


def empty_backtest() -> pd.DataFrame:
    """No rows, but the table's column types (a day before any cohort has enough history)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, object)) for c in BACKTEST_COLUMNS})


def history_days(horizons=BACKTEST_HORIZONS, window_days: int = 90, made_at_days=MADE_AT_DAYS) -> int:
    """Days of cohort activity up to (and including) a completion day that its rows need."""
    return max(horizons) + max(0, window_days - min(made_at_days))


def as_of(table: pd.DataFrame, day, days: int = 180) -> pd.DataFrame:
    """The back-test on the history available at ``day``: rows completed in the trailing ``days``."""
    d = pd.Timestamp(day)
    report = as_datetimes(table["report_date"])
    return table[(report <= d) & (report > d - pd.Timedelta(days=days))]


def cohort_backtest(
    cube: ActivityCube,
    completion_days,
    *,
    made_at_days=MADE_AT_DAYS,
    horizons=BACKTEST_HORIZONS,
    window_days: int = 90,
    confidence: float = 0.99,
) -> pd.DataFrame:
    """Predictions vs realised for every (cohort, horizon) completed on one of ``completion_days``.

    The cube must hold the activity from ``history_days(...) - 1`` days before the first
    completion day through the last one.
    """
    days = pd.DatetimeIndex(pd.to_datetime(list(completion_days))).unique()
    made = sorted(set(int(x) for x in made_at_days))
    hs = sorted(set(int(x) for x in horizons))
    if not made or not hs or min(made) < 1:
        raise ValueError(f"made_at_days {made_at_days} and horizons {horizons} must be whole days >= 1")
    if max(hs) > cube.max_age:
        raise ValueError(f"horizon {max(hs)} exceeds the {cube.max_age} days since install the activity covers")
    if len(days) and days.max() > cube.last_day:
        raise ValueError(f"completion day {days.max().date()} is after the last activity day {cube.last_day.date()}")
    C = cube.size.shape[1]
    c_all = np.repeat(np.arange(C), len(cube.segments))
    s_all = np.tile(np.arange(len(cube.segments)), C)
    n_all = cube.size.T.ravel()
    install = cube.first_day + pd.to_timedelta(c_all, unit="D")
    # cohorts whose h-day horizon completes on one of the days, each with the estimates scored for that h
    # (made before it completes: m < h); an estimate scored for no horizon, e.g. the 30-day one of a cohort
    # completing only its 30-day horizon in the run, is not made (its segment curves would be fitted for nothing)
    done = {h: (install + pd.Timedelta(days=h - 1)).isin(days) & (n_all > 0) for h in hs}
    req = []
    for m in made:
        due = np.zeros(len(c_all), dtype=bool)
        for h in hs:
            if m < h:
                due |= done[h]
        pairs = pd.DataFrame({"c": c_all[due], "s": s_all[due]})
        cohorts = pd.concat([pd.DataFrame({"install_date": cube.first_day + pd.to_timedelta(pairs["c"].to_numpy(), unit="D")}),
                             cube.segments.iloc[pairs["s"].to_numpy()].reset_index(drop=True)], axis=1)
        req.append(cohorts.assign(report_date=cohorts["install_date"] + pd.Timedelta(days=m - 1)))
    req = pd.concat(req, ignore_index=True)
    if req.empty:
        return empty_backtest()
    req = req[req["report_date"] <= cube.last_day]
    estimate_days = sorted(req["report_date"].unique())
    # the estimates read the error of the expected active days at their horizons and where each
    # curve's observed days end (<= window_days)
    se_days = set(hs) | set(range(1, window_days + 1)) | set(made)
    curves, _ = segment_curves(cube, estimate_days, window_days, se_days=se_days)
    est, _ = estimate_ltv(curves, cube, req[["report_date", "install_date", *SEGMENT_KEYS]], hs, confidence)
    est = est.rename(columns={"report_date": "made_on"})
    est["made_at_day"] = (est["made_on"] - est["install_date"]).dt.days + 1
    est["report_date"] = est["install_date"] + pd.to_timedelta(est["horizon"] - 1, unit="D")
    est = est[(est["made_at_day"] < est["horizon"]) & est["report_date"].isin(days)].copy()
    if est.empty:
        return empty_backtest()
    # realised revenue per installed user in the first h days
    c_idx = ((est["install_date"] - cube.first_day).dt.days).to_numpy()
    s_idx = cube.segment_index(est)
    h = est["horizon"].to_numpy()
    est["realised_per_user"] = cube.cum_value[s_idx, c_idx, h] / cube.size[s_idx, c_idx]
    est = est.rename(columns={"ltv_per_user_usd": "predicted_per_user", "lower_usd": "lower", "upper_usd": "upper"})
    est["report_date"] = est["report_date"].astype("datetime64[ns]")
    est["made_at_day"] = est["made_at_day"].astype("int64")
    est = est.sort_values(["report_date", "estimator", *SEGMENT_KEYS, "install_date", "made_at_day", "horizon"],
                          kind="stable").reset_index(drop=True)
    return est[BACKTEST_COLUMNS]
