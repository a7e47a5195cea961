"""A campaign's SKAN-modelled part on the ad groups and ads its postbacks name (docs/skan.md)."""

import numpy as np
import pandas as pd
import pytest

from adperf_assets.report.columns import typed
from adperf_assets.report.config import ReportConfig
from adperf_assets.skan.allocate import allocate_below, apportion
from adperf_assets.skan.report import SKAN_BASIS, fold_into_report

DAY = pd.Timestamp("2025-07-12")


def _installs(spec) -> pd.DataFrame:
    """``spec``: (ad group, ad, installs, digits, value) per block of installs of campaign c1."""
    rows = []
    for g, a, n, digits, v in spec:
        rows += [{"network": "facebook", "campaign_id": "c1", "ad_group_id": g if digits >= 3 else "",
                  "ad_id": a if digits >= 4 else "", "value": v}] * n
    return pd.DataFrame(rows)


#: ad a1 (busy): all 4 digits; a2: part 4, part 3, part 2 digits; a3 (small, other group): 2 digits only
SPEC = [("g1", "a1", 100, 4, 2.0), ("g1", "a2", 20, 4, 1.0), ("g1", "a2", 10, 3, 1.0), ("g1", "a2", 10, 2, 1.0),
        ("g2", "a3", 10, 2, 4.0)]
N = 150


def _campaign(modelled: int, ret=100.0, lo=60.0, hi=160.0) -> pd.DataFrame:
    return pd.DataFrame({"network": ["facebook"], "campaign_id": ["c1"], "modelled_installs": [modelled],
                         "modelled_return_usd": [ret], "modelled_lower_usd": [lo], "modelled_upper_usd": [hi]})


def test_apportion_keeps_the_total_and_each_part_within_one():
    x = np.array([0.4, 0.4, 0.4, 1.8, 7.0])
    r = apportion(x, 10)
    assert r.sum() == 10 and (np.abs(r - x) < 1).all() and (r >= 0).all()
    assert apportion(np.zeros(0), 0).size == 0


def test_each_row_gets_the_modelled_part_of_the_postbacks_that_name_it():
    inst = _installs(SPEC)
    m = 105  # 45 of 150 tracked: p = 0.3
    out = allocate_below(inst, inst["value"].to_numpy(), _campaign(m)).set_index(["level", "ad_group_id", "ad_id"])
    # the identified postbacks are counted exactly, each at the level it names
    assert out.loc[("ad", "g1", "a1"), "skan_installs"] == 100
    assert out.loc[("ad", "g1", "a2"), "skan_installs"] == 20
    assert out.loc[("ad_group", "g1", ""), "skan_installs"] == 130  # its ads' 120 + 10 naming only the group
    assert ("ad", "g2", "a3") not in out.index and ("ad_group", "g2", "") not in out.index  # never named
    # modelled installs: the campaign's untracked share (0.7) of them, whole numbers within one
    assert out.loc[("ad", "g1", "a1"), "modelled_installs"] == pytest.approx(70, abs=1)
    assert out.loc[("ad", "g1", "a2"), "modelled_installs"] == pytest.approx(14, abs=1)
    assert out.loc[("ad_group", "g1", ""), "modelled_installs"] == pytest.approx(91, abs=1)
    # nothing double-counted: ads <= their group <= the campaign, by the postbacks named only higher up
    ads = out.xs("ad", level="level")
    assert ads["modelled_installs"].sum() <= out.loc[("ad_group", "g1", ""), "modelled_installs"] <= m
    assert m - out.loc[("ad_group", "g1", ""), "modelled_installs"] == pytest.approx(0.7 * 20, abs=1)
    # return: the campaign's modelled return by the key values' shares (a1: 200 of 280)
    assert out.loc[("ad", "g1", "a1"), "value_share"] == pytest.approx(200 / 280)
    assert out.loc[("ad", "g1", "a1"), "modelled_return_usd"] == pytest.approx(100 * 200 / 280)
    assert out.loc[("ad_group", "g1", ""), "modelled_return_usd"] == pytest.approx(100 * 230 / 280)  # 10 of a2 name only the campaign
    # intervals: the campaign's half-widths x sqrt(share): relatively wider on the smaller rows
    s = out.loc[("ad", "g1", "a2"), "value_share"]
    r = out.loc[("ad", "g1", "a2")]
    assert r["modelled_lower_usd"] == pytest.approx(max(100 * s - 40 * np.sqrt(s), 0.0))  # never below 0
    assert r["modelled_upper_usd"] == pytest.approx(100 * s + 60 * np.sqrt(s))
    big = out.loc[("ad", "g1", "a1")]
    assert big["modelled_lower_usd"] == pytest.approx(100 * 200 / 280 - 40 * np.sqrt(200 / 280))
    rel = lambda x: (x["modelled_upper_usd"] - x["modelled_lower_usd"]) / x["modelled_return_usd"]  # noqa: E731
    assert rel(r) > rel(big) > 1.0


def test_allocation_is_exact_in_expectation_over_random_consent():
    """Consent independent of ad and tier: an ad's modelled part estimates its untracked named installs."""
    rng = np.random.default_rng(3)
    inst = _installs(SPEC)
    named_a1 = (inst["ad_id"] == "a1").to_numpy()
    got, true = [], []
    for _ in range(200):
        tracked = rng.random(N) < 0.3
        out = allocate_below(inst, inst["value"].to_numpy(), _campaign(int((~tracked).sum())))
        a1 = out[(out["level"] == "ad") & (out["ad_id"] == "a1")].iloc[0]
        got.append(a1["modelled_installs"])
        true.append(int((named_a1 & ~tracked).sum()))
    assert np.mean(got) == pytest.approx(np.mean(true), rel=0.02)


def _tracked(per_ad: dict) -> pd.DataFrame:
    """Tracked users of campaign c1: {(ad group, ad): count}."""
    return pd.DataFrame([{"network": "facebook", "campaign_id": "c1", "ad_group_id": g, "ad_id": a}
                         for (g, a), n in per_ad.items() for _ in range(n)])


#: 30% of each ad's installs tracked (45 of 150)
TRACKED = {("g1", "a1"): 30, ("g1", "a2"): 12, ("g2", "a3"): 3}


def test_the_rest_goes_to_the_rows_whose_tracked_users_show_unnamed_installs():
    """a1 is named by all its postbacks; a2 by half, a3 by none: their tracked users (1 in 0.3 of their
    installs) show 40 and 10 installs, so the unnamed rest goes to them, and each ad gets its untracked 70%."""
    inst = _installs(SPEC)
    out = allocate_below(inst, inst["value"].to_numpy(), _campaign(105), _tracked(TRACKED)).set_index(
        ["level", "ad_group_id", "ad_id"])
    assert out.loc[("ad", "g1", "a1"), "modelled_installs"] == 70 and out.loc[("ad", "g1", "a1"), "allocated_share"] == 0
    assert out.loc[("ad", "g1", "a2"), "modelled_installs"] == 28  # 14 named + 7 (3 digits) + 7 (2 digits)
    assert out.loc[("ad", "g2", "a3"), "modelled_installs"] == 7
    assert out.loc[("ad", "g2", "a3"), "allocated_share"] == pytest.approx(1.0)
    assert out.loc[("ad", "g2", "a3"), "skan_installs"] == 0  # no postback names it
    assert out.loc[("ad_group", "g1", ""), "modelled_installs"] == 98
    assert out.loc[("ad_group", "g2", ""), "modelled_installs"] == 7
    # everything placed, nothing twice: ads = groups = the campaign
    ads, groups = out.xs("ad", level="level"), out.xs("ad_group", level="level")
    assert ads["modelled_installs"].sum() == groups["modelled_installs"].sum() == 105
    assert ads["value_share"].sum() == pytest.approx(1.0) and groups["value_share"].sum() == pytest.approx(1.0)
    # the 2-digit postbacks' value (a2's 10 x 1 + a3's 10 x 4) is split by the unnamed installs: 25 each
    assert out.loc[("ad", "g2", "a3"), "value_share"] == pytest.approx(25 / 280)
    # an allocated part's interval also has its sampling error: relatively wider than a named part's
    rel = lambda x: (x["modelled_upper_usd"] - x["modelled_lower_usd"]) / x["modelled_return_usd"]  # noqa: E731
    named = allocate_below(inst, inst["value"].to_numpy(), _campaign(105)).set_index(["level", "ad_group_id", "ad_id"])
    a3 = out.loc[("ad", "g2", "a3")]
    assert a3["modelled_upper_usd"] - a3["modelled_return_usd"] > 60 * np.sqrt(a3["value_share"])
    assert rel(out.loc[("ad", "g1", "a1")]) == pytest.approx(rel(named.loc[("ad", "g1", "a1")]))


def test_the_allocated_value_follows_the_rows_tracked_key_values():
    """Same installs; a3's tracked users' keys are worth 4 each, the others' 1: more of the 2-digit value goes
    to a3 than by installs alone (25 of 280), shrunk toward the campaign's mean."""
    inst = _installs(SPEC)
    trk = _tracked(TRACKED)
    trk["value"] = np.where(trk["ad_id"] == "a3", 4.0, 1.0)
    out = allocate_below(inst, inst["value"].to_numpy(), _campaign(105), trk)
    a3 = out[(out["level"] == "ad") & (out["ad_id"] == "a3")].iloc[0]
    assert a3["modelled_installs"] == 7  # installs: by the unnamed installs alone
    q_c = (42 + 12) / 45
    q1, q3 = (42 + 20 * q_c) / (42 + 20), (12 + 20 * q_c) / (3 + 20)
    assert a3["value_share"] == pytest.approx(50 / 280 * q3 / (q1 + q3))
    assert out.loc[out["level"] == "ad", "value_share"].sum() == pytest.approx(1.0)


def test_allocated_installs_are_right_on_average_over_random_consent():
    """Consent independent of ad and tier: the ads' totals (tracked + modelled) estimate their installs."""
    rng = np.random.default_rng(5)
    inst = _installs(SPEC)
    ad_of = inst["ad_id"].where(inst["ad_id"] != "", None)
    true_ad = np.repeat(["a1", "a2", "a2", "a2", "a3"], [100, 20, 10, 10, 10])
    assert ad_of.dropna().isin(true_ad).all()
    shown = {"a1": [], "a2": [], "a3": []}
    for _ in range(300):
        tracked = rng.random(N) < 0.3
        per = {("g1" if a != "a3" else "g2", a): int((tracked & (true_ad == a)).sum()) for a in shown}
        out = allocate_below(inst, inst["value"].to_numpy(), _campaign(int((~tracked).sum())), _tracked(per))
        ads = out[out["level"] == "ad"].set_index("ad_id")["modelled_installs"]
        for a in shown:
            shown[a].append(per[("g1" if a != "a3" else "g2", a)] + ads.get(a, 0))
    assert np.mean(shown["a1"]) == pytest.approx(100, rel=0.03)
    assert np.mean(shown["a2"]) == pytest.approx(40, rel=0.1)
    assert np.mean(shown["a3"]) == pytest.approx(10, rel=0.25)  # no postback names it: its tracked users only
    named_only = allocate_below(inst, inst["value"].to_numpy(), _campaign(105))
    assert "a3" not in set(named_only["ad_id"])  # without the tracked users it would show 3 of 10


def test_keyless_installs_take_the_mean_and_no_modelled_part_gives_no_rows():
    inst = _installs(SPEC)
    v = inst["value"].to_numpy().copy()
    v[-10:] = np.nan  # a3's tier-0 postbacks: no value
    out = allocate_below(inst, v, _campaign(105))
    a1 = out[(out["level"] == "ad") & (out["ad_id"] == "a1")].iloc[0]
    mean = (200 + 40) / 140
    assert a1["value_share"] == pytest.approx(200 / (240 + 10 * mean))
    assert allocate_below(inst, v, _campaign(0)).empty


def _row(level, ad_group="", ad="", campaign="c1", network="facebook", users=10, ret=20.0, est=60.0, lo=40.0,
         hi=90.0, cost=100.0):
    return {"report_date": DAY, "level": level, "network": network, "account_id": "1" if level != "network" else "",
            "account_name": "a", "campaign_id": campaign if level in ("campaign", "ad_group", "ad") else "",
            "campaign_name": campaign, "ad_group_id": ad_group, "ad_group_name": ad_group, "ad_id": ad, "ad_name": ad,
            "first_spend_date": pd.Timestamp("2025-07-01"), "days_live": 12, "is_active": True,
            "history_truncated": False, "spend_installs": 10.0, "users": users, "cost_to_date_usd": cost,
            "cost_on_day_usd": 5.0, "paid_to_date_usd": ret, "return_to_date_usd": ret, "horizon_days": 180,
            "estimated_return_usd": est, "estimated_lower_usd": lo, "estimated_upper_usd": hi,
            "users_without_estimate": 0, "payback_basis": "none", "recommendation": "keep", "reason": ""}


def _report() -> pd.DataFrame:
    """c1 (iOS, with postbacks): g1 (a1, a2), g2 (a3); c2 (Android only, no postbacks): g9 (a9)."""
    rows = [_row("ad", "g1", "a1", users=20, ret=40.0, est=120.0, lo=90.0, hi=160.0),
            _row("ad", "g1", "a2", users=6, ret=12.0, est=30.0, lo=20.0, hi=45.0),
            _row("ad", "g2", "a3", users=4, ret=8.0, est=20.0, lo=10.0, hi=30.0),
            _row("ad_group", "g1", users=26, ret=52.0, est=150.0, lo=115.0, hi=190.0),
            _row("ad_group", "g2", users=4, ret=8.0, est=20.0, lo=10.0, hi=30.0),
            _row("campaign", users=30, ret=60.0, est=170.0, lo=130.0, hi=215.0),
            _row("ad", "g9", "a9", campaign="c2", users=50, ret=70.0, est=200.0, lo=150.0, hi=260.0),
            _row("ad_group", "g9", campaign="c2", users=50, ret=70.0, est=200.0, lo=150.0, hi=260.0),
            _row("campaign", campaign="c2", users=50, ret=70.0, est=200.0, lo=150.0, hi=260.0),
            _row("account", users=80, ret=130.0, est=370.0, lo=300.0, hi=450.0, cost=200.0),
            _row("network", users=80, ret=130.0, est=370.0, lo=300.0, hi=450.0, cost=200.0)]
    return typed(pd.DataFrame(rows))


def _modelled() -> pd.DataFrame:
    inst = _installs(SPEC)
    camp = _campaign(105)
    below = allocate_below(inst, inst["value"].to_numpy(), camp)
    camp = camp.assign(level="campaign", ad_group_id="", ad_id="", value_share=1.0)
    return pd.concat([camp, below], ignore_index=True).assign(report_date=DAY)


def test_fold_puts_the_named_part_on_ad_rows_and_the_rest_in_the_remainder():
    rep = _report()
    out = typed(fold_into_report(rep, _modelled(), ReportConfig()))
    at = lambda lvl, **k: out[(out["level"] == lvl) & np.logical_and.reduce(  # noqa: E731
        [out[c] == v for c, v in {"campaign_id": "c1", **k}.items()])].iloc[0]
    camp, g1, g2 = at("campaign"), at("ad_group", ad_group_id="g1"), at("ad_group", ad_group_id="g2")
    a1, a2, a3 = (at("ad", ad_id=a) for a in ("a1", "a2", "a3"))
    assert camp["modelled_installs"] == 105 and camp["return_basis"] == SKAN_BASIS
    for r, measured in ((a1, 20), (a2, 6), (g1, 26)):
        assert r["return_basis"] == SKAN_BASIS and r["modelled_installs"] > 0 and SKAN_BASIS in r["reason"]
        assert r["users"] == measured + r["modelled_installs"]
        assert 0 < r["modelled_share"] < 1 and r["estimated_lower_usd"] <= r["estimated_return_usd"] <= r["estimated_upper_usd"]
    # a3 is never named by a postback: measured only, its group too
    assert a3["return_basis"] == "measured" and a3["users"] == 4 and g2["modelled_installs"] == 0
    # the rows below + the remainder = the row, in installs and in estimated return
    for parent, kids in ((g1, [a1, a2]), (camp, [g1, g2])):
        assert parent["modelled_installs"] == sum(k["modelled_installs"] for k in kids) + parent["modelled_unattributed_installs"]
        assert parent["modelled_estimated_usd"] == pytest.approx(
            sum(k["modelled_estimated_usd"] for k in kids) + parent["modelled_unattributed_usd"])
        assert parent["modelled_unattributed_installs"] > 0 and parent["modelled_unattributed_usd"] > 0
    # the campaign's modelled estimate = its return x its measured estimate / return (170 / 60); ads share it
    assert camp["modelled_estimated_usd"] == pytest.approx(100 * 170 / 60)
    assert a1["modelled_estimated_usd"] == pytest.approx(100 * 170 / 60 * 200 / 280)
    assert a1["return_to_date_usd"] == pytest.approx(40 + 100 * 200 / 280)
    assert (out.loc[out["level"] == "ad", "modelled_unattributed_installs"] == 0).all()
    # account and network: exactly their campaigns' sums, no remainder
    acc = out[out["level"] == "account"].iloc[0]
    assert acc["modelled_installs"] == 105 and acc["modelled_unattributed_installs"] == 0


def test_rows_without_postbacks_are_unchanged():
    """c2 has no postbacks (say Android only): its rows are the report's as it was."""
    rep = _report()
    out = typed(fold_into_report(rep, _modelled(), ReportConfig()))
    c2 = (rep["campaign_id"] == "c2").to_numpy()
    cols = [c for c in rep.columns if c in out.columns]
    pd.testing.assert_frame_equal(out.loc[c2, cols].reset_index(drop=True), rep.loc[c2, cols].reset_index(drop=True))
    assert (out.loc[c2, "return_basis"] == "measured").all() and (out.loc[c2, "modelled_installs"] == 0).all()


def test_fold_with_the_rest_allocated_leaves_no_remainder_and_says_so():
    inst = _installs(SPEC)
    camp = _campaign(105)
    below = allocate_below(inst, inst["value"].to_numpy(), camp, _tracked(TRACKED))
    camp = camp.assign(level="campaign", ad_group_id="", ad_id="", value_share=1.0, allocated_share=0.0)
    mod = pd.concat([camp, below], ignore_index=True).assign(report_date=DAY)
    out = typed(fold_into_report(_report(), mod, ReportConfig()))
    c1 = out[out["campaign_id"] == "c1"].set_index(["level", "ad_group_id", "ad_id"])
    a3 = c1.loc[("ad", "g2", "a3")]
    assert a3["return_basis"] == SKAN_BASIS and a3["users"] == 4 + 7 and "allocated" in a3["reason"]
    assert "allocated" not in c1.loc[("ad", "g1", "a1"), "reason"]
    assert c1.loc[("campaign", "", ""), "modelled_unattributed_installs"] == 0
    assert c1.loc[("campaign", "", ""), "modelled_unattributed_usd"] == pytest.approx(0.0, abs=1e-6)
    assert c1.xs("ad", level="level")["modelled_estimated_usd"].sum() == pytest.approx(
        c1.loc[("campaign", "", ""), "modelled_estimated_usd"])
