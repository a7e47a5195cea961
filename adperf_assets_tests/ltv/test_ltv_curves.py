"""Pure LTV layers under the assets: cohort activity rows, pooled segment curves, cohort estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.activity import ACTIVITY_COLUMNS, cohort_activity, user_days
from adperf_assets.ltv.backtest import SEGMENT_KEYS
from adperf_assets.ltv.cohort import arpu_moving_average, geometric_ltv
from adperf_assets.ltv.curves import ActivityCube, CurveSet, _arpu, arpu_age_profile, segment_curves
from adperf_assets.ltv.estimates import (
    ESTIMATE_COLUMNS,
    MIN_FOLLOWED_COHORTS,
    estimate_ltv,
    follow_days,
    spend_persistence,
)
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
        # observed days: mu is the pooled revenue per installed user; later: ARPU x age profile x fitted retention
        np.testing.assert_allclose(curves.revenue_per_user[k, :L], ref["revenue_usd"] / ref["cohort_size"])
        tau, kk = curves.params.loc[k, ["arpu_decay_tau", "arpu_decay_k"]]
        g = (1 + np.arange(365) / tau) ** -kk
        a = curves.active_users[k, L - 28:L]
        g_w = (a * g[L - 28:L]).sum() / a.sum()
        np.testing.assert_allclose(curves.revenue_per_user[k, L:], curves.arpu[k] * g[L:] / g_w * curves.retention[k, L:])
        assert kk > 0  # purchases fall with age in the synthetic app: the tail ARPU falls too
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
    # the upper end: a lognormal remainder with the estimate's mean and sd (right-skewed revenue), above the normal one
    rest = cohort[cohort["se_usd"] > 0]
    assert len(rest) > 0
    z, R, sd = 2.5758293035489004, rest["ltv_per_user_usd"] - rest["revenue_to_date_usd"], rest["se_usd"]
    s2 = np.log1p((sd / R) ** 2)
    np.testing.assert_allclose(rest["upper_usd"], rest["revenue_to_date_usd"] + R * np.exp(-s2 / 2 + z * np.sqrt(s2)))
    assert (rest["upper_usd"] > rest["ltv_per_user_usd"] + z * sd).all()
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
    assert (young["spend_ratio"] == 1.0).all() and (est.loc[est["estimator"] == "geometric", "spend_ratio"] == 1.0).all()
    # from 7 days: 1 + Z (own revenue per active day / the segment's - 1), Z measured on the window
    old = cohort[(cohort["observed_days"] >= 7) & (cohort["horizon"] == 365)]
    k = curves.index(old["report_date"], old)
    s_, c_ = cube.segment_index(old), (old["install_date"] - cube.first_day).dt.days.to_numpy()
    seen = np.minimum(old["observed_days"].to_numpy(), curves.curve_days[k])
    own = cube.cum_value[s_, c_, seen] / cube.cum_active[s_, c_, seen]
    seg = curves.revenue[k].cumsum(axis=1)[np.arange(len(k)), seen - 1] / curves.active_users[k].cumsum(axis=1)[
        np.arange(len(k)), seen - 1]
    # (the segment's pooled curve weighs days by the cohorts that reached them: compare where all did)
    z = spend_persistence(cube, (old["report_date"] - cube.first_day).dt.days.to_numpy(), np.minimum(seen, 30), 60)
    assert (z > 0).any() and (z <= 1).all()
    full = seen <= 7
    assert full.any()
    np.testing.assert_allclose(old["spend_ratio"].to_numpy()[full],
                               np.maximum(1 + z[full] * (own[full] / seg[full] - 1), 0), rtol=0.02)
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


def test_cube_does_not_depend_on_row_order_or_a_missing_key(activity, cube):
    """The segments' numbering (one sorted factorize per key) is the sorted drop_duplicates of the keys,
    whatever the rows' order; a key with a missing value takes pandas' path and gives the same cube."""
    shuffled = ActivityCube.from_frame(activity.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(shuffled.segments, cube.segments)
    assert cube.segments.equals(activity[list(SEGMENT_KEYS)].drop_duplicates().sort_values(list(SEGMENT_KEYS))
                                .reset_index(drop=True))
    for name in ("size", "active", "value"):
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(cube, name))
    with_missing = activity.assign(network=activity["network"].astype(object))
    odd = with_missing["network"] == with_missing["network"].iloc[0]
    with_missing.loc[odd, "network"] = None
    pandas_path = ActivityCube.from_frame(with_missing)
    assert pandas_path.segments["network"].isna().any()
    np.testing.assert_array_equal(pandas_path.size.sum(axis=0), cube.size.sum(axis=0))


def test_duplicate_activity_row_is_named(activity):
    row = activity[activity["install_date"] == FIRST + pd.Timedelta(days=35)].iloc[[3]]
    with pytest.raises(ValueError, match=r"two rows for cohort 2025-02-05"):
        ActivityCube.from_frame(pd.concat([activity, row], ignore_index=True))


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


def test_arpu_age_profile_recovers_the_decay_and_ignores_unobserved_days():
    t = np.arange(120)
    a = np.tile(np.linspace(500, 50, 120), (3, 1))
    tau, k = arpu_age_profile(a, a * 2.0 * (1 + t / 10.0) ** -0.5, 90)
    assert tau == pytest.approx([10.0] * 3) and k == pytest.approx([0.5] * 3)
    value = np.vstack([a[0] * 0.3, a[1] * 2.0 * (1 + t / 10.0) ** -0.5, a[2] * 0.3])
    value[1, 60:] = 1e6  # beyond the curve's 60 observed days: not used
    value[2, 0] = 1e3  # the install day is not used either
    tau, k = arpu_age_profile(a, value, np.array([120, 60, 120]))
    assert k[0] == 0.0 and k[2] == 0.0  # a constant ARPU has no decay
    assert (tau[1], k[1]) == (pytest.approx(10.0), pytest.approx(0.5))
    tau, k = arpu_age_profile(a[:1], value[:1], 3)  # days 1, 2: too few to fit
    assert k[0] == 0.0
    with pytest.raises(ValueError, match="shape"):
        arpu_age_profile(a, value[:, :10], 5)


def _cube(early_level, late_level, active=10.0, days=40, max_age=60):
    """Cube of one segment x cohorts, ``active`` users active every day, revenue per active day
    ``early_level[c]`` on days < 7 and ``late_level[c]`` after."""
    C = len(early_level)
    t = np.arange(max_age)
    level = np.where(t[None, :] < 7, np.asarray(early_level)[:, None], np.asarray(late_level)[:, None])
    act = np.full((1, C, max_age), active)
    return ActivityCube(pd.DataFrame([SEGS[0]], columns=list(SEGMENT_KEYS)), FIRST, FIRST + pd.Timedelta(days=days),
                        np.full((1, C), active), act, act * level[None], "revenue_usd", max_age)


def test_spend_persistence_is_the_relative_slope_of_later_on_early_spending():
    x = np.random.default_rng(0).gamma(2.0, 1.0, 120)
    window = 80
    f = follow_days(7, window)
    assert f == 33
    end = np.array([119, 119, 119])
    early = np.array([7, 7, 7])
    # later spending equals early spending: fully persistent
    assert spend_persistence(_cube(x, x, days=119), end, early, window) == pytest.approx([1.0] * 3)
    # later = mean + 0.4 (early - mean): Z = 0.4 (the cohorts of the window that have seen 7 + 33 days)
    lo, hi = 119 - window + 1, 119 - 7 - f + 1
    assert hi - lo + 1 == 41
    xm = x[lo:hi + 1].mean()
    z = spend_persistence(_cube(x, xm + 0.4 * (x - xm), days=119), end[:1], early[:1], window)
    assert z[0] == pytest.approx(0.4)
    # later spending the same for every cohort: 0; opposite to the early one: clipped at 0
    assert spend_persistence(_cube(x, np.ones(120), days=119), end[:1], early[:1], window)[0] == pytest.approx(0.0)
    assert spend_persistence(_cube(x, 2 * xm - x + 1, days=119), end[:1], early[:1], window)[0] == 0.0
    # fewer than MIN_FOLLOWED_COHORTS install days followed for 7 + 33 days by day 60 (22): no measure, 0
    assert spend_persistence(_cube(x, x, days=119), np.array([60, 80]), np.array([7, 7]), window) == pytest.approx(
        [0.0, 1.0])
    assert MIN_FOLLOWED_COHORTS == 28
    # days before the first install (a cube loaded from before the data starts) are not cohorts
    c = _cube(x, x, days=119)
    pad = ActivityCube(c.segments, FIRST - pd.Timedelta(days=30), c.last_day,
                       np.concatenate([np.zeros((1, 30)), c.size], axis=1),
                       np.concatenate([np.zeros((1, 30, 60)), c.active], axis=1),
                       np.concatenate([np.zeros((1, 30, 60)), c.value], axis=1), "revenue_usd", 60)
    assert spend_persistence(pad, np.array([90, 110]), np.array([7, 7]), window) == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError, match="early_days must be >= 1"):
        spend_persistence(_cube(x, x, days=119), end[:1], np.array([0]), window)
