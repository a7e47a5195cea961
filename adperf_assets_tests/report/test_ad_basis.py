"""estimate_basis ``ad_credibility``: the per-ad credibility estimate wired into the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.keys import HORIZONS
from adperf_assets.report import ReportConfig, build_report, prepare_inputs
from adperf_assets_tests.report import frames as F
from adperf_assets_tests.report.test_fast_paths import DAYS, _world

DAY = pd.Timestamp("2025-05-30")


def _one_segment_world(seed: int = 3, quality=(0.4, 0.7, 1.0, 1.0, 1.3, 2.2)):
    """Ads of one campaign and one segment (ios/paid/facebook), 20 installs a day each for 30 days, the
    same cost; ad ``ad{i}``'s users spend ``quality[i]`` times the segment curve (V(a) = 0.1 a for
    a <= 30, 3 + 0.03 (a - 30) after: $7.50 at 180 days) with Gamma noise per user."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(DAY - pd.Timedelta(days=29), DAY)
    spend, users, beh = [], [], []
    uid = 0
    for i, q in enumerate(quality):
        for d in days:
            spend.append({**F._spend_row(d, "facebook", "a1", "c1", "g1", f"ad{i}", 20.0, installs=20.0)})
            for _ in range(20):
                uid += 1
                users.append({"user_id": uid, "install_date": d, "network": "facebook", "ad_id": f"ad{i}",
                              "attribution": "paid"})
                scale = q * rng.gamma(2.0, 0.5)
                for day in pd.date_range(d, DAY):
                    beh.append({"report_date": day, "user_id": uid, "paid_usd": 0.1 * scale,
                                "credited_usd": 0.1 * scale * rng.gamma(4.0, 0.25), "method": "shapley"})
    installs = pd.DataFrame(users)
    segments = installs.assign(platform="ios", is_emulator=False)[["user_id", "install_date", "platform",
                                                                    "attribution", "network", "is_emulator"]]
    curve = {30: 3.0, 90: 4.8, 180: 7.5, 365: 13.05}
    ltv = pd.DataFrame([F.ltv_row(d, "ios", "facebook", h, curve[h], 0.8 * curve[h], 1.25 * curve[h], report_date=DAY)
                        for d in days for h in HORIZONS])
    return pd.DataFrame(spend), installs, segments, pd.DataFrame(beh), ltv


def _ads(out: pd.DataFrame) -> pd.DataFrame:
    return out[out["level"] == "ad"].set_index("ad_id")


def test_the_better_of_two_ads_of_one_segment_gets_the_higher_estimate():
    inputs = prepare_inputs(*_one_segment_world())
    seg, _ = build_report(inputs, [DAY], ReportConfig(estimate_basis="segment_average"))
    cred, infos = build_report(inputs, [DAY], ReportConfig(estimate_basis="ad_credibility"))
    assert infos[0].estimate_note == ""
    s, c = _ads(seg), _ads(cred)
    # same users, same segment: the segment average cannot tell the ads apart
    assert s.loc["ad0", "estimated_return_usd"] == pytest.approx(s.loc["ad5", "estimated_return_usd"])
    est = c["estimated_return_usd"]
    assert est["ad5"] > est["ad4"] > est["ad2"] > est["ad1"] > est["ad0"]
    assert c.loc["ad5", "estimated_lower_usd"] > c.loc["ad0", "estimated_upper_usd"]
    assert (est >= c["return_to_date_usd"]).all()
    assert ((c["estimated_lower_usd"] <= est) & (est <= c["estimated_upper_usd"])).all()
    # the campaign: the ads' estimates add up, the interval is narrower than the bounds' sum
    camp = cred[cred["level"] == "campaign"].iloc[0]
    assert camp["estimated_return_usd"] == pytest.approx(est.sum())
    assert camp["estimated_upper_usd"] - camp["estimated_return_usd"] < (c["estimated_upper_usd"] - est).sum()
    assert camp["estimated_return_usd"] - camp["estimated_lower_usd"] < (est - c["estimated_lower_usd"]).sum()


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rule", ["segments_independent", "comonotone"])
def test_ad_credibility_is_never_below_the_return_to_date(seed, rule):
    out, infos = build_report(prepare_inputs(*_world(seed)), list(DAYS[-4:]),
                              ReportConfig(max_ad_age_days=40, estimate_basis="ad_credibility", interval_rule=rule))
    assert all(i.estimate_note == "" for i in infos)
    est = out["estimated_return_usd"]
    assert (est >= out["return_to_date_usd"] - 1e-9).all()
    assert ((out["estimated_lower_usd"] <= est + 1e-9) & (est <= out["estimated_upper_usd"] + 1e-9)).all()
    assert np.isfinite(out["estimated_upper_usd"]).all()


def test_a_day_the_estimator_cannot_fit_falls_back_to_the_segment_curves_rest():
    one = F.installs()["user_id"].isin([4, 5, 6])  # one install day per ad: no within-ad noise to fit
    inputs = prepare_inputs(F.spend(), F.installs()[one], F.segments(), F.behavior(), F.ltv())
    cred, infos = build_report(inputs, [F.DAY], ReportConfig(estimate_basis="ad_credibility"))
    rest, _ = build_report(inputs, [F.DAY], ReportConfig(estimate_basis="realised_plus_expected"))
    assert "ad_credibility not fitted" in infos[0].estimate_note
    pd.testing.assert_frame_equal(cred, rest)
