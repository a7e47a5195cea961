"""The ROAS report on a world with ATT: iOS campaign rows = measured + SKAN-modelled (docs/skan.md)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.resources import build_resources
from adperf_assets.report.columns import typed
from adperf_assets.report.config import ReportConfig
from adperf_assets.skan.report import FIRST_POSTBACK_DAYS, SKAN_BASIS, calibration_users, fold_into_report
from adperf_assets.skan.schema import ATT_EXEMPT_NETWORKS
from adperf_assets_tests.conftest import SMALL, settings_for
from adperf_assets_tests.report import runs

DAY = runs.REPORT_DAYS[-1]
SKAN_SOURCES = [*runs.SOURCES, "skan_postbacks", "user_activity"]
REPORT = ["ltv_estimates", "skan_modelled", "roas_report"]


def _world_home(tmp_path_factory, name: str, preset: str):
    s = dataclasses.replace(settings_for(tmp_path_factory.mktemp(name), **SMALL), sample_preset=preset)
    res = runs.materialize(SKAN_SOURCES, build_resources(s), runs.FIRST, runs.LAST, with_checks=False)
    assert res.success
    res = runs.materialize(REPORT, build_resources(s), DAY, with_checks=False)
    assert res.success
    return s


@pytest.fixture(scope="module")
def att_home(tmp_path_factory):
    return _world_home(tmp_path_factory, "att_report", "att")


@pytest.fixture(scope="module")
def full_home(tmp_path_factory):
    """The same world with everyone tracked (preset ``no_att``: ``att_opt_in=1.0``, the world before ATT)."""
    return _world_home(tmp_path_factory, "full_report", "no_att")


def _report(s) -> pd.DataFrame:
    return runs.table(s, "roas_report", "order by level, network, account_id, campaign_id, ad_group_id, ad_id")


def test_ios_campaigns_carry_the_modelled_part(att_home):
    rep = _report(att_home)
    modelled = runs.table(att_home, "skan_modelled")
    modelled = modelled[modelled["level"] == "campaign"]
    assert len(modelled) and (modelled["modelled_installs"] > 0).any()
    camp = rep[rep["level"] == "campaign"]
    skan = camp[camp["return_basis"] == SKAN_BASIS]
    assert len(skan) >= 1
    assert (skan["modelled_installs"] > 0).all() and skan["modelled_share"].between(0, 1, inclusive="neither").all()
    # totals = measured + modelled: the campaign's ads hold the measured users and the modelled part of the
    # postbacks that name them; the rest is the ad groups' and the campaign's explicit remainder
    cols = ["users", "estimated_return_usd", "modelled_installs", "modelled_estimated_usd",
            "modelled_unattributed_installs", "modelled_unattributed_usd"]
    ads = rep[rep["level"] == "ad"].groupby(["network", "campaign_id"])[cols].sum()
    groups = rep[rep["level"] == "ad_group"].groupby(["network", "campaign_id"])[cols].sum()
    for r in skan.itertuples():
        a, g = ads.loc[(r.network, r.campaign_id)], groups.loc[(r.network, r.campaign_id)]
        rest = g["modelled_unattributed_installs"] + r.modelled_unattributed_installs
        assert r.users == a["users"] + rest
        assert r.modelled_installs == a["modelled_installs"] + rest
        assert r.estimated_return_usd == pytest.approx(a["estimated_return_usd"] + g["modelled_unattributed_usd"]
                                                       + r.modelled_unattributed_usd, rel=1e-9)
        assert r.estimated_lower_usd <= r.estimated_return_usd <= r.estimated_upper_usd
        m = modelled[(modelled["network"] == r.network) & (modelled["campaign_id"] == r.campaign_id)].iloc[0]
        assert r.modelled_installs == m["modelled_installs"]
    # roll-ups carry their campaigns' modelled parts
    net = rep[rep["level"] == "network"].set_index("network")
    for n, g in skan.groupby("network"):
        assert net.loc[n, "modelled_installs"] == g["modelled_installs"].sum()
        assert net.loc[n, "return_basis"] == SKAN_BASIS


def test_ads_named_by_four_digit_postbacks_get_their_modelled_part(att_home):
    """Campaigns whose postbacks carry 4 digits have modelled ad rows: measured + the untracked part of the
    postbacks naming the ad; each ad group = its ads + its remainder, each campaign = its groups + its remainder."""
    rep = _report(att_home)
    pb = runs.table(att_home, "skan_postbacks")
    four = pb[pb["did_win"] & (pb["postback_sequence_index"] == 0) & (pb["source_identifier"].str.len() == 4)]
    assert len(four) > 5
    below = runs.table(att_home, "skan_modelled")
    below = below[(below["level"] == "ad") & (below["report_date"] == pd.Timestamp(DAY))]
    ads = rep[(rep["level"] == "ad") & (rep["return_basis"] == SKAN_BASIS)]
    assert len(ads) >= 2 and (ads["modelled_installs"] > 0).all() and ads["modelled_share"].between(0, 1, inclusive="neither").all()
    shown = set(zip(ads["network"], ads["ad_id"]))
    assert shown <= set(zip(below["network"], below["ad_id"]))
    # the ads the 4-digit postbacks name carry their part; others get theirs allocated by their tracked users
    named = below[below["skan_installs"] > 0]
    on_rows = set(zip(rep.loc[rep["level"] == "ad", "network"], rep.loc[rep["level"] == "ad", "ad_id"]))
    named_ads = set(zip(named["network"], named["ad_id"])) & on_rows
    # (the small world's few 4-digit postbacks arrive in its first days, before the cohorts the day models:
    # the named path is tested on synthetic postbacks in test_allocate.py)
    assert named_ads <= shown and named_ads <= set(zip(four["network"], four["ad_id"]))
    allocated = ads[~ads["ad_id"].isin(named["ad_id"])]
    assert len(allocated) and allocated["reason"].str.contains("allocated").all()
    assert (ads["estimated_lower_usd"] <= ads["estimated_return_usd"]).all()
    assert (ads["estimated_return_usd"] <= ads["estimated_upper_usd"]).all()
    cols = ["modelled_installs", "modelled_estimated_usd"]
    for parent, child, key in (("ad_group", "ad", ["network", "campaign_id", "ad_group_id"]),
                               ("campaign", "ad_group", ["network", "campaign_id"])):
        p = rep[(rep["level"] == parent) & (rep["modelled_installs"] > 0)].set_index(key)
        k = rep[rep["level"] == child].groupby(key)[cols].sum().reindex(p.index).fillna(0)
        assert (p["modelled_installs"] == k["modelled_installs"] + p["modelled_unattributed_installs"]).all()
        assert np.allclose(p["modelled_estimated_usd"], k["modelled_estimated_usd"] + p["modelled_unattributed_usd"])
        assert (p["modelled_unattributed_installs"] >= 0).all() and (p["modelled_unattributed_usd"] >= -1e-9).all()
    # iOS-less rows (no postbacks): measured, nothing modelled
    plain = rep[rep["return_basis"] == "measured"]
    assert (plain["modelled_installs"] == 0).all() and (plain["modelled_unattributed_installs"] == 0).all()


def test_the_att_world_counts_installs_the_full_world_attributes(att_home, full_home):
    """Tracked + modelled installs of each SKAN campaign are the iOS installs the same world without ATT
    attributes by user (cohorts whose first postbacks have all arrived; edges placed by estimate)."""
    modelled = runs.table(att_home, "skan_modelled")
    m = modelled[(modelled["report_date"] == pd.Timestamp(DAY)) & (modelled["level"] == "campaign")].set_index(
        ["network", "campaign_id"])
    assert (m["skan_installs"] == m["tracked_installs"] + m["modelled_installs"]).all()
    ins = runs.table(full_home, "installs")
    last = pd.Timestamp(DAY) - pd.Timedelta(days=FIRST_POSTBACK_DAYS)
    ios = ins[(ins["platform"] == "ios") & (ins["install_date"] <= last) & (ins["campaign_id"] != "")
              & ~ins["network"].isin(ATT_EXEMPT_NETWORKS)]
    true = ios.groupby(["network", "campaign_id"]).size()
    both = m.join(true.rename("true"), how="inner")
    assert len(both) == len(m) >= 2
    assert both["skan_installs"].sum() == pytest.approx(both["true"].sum(), rel=0.05)
    # att_opt_in 0.3: overall, and per campaign where the binomial noise allows (>= 20 installs)
    assert both["tracked_installs"].sum() / both["true"].sum() == pytest.approx(0.3, abs=0.06)
    big = both[both["true"] >= 20]
    assert len(big) >= 2 and (big["tracked_installs"] / big["true"]).between(0.15, 0.45).all()


def test_android_is_the_full_worlds(att_home, full_home):
    """Android users, their attribution and value are the same with and without ATT; the campaigns'
    measured users are the Android plus the tracked iOS users (campaigns mix platforms, so the rows'
    estimates differ by the iOS part)."""
    key = ["user_id"]
    a_ins, f_ins = runs.table(att_home, "installs"), runs.table(full_home, "installs")
    a_and = a_ins[a_ins["platform"] == "android"].sort_values(key).reset_index(drop=True)
    f_and = f_ins[f_ins["platform"] == "android"].sort_values(key).reset_index(drop=True)
    assert len(a_and) > 100
    pd.testing.assert_frame_equal(a_and, f_and)
    a_bv, f_bv = runs.table(att_home, "behavior_value"), runs.table(full_home, "behavior_value")
    sel = lambda t: t[t["user_id"].isin(a_and["user_id"])].sort_values(["report_date", "user_id"]).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(sel(a_bv), sel(f_bv))
    att = _report(att_home)
    camp = att[att["level"] == "campaign"].set_index(["network", "campaign_id"])
    on_ads = a_ins[a_ins["ad_id"] != ""].groupby(["network", "campaign_id"]).size()
    measured = camp["users"] - camp["modelled_installs"]
    assert (measured == on_ads.reindex(measured.index).fillna(0)).all()


def _row(level, campaign, users, ret, est, lo, hi, cost=100.0):
    return {"report_date": pd.Timestamp(DAY), "level": level, "network": "facebook", "account_id": "1",
            "account_name": "a", "campaign_id": campaign, "campaign_name": campaign, "ad_group_id": "", "ad_group_name": "",
            "ad_id": "", "ad_name": "", "first_spend_date": pd.Timestamp("2025-07-01"), "days_live": 12,
            "is_active": True, "history_truncated": False, "spend_installs": 10.0, "users": users,
            "cost_to_date_usd": cost, "cost_on_day_usd": 5.0, "paid_to_date_usd": ret, "return_to_date_usd": ret,
            "horizon_days": 180, "estimated_return_usd": est, "estimated_lower_usd": lo, "estimated_upper_usd": hi,
            "users_without_estimate": 0, "payback_basis": "none", "recommendation": "keep", "reason": ""}


def test_fold_adds_the_modelled_part_and_combines_the_intervals():
    rep = typed(pd.DataFrame([_row("campaign", "c1", 10, 20.0, 60.0, 40.0, 90.0),
                              _row("campaign", "c2", 5, 10.0, 30.0, 20.0, 40.0),
                              _row("network", "", 15, 30.0, 90.0, 70.0, 120.0, cost=200.0)]))
    mod = pd.DataFrame({"report_date": [pd.Timestamp(DAY)], "network": ["facebook"], "campaign_id": ["c1"],
                        "skan_installs": [30], "tracked_installs": [10], "modelled_installs": [20],
                        "tracked_return_usd": [20.0], "modelled_return_usd": [40.0], "modelled_lower_usd": [30.0],
                        "modelled_upper_usd": [55.0], "null_share": [0.1], "ratio": [1.0]})
    out = typed(fold_into_report(rep, mod, ReportConfig()))
    c1, c2, net = out.iloc[0], out.iloc[1], out.iloc[2]
    # the rest's estimate = its return to date x the campaign's estimate / return to date (60 / 20)
    assert c1["users"] == 30 and c1["modelled_installs"] == 20
    assert c1["return_to_date_usd"] == 60.0 and c1["estimated_return_usd"] == 60.0 + 120.0
    assert c1["modelled_estimated_usd"] == 120.0 and c1["modelled_share"] == pytest.approx(120 / 180)
    k = 180 / 60  # the LTV model's half-widths scale with the total; the decoder's (x3) add in quadrature
    assert c1["estimated_lower_usd"] == pytest.approx(180 - np.hypot(k * 20, 3 * 10))
    assert c1["estimated_upper_usd"] == pytest.approx(180 + np.hypot(k * 30, 3 * 15))
    assert c1["roas"] == pytest.approx(0.6) and c1["estimated_roas"] == pytest.approx(1.8)
    assert c1["return_basis"] == SKAN_BASIS and SKAN_BASIS in c1["reason"]
    assert c2["return_basis"] == "measured" and c2["users"] == 5 and c2["estimated_return_usd"] == 30.0
    assert net["users"] == 35 and net["estimated_return_usd"] == 210.0 and net["return_basis"] == SKAN_BASIS
    assert net["estimated_lower_usd"] == pytest.approx(210 - np.hypot(210 / 90 * 20, 30))


def test_untracked_ios_users_are_not_organic(att_home, full_home):
    """AppsFlyer shows non-consenting users of paid media as ``restricted``: a paid segment of their own,
    never the organic one, so the organic segments' LTV holds the same users as without ATT and the
    modelled SKAN part is not counted twice."""
    a, f = runs.table(att_home, "user_segments"), runs.table(full_home, "user_segments")
    organic = lambda t: t[t["attribution"] == "organic"].sort_values("user_id")["user_id"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_series_equal(organic(a), organic(f))
    restricted = a[a["network"] == "restricted"]
    assert len(restricted) > 50 and (restricted["attribution"] == "paid").all() and (restricted["platform"] == "ios").all()
    att = _report(att_home)
    assert not att["network"].eq("restricted").any()  # no ad, so in no report row


def test_the_decoder_calibrates_on_tracked_and_restricted_users(att_home):
    """The key values are learnt from every iOS user whose key the app knows: the tracked ones (their
    campaign named) and the restricted ones (campaign unknown); only the tracked carry a campaign."""
    inst = runs.table(att_home, "installs")
    c = calibration_users(inst, ["facebook", "google_ads", "tiktok"])
    ios = inst[inst["platform"] == "ios"]
    n_restricted = ios[(ios["network"] == "restricted") & (ios["attribution"] == "paid")]["user_id"].nunique()
    assert n_restricted > 50 and (~c["tracked"]).sum() == n_restricted
    assert (c.loc[~c["tracked"], "campaign_id"] == "").all() and (c.loc[c["tracked"], "campaign_id"] != "").all()
    assert set(c.loc[c["tracked"], "network"]) <= {"facebook", "google_ads", "tiktok"} and c["tracked"].sum() > 20
    assert c["user_id"].is_unique


def test_network_over_claim_counts_the_untracked_ios_installs(att_home, full_home):
    """Networks count every install; the MMP names the ad of tracked users only. Adding the day's
    ``restricted`` installs (shared over the ads) gives the same over-claim as without ATT."""
    from adperf_assets.normalize.installs_vs_spend import installs_vs_network

    def overall(home, with_untracked=True):
        cmp = installs_vs_network(runs.table(home, "installs"), runs.table(home, "ad_spend"))
        mmp = cmp["mmp_installs"].sum() + (cmp["untracked_installs"].sum() if with_untracked else 0)
        return cmp["network_installs"].sum() / mmp, cmp

    full, _ = overall(full_home)
    att, cmp = overall(att_home)
    assert 1.05 < full < 1.2 and att == pytest.approx(full, rel=0.03)
    assert overall(att_home, with_untracked=False)[0] > 1.4  # what the check saw before
    assert not cmp["flagged"].any()

