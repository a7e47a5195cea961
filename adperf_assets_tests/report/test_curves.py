"""Cohort ROAS curves (``report.curves``): realised = cumulative return / cost, continuous estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.report import ReportConfig, build_report, prepare_inputs
from adperf_assets.report.curves import CURVE_COLUMNS, cohort_curves, still_to_come
from adperf_assets.report.plot import roas_curves_figure
from adperf_assets_tests.report import frames as F
from adperf_assets_tests.report.test_fast_paths import DAYS, _world

H = 180


def test_cohort_curves_by_hand():
    # one group, cost $100; cohorts: 5 users seen 10 days, 2 users seen 3 days, curve V(a) = a/3 to day 30
    knots = np.array([30.0, 90.0, 180.0, 365.0])
    kv = np.array([[10.0, 20.0, 30.0, 40.0]] * 2)
    still = still_to_come(np.array([0, 0]), 1, np.array([5.0, 2.0]), np.array([10, 3]), knots, kv, H)
    assert still[0, :2].tolist() == [0.0, 0.0] and still[0, 2] == 0.0  # the 3-day cohort has seen days 0..2
    assert still[0, 3] == pytest.approx(2 * (4 / 3 - 1))
    assert still[0, 10] == pytest.approx(2 * (11 / 3 - 1) + 5 * (11 / 3 - 10 / 3))
    rev = np.zeros((1, H + 1))
    rev[0, [0, 2, 9]] = [4.0, 6.0, 10.0]
    end_rest = still[0, -1]
    cur = cohort_curves(np.array([100.0]), rev, still, np.array([10]), np.array([20.0 + end_rest]),
                        np.array([20.0 + 0.5 * end_rest]), np.array([20.0 + 2 * end_rest]))
    assert np.allclose(cur["realised"][0, :10], np.cumsum(rev[0])[:10] / 100)  # cumulative return / cost
    assert np.isnan(cur["realised"][0, 10:]).all()  # no cohort has been seen 11 days
    assert np.allclose(cur["estimated"][0, :3], cur["realised"][0, :3])  # nothing still to come: the same
    assert np.allclose(cur["lower"][0, :3], cur["upper"][0, :3])
    assert cur["estimated"][0, -1] == pytest.approx((20 + end_rest) / 100)  # ends at the report's estimate
    assert cur["lower"][0, -1] == pytest.approx((20 + 0.5 * end_rest) / 100)
    assert cur["upper"][0, -1] == pytest.approx((20 + 2 * end_rest) / 100)
    assert (np.diff(cur["estimated"][0]) >= -1e-12).all()


@pytest.mark.parametrize("basis", ["segment_average", "ad_credibility"])
def test_curves_of_a_report_day(basis):
    cfg = ReportConfig(max_ad_age_days=40, estimate_basis=basis)
    out, infos = build_report(prepare_inputs(*_world(1)), list(DAYS[-2:]), cfg, curves_on=DAYS[-1])
    assert infos[0].curves is None
    cur = infos[-1].curves
    assert list(cur.columns) == ["report_date", *CURVE_COLUMNS] and set(cur["level"]) == {"campaign", "network"}
    last = out[out["report_date"] == DAYS[-1]]
    for (lv, net, camp), g in cur.groupby(["level", "network", "campaign_id"]):
        row = last[(last["level"] == lv) & (last["network"] == net) & (last["campaign_id"] == camp)].iloc[0]
        assert len(g) == H + 1 and g["cost_usd"].iloc[0] == pytest.approx(row["cost_to_date_usd"])
        real = g["realised_roas"].dropna().to_numpy()
        est, lo, hi = (g[c].to_numpy() for c in ("estimated_roas", "estimated_roas_lower", "estimated_roas_upper"))
        # realised: through the oldest cohort's last day, ending at return to date / cost (ages <= 180 here)
        assert real[-1] == pytest.approx(row["return_to_date_usd"] / row["cost_to_date_usd"])
        assert est[-1] == pytest.approx(max(row["estimated_roas"], real[-1]))
        assert ((lo <= est + 1e-12) & (est <= hi + 1e-12)).all()
        # continuous: the estimate departs from the realised curve only by what is still to come
        gap = est[:len(real)] - real
        assert (gap >= -1e-12).all() and gap[0] == pytest.approx(0.0, abs=1e-12)
        assert np.abs(np.diff(est)).max() <= max(np.abs(np.diff(real)).max(), (est[-1] - est[0]) / 20)
    fig = roas_curves_figure(cur, "campaign", config=cfg)
    assert len(fig.axes[0].lines) >= 3


def test_plot_without_spend():
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ["report_date", *CURVE_COLUMNS]})
    assert roas_curves_figure(empty, "network").axes[0].texts[0].get_text() == "no network with spend"
    _, infos = build_report(prepare_inputs(F.spend(), F.installs(), F.segments(), F.behavior(), F.ltv()), [F.DAY],
                            curves_on=F.DAY)
    assert len(infos[0].curves) == (2 + 2) * (H + 1)  # campaigns c1 and c2, networks facebook and google_ads
