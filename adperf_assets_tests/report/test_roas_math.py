"""The report math on the hand-made world of ``frames.py``: every figure worked out by hand."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest

from adperf_assets.report import ReportConfig, ReportInputError, build_report, prepare_inputs
from adperf_assets_tests.report import frames as F

#: The hand-computed figures here are of the segment-average basis (users x their segment's LTV);
#: the default basis, ad_credibility, is tested in test_ad_basis.py.
SegmentAverage = partial(ReportConfig, estimate_basis="segment_average")


def _report(config=None, **over):
    tables = {"spend": F.spend(), "installs": F.installs(), "segments": F.segments(), "behavior": F.behavior(),
              "ltv": F.ltv()}
    tables.update(over)
    inputs = prepare_inputs(tables["spend"], tables["installs"], tables["segments"], tables["behavior"], tables["ltv"])
    out, infos = build_report(inputs, [F.DAY], config or SegmentAverage())
    return out, infos[0]


def _row(out, level, **keys):
    m = out["level"] == level
    for k, v in keys.items():
        m &= out[k] == v
    assert m.sum() == 1, (level, keys)
    return out[m].iloc[0]


def test_cost_return_and_paid_per_ad():
    out, info = _report()
    fb1 = _row(out, "ad", ad_id="fb-1")
    assert fb1["cost_to_date_usd"] == 100.0 and fb1["cost_on_day_usd"] == 10.0
    # users 1-4; credited 4+1+8, 2, 3, 0.5 (07-11 is after the day); own payments 5+10, 3
    assert fb1["return_to_date_usd"] == pytest.approx(18.5)
    assert fb1["paid_to_date_usd"] == pytest.approx(18.0)
    assert fb1["users"] == 4 and fb1["spend_installs"] == 10.0
    assert fb1["roas"] == pytest.approx(0.185)
    assert fb1["first_spend_date"] == pd.Timestamp("2025-07-01") and fb1["days_live"] == 10
    assert bool(fb1["is_active"]) and not bool(fb1["history_truncated"])
    fb2 = _row(out, "ad", ad_id="fb-2")
    assert fb2["cost_to_date_usd"] == 15.0 and not bool(fb2["is_active"])
    assert fb2["last_spend_date"] == pd.Timestamp("2025-07-08")
    gg = _row(out, "ad", ad_id="gg-1")
    assert gg["return_to_date_usd"] == pytest.approx(26.5) and gg["paid_to_date_usd"] == 30.0


def test_estimated_return_and_its_interval():
    out, _ = _report()
    fb1 = _row(out, "ad", ad_id="fb-1")
    # 3 iOS facebook users x $30 (20..40) + 1 Android facebook user x $12 (9..16)
    assert fb1["estimated_return_usd"] == pytest.approx(102.0)
    # segments independent: half-widths in quadrature, each side on its own
    assert fb1["estimated_lower_usd"] == pytest.approx(102 - math.hypot(30, 3))
    assert fb1["estimated_upper_usd"] == pytest.approx(102 + math.hypot(30, 4))
    assert fb1["estimated_roas"] == pytest.approx(1.02)
    assert fb1["estimated_roas_lower"] == pytest.approx((102 - math.hypot(30, 3)) / 100)
    # accuracy: MAPE weighted by estimated return (iOS cohort 0.3 on $90, Android btyd 0.1 on $12)
    assert fb1["estimate_mape"] == pytest.approx((90 * 0.3 + 12 * 0.1) / 102)
    assert fb1["estimators"] == "btyd+cohort"


def test_comonotone_rule_adds_bounds():
    out, _ = _report(SegmentAverage(interval_rule="comonotone"))
    fb1 = _row(out, "ad", ad_id="fb-1")
    assert fb1["estimated_lower_usd"] == pytest.approx(3 * 20 + 9)
    assert fb1["estimated_upper_usd"] == pytest.approx(3 * 40 + 16)


def test_users_without_estimate_count_with_their_realised_return():
    # user 7 (07-09 cohort) loses its estimate: counts its realised $1.5, zero width
    ltv = F.ltv(skip_cohorts=("2025-07-10", "2025-07-09"))
    out, info = _report(ltv=ltv)
    gg = _row(out, "ad", ad_id="gg-1")
    assert gg["users_without_estimate"] == 1 and info.users_without_estimate >= 1
    assert gg["estimated_return_usd"] == pytest.approx(18.0 + 1.5)
    assert gg["estimated_upper_usd"] - gg["estimated_return_usd"] == pytest.approx(6.0)


def test_missing_interval_is_unbounded_above_and_blocks_verdicts():
    ltv = F.ltv()
    ltv.loc[ltv["network"] == "google_ads", ["lower_usd", "upper_usd"]] = np.nan
    out, _ = _report(ltv=ltv)
    gg = _row(out, "ad", ad_id="gg-1")
    assert math.isinf(gg["estimated_upper_usd"]) and gg["estimated_lower_usd"] == 0.0
    assert gg["recommendation"] == "keep"  # would be "stop" with its interval


def test_d_n_roas_only_for_cohorts_old_enough():
    out, _ = _report()
    fb1 = _row(out, "ad", ad_id="fb-1")
    # cohorts 07-01..07-04 have their first 7 days in by 07-10: users 1, 2, 3
    # revenue of their days 0..6: 4 + 1 (user 1), 2 (user 2), 3 (user 3, day 6) = 10; cost to 07-04 = 40
    assert fb1["d7_roas"] == pytest.approx(10 / 40) and fb1["d7_note"] == ""
    assert np.isnan(fb1["d14_roas"]) and "D14 needs 14" in fb1["d14_note"]
    gg = _row(out, "ad", ad_id="gg-1")
    assert np.isnan(gg["d7_roas"]) and gg["d7_note"] == "6 day(s) of data; D7 needs 7"


def test_rollups_sum_their_ads_and_keep_their_names():
    out, _ = _report()
    ads = out[out["level"] == "ad"]
    for level in ("ad_group", "campaign", "account", "network"):
        rows = out[out["level"] == level]
        for col in ("cost_to_date_usd", "return_to_date_usd", "paid_to_date_usd", "estimated_return_usd", "users"):
            assert rows[col].sum() == pytest.approx(ads[col].sum()), (level, col)
    g1 = _row(out, "ad_group", ad_group_id="g1")
    assert g1["ad_id"] == "" and g1["ad_name"] == "" and g1["ad_group_name"] == "Gg1" and g1["campaign_name"] == "Cc1"
    assert g1["cost_to_date_usd"] == 115.0 and g1["first_spend_date"] == pd.Timestamp("2025-07-01")
    net = _row(out, "network", network="facebook")
    assert net["account_id"] == "" and net["campaign_id"] == ""
    # the group interval is combined from cells, not from its ads' intervals:
    # iOS 4 users x (20..40) around 120, Android 1 x (9..16) around 12
    assert net["estimated_lower_usd"] == pytest.approx(132 - math.hypot(40, 3))
    assert net["estimated_upper_usd"] == pytest.approx(132 + math.hypot(40, 4))
    # D7 of the ad group: fb-2 is too young but the group is not; its cost to 07-04 is fb-1's
    assert g1["d7_roas"] == pytest.approx(10 / 40)


def test_unmatched_and_organic_users_are_reported_not_in_rows():
    out, info = _report()
    assert info.unmatched_users == 1 and info.unmatched_return_usd == 4.0
    assert info.unmatched_ads == ["unityads_int:u-77"]
    assert set(out["network"]) == {"facebook", "google_ads"}
    assert info.ads == 3 and info.users == 7


def test_recommendations_follow_the_interval():
    out, _ = _report(SegmentAverage(min_cost_usd=10))
    assert _row(out, "ad", ad_id="gg-1")["recommendation"] == "stop"  # upper 0.40 < 1.0
    assert "even the upper bound" in _row(out, "ad", ad_id="gg-1")["reason"]
    assert _row(out, "ad", ad_id="fb-2")["recommendation"] == "scale"  # lower 20/15 = 1.33 > 1.2
    assert _row(out, "ad", ad_id="fb-1")["recommendation"] == "keep"  # 0.72..1.32 straddles
    out, _ = _report(SegmentAverage(min_cost_usd=20))
    assert _row(out, "ad", ad_id="fb-2")["recommendation"] == "keep"
    assert "too early" in _row(out, "ad", ad_id="fb-2")["reason"]


def test_payback_realised_when_return_already_covers_cost():
    spend = F.spend()
    spend = spend[spend["ad_id"] != "fb-2"]
    spend.loc[spend["ad_id"] == "fb-1", ["cost_usd", "cost_local"]] = 0.5  # $5 over 10 days
    out, _ = _report(spend=spend)
    fb1 = _row(out, "ad", ad_id="fb-1")
    # credited by day: 07-01 $4, 07-02 $2 -> $6 >= $5 on the ad's day 2
    assert fb1["payback_basis"] == "realised" and fb1["payback_day"] == 2.0
    assert fb1["payback_date"] == pd.Timestamp("2025-07-02")


def test_payback_estimated_from_the_ltv_curve():
    out, _ = _report()
    fb2 = _row(out, "ad", ad_id="fb-2")
    # one iOS user installed on the ad's day 1 (07-06), $2 realised by day 5 (age 5);
    # V(a) = a/3 on 0..30 (10 at 30), 10 + (a-30)/6 on 30..90; cost 15:
    # 2 + V(n) - V(5) >= 15  <=>  V(n) >= 14.667  <=>  n = 30 + 6 * 4.667 = 58
    assert fb2["payback_basis"] == "estimated" and fb2["payback_day"] == 58.0
    assert fb2["payback_date"] == pd.Timestamp("2025-07-06") + pd.Timedelta(days=57)
    gg = _row(out, "ad", ad_id="gg-1")
    assert gg["payback_basis"] == "none" and np.isnan(gg["payback_day"])


def test_history_is_bounded_by_max_ad_age():
    march = F.spend().iloc[[0]].assign(report_date=pd.Timestamp("2025-03-01"))  # one fb-1 row, $10
    spend = pd.concat([F.spend(), march], ignore_index=True)
    out, _ = _report(SegmentAverage(max_ad_age_days=40), spend=spend)
    fb1 = _row(out, "ad", ad_id="fb-1")
    assert fb1["cost_to_date_usd"] == 100.0  # the March row is outside the 40-day window
    out, _ = _report(SegmentAverage(max_ad_age_days=200), spend=spend)
    fb1 = _row(out, "ad", ad_id="fb-1")
    assert fb1["cost_to_date_usd"] == 110.0 and fb1["first_spend_date"] == pd.Timestamp("2025-03-01")


def test_several_days_equal_one_day_each():
    inputs = prepare_inputs(F.spend(), F.installs(), F.segments(), F.behavior(), F.ltv())
    days = [pd.Timestamp("2025-07-08"), pd.Timestamp("2025-07-09"), F.DAY]
    both, _ = build_report(inputs, days)
    one = pd.concat([build_report(inputs, [d])[0] for d in days], ignore_index=True)
    pd.testing.assert_frame_equal(both, one)
    assert sorted(both["report_date"].unique()) == days


def test_every_roas_is_finite_or_null_with_zero_cost():
    spend = F.spend()
    spend.loc[spend["ad_id"] == "fb-2", ["cost_usd", "cost_local"]] = 0.0
    out, _ = _report(spend=spend)
    fb2 = _row(out, "ad", ad_id="fb-2")
    assert np.isnan(fb2["roas"]) and np.isnan(fb2["estimated_roas"]) and fb2["payback_basis"] == "none"
    vals = out[["roas", "estimated_roas"]].to_numpy()
    assert not np.isinf(vals).any()


@pytest.mark.parametrize("table,column", [("spend", "cost_usd"), ("installs", "ad_id"), ("segments", "is_emulator"),
                                          ("behavior", "credited_usd"), ("ltv", "upper_usd")])
def test_a_missing_column_is_named(table, column):
    frame = getattr(F, {"spend": "spend", "installs": "installs", "segments": "segments", "behavior": "behavior",
                        "ltv": "ltv"}[table])().drop(columns=column)
    with pytest.raises(ReportInputError, match=column):
        _report(**{table: frame})


def test_bad_values_are_named():
    spend = F.spend()
    spend.loc[3, "cost_usd"] = np.nan
    with pytest.raises(ReportInputError, match=r"ad_spend: 1 row\(s\) with cost missing.*fb-1"):
        _report(spend=spend)
    ins = pd.concat([F.installs(), F.installs().iloc[:1]], ignore_index=True)
    with pytest.raises(ReportInputError, match="share a user_id"):
        _report(installs=ins)
    with pytest.raises(ReportInputError, match="horizon_days=120 is not one of them"):
        _report(SegmentAverage(horizon_days=120))


def test_config_is_validated():
    with pytest.raises(ValueError, match="stop_below"):
        ReportConfig(stop_below=2.0, scale_above=1.0)
    with pytest.raises(ValueError, match="interval_rule"):
        ReportConfig(interval_rule="sum")
    with pytest.raises(ValueError, match="shorter than the longest"):
        ReportConfig(max_ad_age_days=20)


def test_realised_plus_expected_basis_anchors_on_what_the_users_returned():
    out, _ = _report(ReportConfig(estimate_basis="realised_plus_expected"))
    fb1 = _row(out, "ad", ad_id="fb-1")
    # per user: realised within 180 days + (V(180) - V(age)); iOS V(a) = a/3, Android V(a) = 4a/30 up to 30
    expected = (13 + 30 - 10 / 3) + (2 + 12 - 1.2) + (3 + 30 - 7 / 3) + (0.5 + 30 - 1)
    assert fb1["estimated_return_usd"] == pytest.approx(expected)
    assert fb1["estimated_lower_usd"] == pytest.approx(expected - math.hypot(30, 3))
    assert fb1["estimated_upper_usd"] == pytest.approx(expected + math.hypot(30, 4))
    assert fb1["estimated_return_usd"] >= fb1["return_to_date_usd"]
    with pytest.raises(ValueError, match="estimate_basis"):
        ReportConfig(estimate_basis="max")
