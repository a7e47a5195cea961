"""The fast report (inputs coded once per run, bincount sums, payback searches in lockstep) against the
plain per-day pandas version it replaced, on random worlds with every awkward case: duplicate and
zero-cost spend rows, renamed ads, history beyond ``max_ad_age_days``, unmatched, organic and
segment-less users, revenue before install and refunds, missing or duplicated LTV rows, no intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.report import ReportConfig, build_report, prepare_inputs
from adperf_assets.report.payback import payback_day, payback_days, value_at
from adperf_assets_tests.report import reference_roas as ref

DAYS = pd.date_range("2025-03-01", "2025-04-30")
from adperf_assets.ltv.keys import HORIZONS
PLATFORMS = ("ios", "android")


def _world(seed: int):
    rng = np.random.default_rng(seed)
    ads = [("facebook" if i % 3 else "google_ads", f"a{i % 2}", f"c{i % 4}", f"g{i % 5}", f"ad{i}") for i in range(9)]
    spend = []
    for i, (net, acc, camp, grp, ad) in enumerate(ads):
        first = int(rng.integers(0, 50))
        for d in DAYS[first:first + int(rng.integers(3, 60))]:
            for _ in range(1 + int(rng.random() < 0.1)):  # some duplicate rows
                cost = 0.0 if rng.random() < 0.15 else float(np.round(rng.gamma(2.0, 4.0), 2))
                spend.append({"report_date": d, "network": net, "account_id": acc, "account_name": f"A {acc}",
                              "campaign_id": camp, "campaign_name": f"C {camp}", "ad_group_id": grp,
                              "ad_group_name": f"G {grp}", "ad_id": ad,
                              "ad_name": f"Ad {ad}" + (" v2" if d > DAYS[40] else ""),
                              "installs": float(rng.integers(0, 9)), "cost_usd": cost})
    spend = pd.DataFrame(spend)
    users, segs = [], []
    for uid in range(600):
        d = DAYS[int(rng.integers(0, len(DAYS)))]
        kind = rng.random()
        if kind < 0.05:
            net, ad = "organic", None
        elif kind < 0.1:
            net, ad = "unityads", f"lost{int(rng.integers(0, 3))}"
        else:
            net, ad = ads[int(rng.integers(0, len(ads)))][::4]
        users.append({"user_id": uid, "install_date": d, "network": net, "ad_id": ad, "attribution": "paid"})
        if rng.random() > 0.05:
            segs.append({"user_id": uid, "install_date": d, "platform": PLATFORMS[int(rng.integers(0, 2))],
                         "attribution": "paid", "network": net, "is_emulator": bool(rng.random() < 0.05)})
    installs, segments = pd.DataFrame(users), pd.DataFrame(segs)
    beh = []
    for u in users:
        for _ in range(int(rng.poisson(3))):
            d = u["install_date"] + pd.Timedelta(days=int(rng.integers(-2, 40)))
            paid = float(np.round(rng.normal(2.0, 3.0), 2))
            beh.append({"report_date": d, "user_id": u["user_id"], "paid_usd": paid,
                        "credited_usd": float(np.round(paid * rng.random(), 2)), "method": "shapley"})
    behavior = pd.DataFrame(beh)
    ltv = []
    for day in DAYS[-4:]:
        for cohort in DAYS[DAYS <= day]:
            for plat in PLATFORMS:
                for net in ("facebook", "google_ads", "unityads"):
                    if rng.random() < 0.1:
                        continue  # a missing cohort x segment
                    base = float(rng.gamma(2.0, 3.0))
                    for h in HORIZONS:
                        v = base * (1 + np.log(h / 30))
                        no_iv = rng.random() < 0.05
                        for _ in range(1 + int(rng.random() < 0.03)):  # a duplicated row
                            ltv.append({"report_date": day, "install_date": cohort, "platform": plat,
                                        "attribution": "paid", "network": net, "is_emulator": False, "horizon": h,
                                        "ltv_per_user_usd": v, "lower_usd": np.nan if no_iv else 0.6 * v,
                                        "upper_usd": np.nan if no_iv else 1.5 * v,
                                        "estimator": None if rng.random() < 0.05 else ("cohort", "btyd")[h % 2],
                                        "backtest_mape": np.nan if rng.random() < 0.1 else float(rng.random())})
    return spend, installs, segments, behavior, pd.DataFrame(ltv)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("config", [
    ReportConfig(max_ad_age_days=40, payback_search_days=200),
    ReportConfig(max_ad_age_days=35, interval_rule="comonotone", estimate_basis="realised_plus_expected",
                 horizon_days=30),
    ReportConfig(max_ad_age_days=40, estimate_basis="ad_credibility"),
    ReportConfig(max_ad_age_days=35, interval_rule="comonotone", estimate_basis="ad_credibility", horizon_days=30),
])
def test_fast_report_equals_the_per_day_pandas_version(seed, config):
    tables = _world(seed)
    days = list(DAYS[-5:])  # the first has no ltv_estimates
    out, infos = build_report(prepare_inputs(*tables), days, config)
    rinputs = ref.prepare_inputs(*tables)
    frames, rinfos = zip(*(ref.build_day(rinputs, d, config) for d in days))
    expected = ref.typed(pd.concat(frames, ignore_index=True), config)
    assert len(out) > 50 and (out["payback_basis"] == "estimated").any() and (out["payback_basis"] == "realised").any()
    assert (out["users_without_estimate"] > 0).any() and out["history_truncated"].any()
    pd.testing.assert_frame_equal(out, expected, rtol=1e-9)
    for got, want in zip(infos, rinfos):
        assert got.unmatched_users > 0 and got.users_without_segment > 0
        assert got.unmatched_return_usd == pytest.approx(want.unmatched_return_usd, rel=1e-9, abs=1e-9)
        assert {**vars(got), "unmatched_return_usd": 0} == {**vars(want), "unmatched_return_usd": 0}


def test_payback_days_equals_payback_day_group_by_group():
    rng = np.random.default_rng(7)
    knots = np.array(HORIZONS, dtype=float)
    groups, width = 40, 30
    daily = rng.gamma(1.0, 2.0, size=(groups, width)) * (rng.random((groups, width)) < 0.3)
    n_days = rng.integers(1, width + 1, size=groups)
    cost = rng.gamma(2.0, 30.0, size=groups)
    cost[:3] = [0.0, np.nan, -1.0]
    cell_group = np.sort(rng.integers(3, groups - 4, size=120))  # the last groups have no cells
    offsets = rng.integers(-3, 30, size=cell_group.size).astype(float)
    users = rng.integers(1, 20, size=cell_group.size).astype(float)
    kv = np.cumsum(rng.gamma(1.0, 1.0, size=(cell_group.size, knots.size)), axis=1)
    got = payback_days(cost, np.cumsum(daily, axis=1), n_days, cell_group, offsets, users, knots, kv, 120)
    for g in range(groups):
        series = daily[g, width - n_days[g]:].copy()
        series[0] += daily[g, :width - n_days[g]].sum()
        k = cell_group == g
        assert got[g] == payback_day(cost[g], series, offsets[k], users[k], knots, kv[k], 120), g
    assert {p.basis for p in got} == {"none", "realised", "estimated"}
    assert value_at(np.array([15.0, 400.0]), knots, kv[:2]).shape == (2,)
