"""Back-test metrics (``adperf_assets.ltv.backtest``): hand-computed values and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.backtest import (
    METRIC_COLUMNS,
    OVERALL,
    PREDICTION_COLUMNS,
    backtest_metrics,
    bias,
    coverage,
    mape,
    pool_cohorts,
    wape,
)


def frame(rows):
    base = {"estimator": "cohort", "platform": "ios", "attribution": "paid", "network": "facebook",
            "is_emulator": False, "install_date": pd.Timestamp("2025-06-01"), "made_at_day": 7, "horizon": 180}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_hand_computed_metrics():
    df = frame([
        {"predicted_per_user": 1.2, "lower": 1.0, "upper": 1.5, "realised_per_user": 1.0, "cohort_size": 100},
        {"predicted_per_user": 1.5, "lower": 0.5, "upper": 2.5, "realised_per_user": 2.0, "cohort_size": 300},
        {"predicted_per_user": 0.3, "lower": 0.1, "upper": 0.4, "realised_per_user": 0.0, "cohort_size": 10},
        {"predicted_per_user": 2.0, "lower": np.nan, "upper": np.nan, "realised_per_user": 4.0, "cohort_size": 50},
    ])
    out = backtest_metrics(df, by=OVERALL)
    assert list(out.columns) == OVERALL + METRIC_COLUMNS
    row = out.iloc[0]
    assert row["cohorts"] == 4 and row["zero_realised"] == 1 and row["users"] == 460
    assert row["mape"] == pytest.approx((0.2 + 0.25 + 0.5) / 3)
    assert row["bias"] == pytest.approx((0.2 - 0.25 - 0.5) / 3)
    assert row["wape"] == pytest.approx((100 * 0.2 + 300 * 0.5 + 10 * 0.3 + 50 * 2.0) / (100 + 600 + 0 + 200))
    assert row["with_interval"] == 3
    assert row["coverage"] == pytest.approx(2 / 3)  # the zero-realised cohort's [0.1, 0.4] misses 0
    assert mape(df["predicted_per_user"], df["realised_per_user"]) == pytest.approx(row["mape"])
    assert bias(df["predicted_per_user"], df["realised_per_user"]) == pytest.approx(row["bias"])
    assert coverage(df["lower"], df["upper"], df["realised_per_user"]) == pytest.approx(2 / 3)
    assert wape([1, 3], [2, 2]) == pytest.approx(0.5)


def test_groups_by_segment_and_estimator():
    df = pd.concat([
        frame([{"predicted_per_user": 2.0, "lower": 1, "upper": 3, "realised_per_user": 1.0}]),
        frame([{"predicted_per_user": 1.0, "lower": 0, "upper": np.inf, "realised_per_user": 1.0,
                "platform": "android"}]),
        frame([{"predicted_per_user": 1.5, "lower": 1, "upper": 2, "realised_per_user": 1.0,
                "estimator": "geometric"}]),
    ], ignore_index=True)
    out = backtest_metrics(df).set_index(["estimator", "platform"])
    assert out.loc[("cohort", "ios"), "mape"] == pytest.approx(1.0)
    assert out.loc[("cohort", "android"), "mape"] == 0.0
    assert out.loc[("cohort", "android"), "coverage"] == 1.0  # an unbounded upper end is an interval
    assert out.loc[("geometric", "ios"), "bias"] == pytest.approx(0.5)


def test_no_positive_realised_gives_nan_not_a_crash():
    df = frame([{"predicted_per_user": 1.0, "lower": 0.5, "upper": 2.0, "realised_per_user": 0.0}])
    row = backtest_metrics(df, by=OVERALL).iloc[0]
    assert np.isnan(row["mape"]) and np.isnan(row["wape"]) and row["coverage"] == 0.0


@pytest.mark.parametrize("change, message", [
    ({"predicted_per_user": np.nan}, r"row 0: predicted_per_user = nan"),
    ({"realised_per_user": "x"}, r"realised_per_user = 'x'"),
    ({"lower": 3.0}, r"lower 3.0 is above upper 2.0"),
    ({"horizon": 0}, r"horizon = 0 must be a whole number"),
    ({"network": None}, r"network is missing"),
])
def test_bad_rows_are_named(change, message):
    row = {"predicted_per_user": 1.0, "lower": 0.0, "upper": 2.0, "realised_per_user": 1.0, **change}
    with pytest.raises(ValueError, match=message):
        backtest_metrics(frame([row]))


def test_missing_column_is_named():
    df = frame([{"predicted_per_user": 1.0, "lower": 0.0, "upper": 2.0, "realised_per_user": 1.0}])
    with pytest.raises(ValueError, match="missing column"):
        backtest_metrics(df.drop(columns=["made_at_day"]))
    assert set(PREDICTION_COLUMNS) <= set(df.columns)


def test_pool_cohorts_weights_by_size_and_keeps_missing_intervals_missing():
    df = frame([
        {"predicted_per_user": 1.0, "lower": 0.5, "upper": 2.0, "realised_per_user": 2.0, "cohort_size": 10},
        {"predicted_per_user": 4.0, "lower": 3.0, "upper": 5.0, "realised_per_user": 1.0, "cohort_size": 30,
         "install_date": pd.Timestamp("2025-06-20")},
        {"predicted_per_user": 2.0, "lower": np.nan, "upper": np.nan, "realised_per_user": 1.0, "cohort_size": 5,
         "install_date": pd.Timestamp("2025-07-02"), "platform": "android"},
    ])
    df["report_date"] = df["install_date"] + pd.Timedelta(days=179)  # the day each realised value completed
    month = pool_cohorts(df, "MS")
    june = month[month["platform"] == "ios"].iloc[0]
    assert june["install_date"] == pd.Timestamp("2025-06-01") and june["cohort_size"] == 40 and june["cohorts"] == 2
    assert june["report_date"] == pd.Timestamp("2025-06-20") + pd.Timedelta(days=179)
    assert june["predicted_per_user"] == pytest.approx((10 * 1 + 30 * 4) / 40)
    assert june["realised_per_user"] == pytest.approx((10 * 2 + 30 * 1) / 40)
    assert june["lower"] == pytest.approx((5 + 90) / 40) and june["upper"] == pytest.approx((20 + 150) / 40)
    assert np.isnan(month[month["platform"] == "android"].iloc[0]["lower"])
    everything = pool_cohorts(df, "MS", across_segments=True)
    assert set(everything["platform"]) == {"all"} and len(everything) == 2
    assert np.isnan(everything.set_index("install_date").loc[pd.Timestamp("2025-07-01"), "upper"])
    with pytest.raises(ValueError, match="cohort_size"):
        pool_cohorts(df.drop(columns="cohort_size"))


def test_backtest_days_equals_pooling_and_scoring_each_day_alone():
    """The encoded many-day back-test gives, day by day, what common_cohorts + pool_cohorts +
    backtest_metrics give on that day's rows (cells some estimator lacks dropped, intervals
    missing or unbounded, cohorts that realised nothing)."""
    from adperf_assets.ltv.backtest import backtest_days
    from adperf_assets.ltv.btyd_ltv import backtest_table, common_cohorts

    rng = np.random.default_rng(7)
    cells = pd.MultiIndex.from_product([pd.date_range("2025-01-01", periods=60), ["ios", "android"],
                                        ["facebook", "google_ads", "x"], [7, 14], [30, 90]],
                                       names=["install_date", "platform", "network", "made_at_day", "horizon"])
    rows = pd.concat([cells.to_frame(index=False).assign(estimator=e) for e in ("btyd", "cohort", "geometric")],
                     ignore_index=True)
    rows = rows[rng.random(len(rows)) > 0.05].reset_index(drop=True)  # some cells lack an estimator
    n = len(rows)
    rows = rows.assign(attribution="paid", is_emulator=rows["network"] == "x",
                       predicted_per_user=rng.gamma(2.0, 0.5, n), cohort_size=rng.integers(1, 40, n))
    rows["realised_per_user"] = np.where(rng.random(n) < 0.2, 0.0, rng.gamma(2.0, 0.5, n))
    rows["lower"] = rows["predicted_per_user"] * 0.5
    rows["upper"] = np.where(rng.random(n) < 0.1, np.inf, rows["predicted_per_user"] * 1.8)
    rows.loc[rng.random(n) < 0.1, ["lower", "upper"]] = np.nan
    days = pd.date_range("2025-04-01", periods=4)
    start = pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 35, len(rows)), unit="D")
    end = start + pd.to_timedelta(rng.integers(0, 20, len(rows)), unit="D")
    table, per_day = backtest_days(rows, start, end, days, {"monthly": "MS", "daily": None})
    assert set(table["pooling"]) == {"monthly", "daily"}
    for d in per_day:
        due = rows[np.asarray((start <= d.day) & (d.day <= end))]
        kept = common_cohorts([due])
        assert len(kept) == len(d.kept) > 0
        expected = backtest_table(kept)  # monthly pooling, then daily cohorts
        got = table[table["report_date"] == d.day].drop(columns=["report_date"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-12)
        spread = kept.groupby(["install_date", "platform", "attribution", "network", "is_emulator",
                               "made_at_day", "horizon"])["realised_per_user"].agg(lambda x: x.max() - x.min())
        assert d.realised_max_abs_diff == spread.max()
