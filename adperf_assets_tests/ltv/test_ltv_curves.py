"""Pure LTV layers under the assets: cohort activity rows, pooled segment curves, cohort estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.activity import ACTIVITY_COLUMNS, cohort_activity, user_days
from adperf_assets.ltv.backtest import SEGMENT_KEYS
from adperf_assets.ltv.cohort import arpu_moving_average, geometric_ltv
from adperf_assets.ltv.curves import ActivityCube, CurveSet, _arpu, segment_curves
from adperf_assets.ltv.estimates import ESTIMATE_COLUMNS, estimate_ltv
from adperf_assets.ltv.retention import combine_cohorts

FIRST = pd.Timestamp("2025-01-01")
SEGS = [("android", "paid", "facebook", False), ("ios", "organic", "organic", False)]


def synthetic_activity(days: int = 80, seed: int = 3) -> pd.DataFrame:
    """Dense cohort_activity rows: sBG-like churn, Poisson purchases falling with age."""
    rng = np.random.default_rng(seed)
    rows = []
    for seg, (theta_a, theta_b) in zip(SEGS, [(0.7, 1.5), (0.7, 3.0)]):
        for c in range(days):
            n = int(rng.integers(15, 60))
            theta = rng.beta(theta_a, theta_b, n)
            life = rng.geometric(theta)
            for t in range(days - c):
                active = int((life > t).sum())
                revenue = float(rng.poisson(0.05 * active * np.exp(-t / 60)) * rng.gamma(5, 2))
                rows.append((FIRST + pd.Timedelta(days=c + t), FIRST + pd.Timedelta(days=c), *seg, t, n, active,
                             active, min(active, 3), revenue, revenue))
    df = pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)
    return df


@pytest.fixture(scope="module")
def activity():
    return synthetic_activity()


@pytest.fixture(scope="module")
def cube(activity):
    return ActivityCube.from_frame(activity)


def test_pooled_curve_is_combine_cohorts(activity, cube):
    e = FIRST + pd.Timedelta(days=70)
    curves, skipped = segment_curves(cube, [e], window_days=30)
    assert skipped.empty
    for k in range(len(curves)):
        seg = tuple(curves.keys.iloc[k][list(SEGMENT_KEYS)])
        rows = activity[(activity[list(SEGMENT_KEYS)].apply(tuple, axis=1) == seg)
                        & (activity["install_date"] > e - pd.Timedelta(days=30))
                        & (activity["report_date"] <= e)]
        ref = combine_cohorts(rows)
        L = int(curves.curve_days[k])
        assert L == len(ref) == 30
        np.testing.assert_allclose(curves.cohort_size[k, :L], ref["cohort_size"])
        np.testing.assert_allclose(curves.active_users[k, :L], ref["active_users"])
        np.testing.assert_allclose(curves.revenue[k, :L], ref["revenue_usd"])
        np.testing.assert_allclose(curves.access_rate()[k, :L], ref["access_rate"])
        np.testing.assert_array_equal(curves.cohorts[k, :L], ref["cohorts"])
        # observed days: mu is the pooled revenue per installed user; later: ARPU x fitted retention
        np.testing.assert_allclose(curves.revenue_per_user[k, :L], ref["revenue_usd"] / ref["cohort_size"])
        np.testing.assert_allclose(curves.revenue_per_user[k, L:], curves.arpu[k] * curves.retention[k, L:])
        assert (np.diff(curves.retention[k]) <= 1e-12).all() and curves.retention[k, 0] <= 1


def test_tail_arpu_is_the_weighted_moving_average(cube):
    curves, _ = segment_curves(cube, [FIRST + pd.Timedelta(days=60)], window_days=45)
    for k in range(len(curves)):
        L = int(curves.curve_days[k])
        a, v = curves.active_users[k, :L], curves.revenue[k, :L]
        daily = np.where(a > 0, v / np.maximum(a, 1), 0.0)
        mean, se = arpu_moving_average(daily, 28, active_users=a)
        assert curves.arpu[k] == pytest.approx(mean) and curves.arpu_se[k] == pytest.approx(se)
    mean, se, floored = _arpu(np.array([[2.0, 0.0, 2.0]]), np.array([[-5.0, 0.0, 1.0]]), np.array([3]), 28)
    assert mean[0] == 0.0 and floored[0]  # refunds above revenue: floored, flagged


def test_geometric_baseline_matches_cohort_module(cube):
    e = FIRST + pd.Timedelta(days=50)
    curves, _ = segment_curves(cube, [e], window_days=40)
    req = curves.keys.assign(install_date=e - pd.Timedelta(days=10))
    est, _ = estimate_ltv(curves, cube, req, horizons=(30, 90))
    for k in range(len(curves)):
        L = int(curves.curve_days[k])
        rate = curves.access_rate()[k, :L]
        a = curves.active_users[k, :L]
        ref = geometric_ltv(np.where(a > 0, curves.revenue[k, :L] / np.maximum(a, 1), 0.0), rate, horizons=(30, 90))
        mine = est[(est["estimator"] == "geometric")
                   & (est[list(SEGMENT_KEYS)].apply(tuple, axis=1) == tuple(curves.keys.iloc[k][list(SEGMENT_KEYS)]))]
        np.testing.assert_allclose(mine["ltv_per_user_usd"] / curves.arpu[k], ref["active_days"], rtol=1e-9)


def test_estimates_add_revenue_to_date_and_respect_their_interval(activity, cube):
    e = FIRST + pd.Timedelta(days=79)
    curves, _ = segment_curves(cube, [e], window_days=60)
    cohorts = activity[(activity["report_date"] == e)][["install_date", *SEGMENT_KEYS]].assign(report_date=e)
    est, unanswered = estimate_ltv(curves, cube, cohorts, horizons=(7, 30, 90, 180, 365))
    assert unanswered.empty and list(est.columns) == ESTIMATE_COLUMNS
    cohort = est[est["estimator"] == "cohort"]
    assert np.isfinite(cohort[["ltv_per_user_usd", "lower_usd", "upper_usd"]].to_numpy()).all()
    assert (cohort["lower_usd"] <= cohort["ltv_per_user_usd"] + 1e-12).all()
    assert (cohort["ltv_per_user_usd"] <= cohort["upper_usd"] + 1e-12).all()
    assert (cohort["lower_usd"] >= cohort["revenue_to_date_usd"] - 1e-12).all()
    # a horizon the cohort has already lived through is its realised revenue, with no uncertainty
    done = cohort[cohort["horizon"] <= cohort["observed_days"]]
    assert len(done) > 0
    for r in done.head(20).itertuples():
        rows = activity[(activity["install_date"] == r.install_date) & (activity["platform"] == r.platform)
                        & (activity["days_since_install"] < r.horizon)]
        assert r.ltv_per_user_usd == pytest.approx(rows["revenue_usd"].sum() / r.cohort_size)
        assert r.lower_usd == pytest.approx(r.ltv_per_user_usd) and r.upper_usd == pytest.approx(r.ltv_per_user_usd)
    young = cohort[cohort["observed_days"] < 7]
    assert (young["basis"] == "segment").all() and (young["activity_ratio"] == 1.0).all()
    assert (cohort.loc[cohort["observed_days"] >= 7, "basis"] == "cohort").all()
    grows = cohort.groupby(["install_date", *SEGMENT_KEYS])["ltv_per_user_usd"].apply(lambda s: s.is_monotonic_increasing)
    assert grows.all()


def test_round_trip_through_the_table_gives_the_same_estimates(activity, cube):
    days = [FIRST + pd.Timedelta(days=d) for d in (60, 61)]
    curves, _ = segment_curves(cube, days, window_days=45, survival_se=True)
    table = curves.to_frame()
    assert len(table) == len(curves) * 365 and table["retention_se"].notna().all()
    empty = CurveSet.empty_frame()
    assert list(empty.columns) == list(table.columns) and (empty.dtypes == table.dtypes).all()
    back = CurveSet.from_frame(table.sample(frac=1.0, random_state=0))  # order must not matter
    req = pd.concat([activity[activity["report_date"] == d][["install_date", *SEGMENT_KEYS]].assign(report_date=d)
                     for d in days], ignore_index=True)
    a, _ = estimate_ltv(curves, cube, req)
    b, _ = estimate_ltv(back, cube, req)
    pd.testing.assert_frame_equal(a, b)


def test_missing_activity_day_is_named(activity):
    gap = activity[~((activity["report_date"] == FIRST + pd.Timedelta(days=40))
                     & (activity["install_date"] == FIRST + pd.Timedelta(days=35)))]
    with pytest.raises(ValueError, match=r"no row for cohort 2025-02-05 .* on 2025-02-10 \(day 5 since install\)"):
        ActivityCube.from_frame(gap)


def test_too_little_history_has_no_curve(cube):
    curves, skipped = segment_curves(cube, [FIRST + pd.Timedelta(days=3), FIRST + pd.Timedelta(days=6)], 90)
    assert len(curves) == 2 and len(skipped) == 2
    assert (skipped["reason"] == "fewer than 7 days").all()
    assert (curves.curve_days == 7).all()


def test_cohort_activity_counts_each_user_once():
    seg = pd.DataFrame({
        "user_id": [1, 2, 3, 4], "install_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-02", "2024-01-01"]),
        "platform": ["ios", "ios", "android", "ios"], "attribution": ["paid", "paid", "organic", "paid"],
        "network": ["facebook", "facebook", "organic", "facebook"], "is_emulator": [False, False, False, False],
    })
    logins = pd.DataFrame({"report_date": pd.to_datetime(["2025-01-02"] * 3 + ["2025-01-03"]),
                           "user_id": [1, 3, 4, 2], "logins": [2, 1, 5, 1]})
    pay = pd.DataFrame({"report_date": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-02"]),
                        "user_id": [1, 1, 2], "net_usd": [1.5, 2.0, 4.0]})
    credit = pd.DataFrame({"report_date": pd.to_datetime(["2025-01-02"] * 2), "user_id": [1, 3],
                           "credited_usd": [3.0, 4.5]})
    out, summary = cohort_activity(seg, user_days(logins, pay, credit), pd.to_datetime(["2025-01-02", "2025-01-03"]),
                                   cohort_window_days=30)
    d2 = out[out["report_date"] == "2025-01-02"].set_index(["install_date", "platform"])
    ios = d2.loc[(pd.Timestamp("2025-01-01"), "ios")]
    assert (ios["cohort_size"], ios["active_users"], ios["logins"], ios["payers"]) == (2, 1, 2, 2)
    assert (ios["revenue_usd"], ios["credited_usd"], ios["days_since_install"]) == (7.5, 3.0, 1)
    android = d2.loc[(pd.Timestamp("2025-01-02"), "android")]
    assert (android["active_users"], android["credited_usd"], android["days_since_install"]) == (1, 4.5, 0)
    d3 = out[out["report_date"] == "2025-01-03"]
    assert len(d3) == 2 and d3["active_users"].sum() == 1  # zero rows are kept: days run without gaps
    assert summary.active_outside_window == 1 and summary.unknown_users == 0  # user 4 installed a year earlier
    with pytest.raises(ValueError, match="user 1 appears more than once"):
        cohort_activity(pd.concat([seg, seg.iloc[:1]]), user_days(logins, pay, None), [pd.Timestamp("2025-01-02")], 30)
    with pytest.raises(ValueError, match="no net_usd"):
        user_days(logins, pay.assign(net_usd=[1.0, np.nan, 2.0]), None)
