"""Scoring the report's calls against the realised horizon ROAS, on hand-built tables."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.report.decision_assets import decision_backtest
from adperf_assets.defs.resources import build_resources
from adperf_assets.partitions import window_days

from adperf_assets.report.decision_scores import (
    BacktestWindow,
    ReportInputError,
    realised_by_ad,
    score_calls,
    summarise,
    summary_line,
)

D0 = pd.Timestamp("2025-06-01")  # the first partition
H = 10
DAY = D0 + pd.Timedelta(days=30)  # report day: cohorts up to day 21 have their horizon passed
WINDOW = BacktestWindow(report_date=DAY, horizon_days=H, window_days=25, ages=(2, 4))
IDS = {"A": ("fb", "acc", "c1", "g1"), "B": ("fb", "acc", "c1", "g1"), "C": ("gg", "acc2", "c2", "g2")}


def day(n: int) -> pd.Timestamp:
    return D0 + pd.Timedelta(days=n)


def world(per_user: dict[str, float], days=range(0, 28)):
    """Each ad spends 10 a day and gets 1 user a day who pays ``per_user`` on install day + 2 and as much
    again on day + H (past the horizon: must not count)."""
    spend, installs, beh = [], [], []
    for ad, pay in per_user.items():
        net, acc, camp, grp = IDS[ad]
        for d in days:
            spend.append({"report_date": day(d), "network": net, "account_id": acc, "campaign_id": camp,
                          "ad_group_id": grp, "ad_id": ad, "cost_usd": 10.0})
            uid = f"{ad}{d}"
            installs.append({"user_id": uid, "install_date": day(d), "network": net, "ad_id": ad})
            beh.append({"report_date": day(d + 2), "user_id": uid, "credited_usd": pay})
            beh.append({"report_date": day(d + H), "user_id": uid, "credited_usd": pay})
    beh = pd.DataFrame(beh)
    return pd.DataFrame(spend), pd.DataFrame(installs), beh[beh["report_date"] <= DAY]


def call(ad: str, age: int, rec: str, est: float, lo: float, hi: float, level="ad", start=0) -> dict:
    net, acc, camp, grp = IDS[ad]
    keep = {"ad": 5, "ad_group": 4, "campaign": 3}[level]
    ids = [net, acc, camp, grp, ad][:keep] + [""] * (5 - keep)
    return {"report_date": day(start + age - 1), "level": level,
            **dict(zip(["network", "account_id", "campaign_id", "ad_group_id", "ad_id"], ids)),
            "days_live": age, "cost_to_date_usd": 10.0 * age, "estimated_roas": est, "estimated_roas_lower": lo,
            "estimated_roas_upper": hi, "recommendation": rec}


def test_realised_counts_only_cohorts_and_days_inside_the_horizon():
    spend, installs, beh = world({"A": 5.0})
    r = realised_by_ad(spend, installs, beh, WINDOW)
    assert r["report_date"].max() == WINDOW.last_cohort == day(21)
    assert r["cost"].sum() == pytest.approx(10.0 * 22)
    assert r["revenue"].sum() == pytest.approx(5.0 * 22)  # the payment on day +H is past the horizon


def test_calls_scored_right_wrong_and_no_call_with_errors_and_coverage():
    spend, installs, beh = world({"A": 5.0, "B": 20.0, "C": 12.0})
    reports = pd.DataFrame([
        call("A", 2, "stop", 0.6, 0.3, 0.9),    # realised 0.5: right, in interval, error 0.2
        call("A", 4, "keep", 0.5, 0.2, 0.8),
        call("B", 2, "scale", 1.5, 1.3, 1.8),   # realised 2.0: right, outside interval
        call("B", 4, "stop", 0.9, 0.5, 0.95),   # wrong
        call("C", 2, "keep", 1.2, 0.8, 1.5),    # realised 1.2
        call("A", 3, "stop", 0.1, 0.0, 0.2),    # not an age of the window
        call("A", 2, "stop", 0.4, 0.1, 0.6, level="ad_group"),  # group g1 = A + B: (110 + 440) / 440
        call("C", 2, "keep", 1.0, 0.5, 1.5, level="campaign"),
        call("C", 4, "stop", 0.5, 0.2, 0.9, start=20),  # call day 23 > last cohort 21: not yet scored
    ])
    s = score_calls(reports, realised_by_ad(spend, installs, beh, WINDOW), WINDOW)
    assert len(s) == 7
    a2 = s[(s["level"] == "ad") & (s["ad_id"] == "A") & (s["age_days"] == 2)].iloc[0]
    assert a2["realised_roas"] == pytest.approx(0.5)
    assert a2["outcome"] == "right" and bool(a2["in_interval"])
    assert a2["abs_pct_error"] == pytest.approx(0.2)
    assert a2["cost_after_call_usd"] == pytest.approx(10.0 * (21 - 1))  # days 2..21 after the call on day 1
    b2 = s[(s["ad_id"] == "B") & (s["age_days"] == 2)].iloc[0]
    assert b2["outcome"] == "right" and not bool(b2["in_interval"])
    assert s[(s["ad_id"] == "B") & (s["age_days"] == 4)]["outcome"].item() == "wrong"
    assert s[(s["ad_id"] == "C") & (s["level"] == "ad")]["outcome"].item() == "no call"
    g = s[s["level"] == "ad_group"].iloc[0]
    assert g["realised_roas"] == pytest.approx((5.0 + 20.0) * 22 / (20.0 * 22))
    assert g["outcome"] == "wrong"
    assert s[s["level"] == "campaign"]["realised_roas"].item() == pytest.approx(1.2)

    summ = summarise(s).set_index(["level", "age_days"])
    ad2, ad4 = summ.loc[("ad", 2)], summ.loc[("ad", 4)]
    assert (ad2["calls"], ad2["stops"], ad2["stops_right"], ad2["scales"], ad2["scales_right"]) == (3, 1, 1, 1, 1)
    assert ad2["mape"] == pytest.approx(np.mean([0.2, 0.25, 0.0]))
    assert ad2["coverage"] == pytest.approx(2 / 3)
    assert ad2["stop_recall"] == pytest.approx(1.0) and ad2["unprofitable"] == 1
    # A is the only unprofitable ad; its stop at day 2 still counts at day 4 (stopped by then)
    assert ad2["unprofitable_spend_stopped"] == pytest.approx(200.0 / 220.0)
    assert ad4["unprofitable_spend_stopped"] == pytest.approx(200.0 / 220.0)
    assert ad4["stop_precision"] == pytest.approx(0.0) and np.isnan(ad4["scale_precision"])
    line = summary_line(summarise(s), WINDOW.first_call)
    assert "day 2: stop right in 1 of 1, scale right in 1 of 1" in line and "day 4: stop right in 0 of 1" in line


def _summarise_per_group(scored: pd.DataFrame, break_even: float = 1.0) -> pd.DataFrame:
    """``summarise`` as first written, one frame per (level, age): the reference for the array version."""
    from adperf_assets.report.columns import LEVEL_KEYS
    from adperf_assets.report.decision_scores import SUMMARY_COLUMNS

    rows = []
    for (level, age), g in scored.groupby(["level", "age_days"], sort=True):
        ok = g["realised_roas"].notna()
        bad, good = ok & (g["realised_roas"] < break_even), ok & (g["realised_roas"] > break_even)
        stop, scale = g["recommendation"].eq("stop") & ok, g["recommendation"].eq("scale") & ok
        same = scored[(scored["level"] == level) & (scored["age_days"] <= age) & scored["recommendation"].eq("stop")]
        keys = LEVEL_KEYS[level]
        first_stop = same.sort_values("call_date", kind="stable").drop_duplicates(keys)[[*keys, "cost_after_call_usd"]]
        stopped = g[bad][keys].merge(first_stop, on=keys)["cost_after_call_usd"].sum()
        bad_cost = g.loc[bad, "scored_cost_usd"].sum()
        iv = g["in_interval"].dropna()
        rows.append({
            "level": level, "age_days": int(age), "calls": int(ok.sum()),
            "mape": float(g["abs_pct_error"].mean()) if g["abs_pct_error"].notna().any() else np.nan,
            "coverage": float(iv.astype(bool).mean()) if len(iv) else np.nan,
            "stops": int(stop.sum()), "stops_right": int((stop & bad).sum()),
            "stop_precision": (stop & bad).sum() / stop.sum() if stop.any() else np.nan,
            "stop_recall": (stop & bad).sum() / bad.sum() if bad.any() else np.nan,
            "scales": int(scale.sum()), "scales_right": int((scale & good).sum()),
            "scale_precision": (scale & good).sum() / scale.sum() if scale.any() else np.nan,
            "scale_recall": (scale & good).sum() / good.sum() if good.any() else np.nan,
            "unprofitable": int(bad.sum()),
            "unprofitable_spend_stopped": stopped / bad_cost if bad_cost > 0 else np.nan,
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@pytest.mark.parametrize("seed", range(6))
def test_the_summary_equals_a_frame_per_level_and_age(seed):
    """Random calls of three levels and three ages, objects called at several ages and days (some never
    stopped, some stopped only later), unscored ones and unknown intervals among them."""
    rng = np.random.default_rng(seed)
    n = 400
    level = rng.choice(["ad", "ad_group", "campaign"], n)
    ad = rng.integers(0, 25, n)
    real = np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 0.5, n))
    scored = pd.DataFrame({
        "report_date": D0, "level": level, "network": rng.choice(["fb", "gg"], n), "account_id": "acc",
        "campaign_id": (ad % 3).astype(str), "ad_group_id": (ad % 7).astype(str),
        "ad_id": np.where(level == "ad", ad.astype(str), ""),
        "age_days": rng.choice([7, 14, 30], n), "call_date": D0 + pd.to_timedelta(rng.integers(0, 60, n), "D"),
        "recommendation": rng.choice(["stop", "scale", "hold"], n, p=[0.4, 0.3, 0.3]),
        "scored_cost_usd": rng.gamma(2.0, 50.0, n), "cost_after_call_usd": rng.gamma(2.0, 30.0, n),
        "realised_roas": real, "abs_pct_error": np.where(np.isnan(real) | (rng.random(n) < 0.1), np.nan, rng.random(n)),
        "in_interval": pd.array(np.where(np.isnan(real), None, rng.random(n) < 0.7), dtype="boolean"),
    })
    got, want = summarise(scored, break_even=1.0), _summarise_per_group(scored, break_even=1.0)
    assert len(got) == 9 and got["unprofitable_spend_stopped"].gt(0).any()
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    assert summarise(scored.iloc[:0]).columns.tolist() == want.columns.tolist() and summarise(scored.iloc[:0]).empty


def test_nothing_scored_before_the_horizon_passes():
    spend, installs, beh = world({"A": 5.0}, days=range(21, 28))
    reports = pd.DataFrame([call("A", 2, "stop", 0.6, 0.3, 0.9, start=21)])  # call day 22
    s = score_calls(reports, realised_by_ad(spend, installs, beh, WINDOW), WINDOW)
    assert s.empty and s["age_days"].dtype == "int64" and s["report_date"].dtype == "datetime64[ns]"
    both = pd.concat([s, score_calls(pd.DataFrame([call("A", 2, "stop", 0.6, 0.3, 0.9)]),
                                     realised_by_ad(*world({"A": 5.0}), WINDOW), WINDOW)], ignore_index=True)
    assert both["age_days"].dtype == "int64"
    assert summary_line(summarise(s), WINDOW.first_call).startswith("No ad calls scored yet")


def test_bad_input_names_table_and_field():
    spend, installs, beh = world({"A": 5.0})
    with pytest.raises(ReportInputError, match="behavior_value.*credited_usd"):
        realised_by_ad(spend, installs, beh.drop(columns="credited_usd"), WINDOW)
    beh.loc[3, "credited_usd"] = np.nan
    with pytest.raises(ReportInputError, match="behavior_value: 1 row.*credited_usd missing"):
        realised_by_ad(spend, installs, beh, WINDOW)
    reports = pd.DataFrame([call("A", 2, "stop", 0.6, 0.3, 0.9)] * 2)
    with pytest.raises(ReportInputError, match="roas_report: 2 rows repeat"):
        score_calls(reports, realised_by_ad(*world({"A": 5.0}), WINDOW), WINDOW)


def test_revenue_of_an_ad_without_spend_is_kept_not_dropped():
    spend, installs, beh = world({"A": 5.0})
    installs = pd.concat([installs, pd.DataFrame([{"user_id": "x", "install_date": day(3), "network": "fb",
                                                   "ad_id": "ghost"}])])
    beh = pd.concat([beh, pd.DataFrame([{"report_date": day(4), "user_id": "x", "credited_usd": 7.0}])])
    r = realised_by_ad(spend, installs, beh, WINDOW)
    assert r["revenue"].sum() == pytest.approx(5.0 * 22 + 7.0)
    assert r.loc[r["ad_id"] == "ghost", "campaign_id"].item() == ""


def _stub(name: str, frame: pd.DataFrame, column: str = "report_date"):
    """A stored table of the given rows (one run writes the run's days of them)."""
    @daily_table(group_name="stub", name=name, partition_expr=column)
    def _table(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = window_days(context)
        return frame[frame[column].between(days[0], days[-1])].reset_index(drop=True)
    return _table


def test_asset_scores_the_stored_calls_like_the_math(fresh_home):
    spend, installs, beh = world({"A": 5.0, "B": 20.0, "C": 12.0})
    reports = pd.DataFrame([call("A", 2, "stop", 0.6, 0.3, 0.9), call("B", 2, "scale", 1.5, 1.3, 1.8),
                            call("B", 4, "stop", 0.9, 0.5, 0.95), call("C", 4, "keep", 1.2, 0.8, 1.5),
                            call("A", 2, "stop", 0.4, 0.1, 0.6, level="ad_group")])
    stubs = [_stub("roas_report", reports), _stub("ad_spend", spend), _stub("installs", installs, "install_date"),
             _stub("behavior_value", beh)]
    resources = build_resources(fresh_home)
    first, last = str(D0.date()), str(DAY.date())
    from adperf_assets_tests.report.runs import range_tags
    assert dg.materialize(stubs, resources=resources, tags=range_tags(first, last)).success
    cfg = {"ops": {"decision_backtest": {"config": {"horizon_days": H, "window_days": 25, "ages": [2, 4]}}}}
    res = dg.materialize([*stubs, decision_backtest], selection=[decision_backtest], resources=resources,
                         partition_key=last, run_config=cfg)
    assert res.success
    out = res.output_for_node("decision_backtest")
    want = score_calls(reports, realised_by_ad(spend, installs, beh, WINDOW), WINDOW)
    pd.testing.assert_frame_equal(out.reset_index(drop=True), want, check_dtype=False)
    md = res.get_asset_materialization_events()[0].materialization.metadata
    assert md["summary_line"].value.startswith(f"Calls scored, made since {WINDOW.first_call.date()} (ads): "
                                               "day 2: stop right in 1 of 1, "
                                               "scale right in 1 of 1")
    assert md["ads_scored"].value == 4
    # the window's call days from the first partition (06-01..06-22), calls stored on two of them
    assert md["report_days_missing"].value == 22 - 2


def test_realised_of_a_later_day_scores_an_earlier_day_alike():
    spend, installs, beh = world({"A": 5.0, "B": 20.0})
    reports = pd.DataFrame([call("A", 2, "stop", 0.6, 0.3, 0.9), call("B", 4, "stop", 0.9, 0.5, 0.95)])
    early = BacktestWindow(report_date=DAY - pd.Timedelta(days=5), horizon_days=H, window_days=25, ages=(2, 4))
    own = score_calls(reports, realised_by_ad(spend, installs, beh[beh["report_date"] <= early.report_date], early),
                      early)
    shared = score_calls(reports, realised_by_ad(spend, installs, beh, WINDOW), early)
    assert len(own) == 2
    pd.testing.assert_frame_equal(own, shared)


def _reference_scores(reports: pd.DataFrame, realised: pd.DataFrame, window: BacktestWindow) -> pd.DataFrame:
    """The per-day scoring by merges on the objects' keys (the code before ``CallScorer``), then ``in_window``."""
    from adperf_assets.report.decision_scores import KEYS, LEVEL_KEYS, SCORED_LEVELS, _calls, _scored, in_window

    calls = _calls(reports, window)
    realised = realised[realised["report_date"] <= window.last_cohort]
    frames = []
    for level in SCORED_LEVELS:
        keys = LEVEL_KEYS[level]
        c = calls[calls["level"] == level]
        if c.empty:
            continue
        per_day = realised.groupby([*keys, "report_date"], as_index=False)[["cost", "revenue"]].sum()
        total = per_day.groupby(keys, as_index=False)[["cost", "revenue"]].sum()
        s = c.merge(total, on=keys, how="left").fillna({"cost": 0.0, "revenue": 0.0})
        m = c[[*keys, "call_date"]].merge(per_day, on=keys)
        after = (m[m["report_date"] > m["call_date"]].groupby([*keys, "call_date"], as_index=False)["cost"].sum()
                 .rename(columns={"cost": "cost_after_call_usd"}))
        frames.append(s.merge(after, on=[*keys, "call_date"], how="left").fillna({"cost_after_call_usd": 0.0}))
    assert KEYS == LEVEL_KEYS["ad"]
    return in_window(_scored(frames, window), window) if frames else None


def test_scorer_over_a_range_of_days_equals_the_per_day_merges_bit_for_bit():
    """Many objects and days, irregular costs (group sums are compensated: the order of the rows counts),
    refunds, objects without realised rows, calls before the window and past the last cohort."""
    from adperf_assets.report.decision_scores import CallScorer

    rng = np.random.default_rng(7)
    ads = [("fb", "a1", f"c{i % 3}", f"g{i % 5}", f"ad{i}") for i in range(12)] + [("gg", "a2", "c9", "g9", "x")]
    rows, calls = [], []
    for net, acc, camp, grp, ad in ads:
        start = int(rng.integers(0, 40))
        for d in range(start, 120):
            if ad != "x" and rng.random() < 0.8:  # "x": calls, no realised rows
                rows.append({"network": net, "account_id": acc, "campaign_id": camp, "ad_group_id": grp, "ad_id": ad,
                             "report_date": day(d), "cost": float(rng.gamma(2.0, 33.3) * (rng.random() > 0.1)),
                             "revenue": float(rng.normal(20.0, 30.0))})
        for level in ("ad", "ad_group", "campaign"):
            ids = {"ad": [net, acc, camp, grp, ad], "ad_group": [net, acc, camp, grp, ""],
                   "campaign": [net, acc, camp, "", ""]}[level]
            for age in (2, 4):
                calls.append({"report_date": day(start + age - 1), "level": level,
                              **dict(zip(["network", "account_id", "campaign_id", "ad_group_id", "ad_id"], ids)),
                              "days_live": age, "cost_to_date_usd": float(rng.gamma(2.0, 50.0)),
                              "estimated_roas": float(rng.gamma(2.0, 0.5)), "estimated_roas_lower": 0.2,
                              "estimated_roas_upper": float(rng.gamma(2.0, 1.0)),
                              "recommendation": str(rng.choice(["stop", "keep", "scale"]))})
    realised = pd.DataFrame(rows)
    reports = pd.DataFrame(calls).drop_duplicates(["report_date", "level", "network", "account_id", "campaign_id",
                                                   "ad_group_id", "ad_id"])
    windows = [BacktestWindow(report_date=day(d), horizon_days=H, window_days=25, ages=(2, 4)) for d in range(20, 130, 3)]
    scorer = CallScorer(reports, realised, windows[-1])
    compared = 0
    for w in windows:
        want, got = _reference_scores(reports, realised, w), scorer.score(w)
        if want is None:
            assert got.empty
            continue
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_exact=True)
        compared += len(want)
    assert compared > 500
