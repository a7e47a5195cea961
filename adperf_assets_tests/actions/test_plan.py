"""The action planner's guards on adversarial reports."""

import numpy as np
import pandas as pd
import pytest

from adperf_assets.actions import ActionPolicy, plan_actions
from adperf_assets.actions.plan import ActionInputError, measured_precision
from adperf_assets.actions.policy import KILL_SWITCH_ENV

DAY = pd.Timestamp("2026-03-01")


def row(level, ad="", grp="g1", camp="c1", call="stop", est=0.5, lo=0.3, hi=0.8, cost=500.0, days=20, net="facebook"):
    ids = {"ad": (camp, grp, ad), "ad_group": (camp, grp, ""), "campaign": (camp, "", "")}[level]
    return {"report_date": DAY, "level": level, "network": net, "account_id": "act1", "account_name": "Acc",
            "campaign_id": ids[0], "campaign_name": f"name-{ids[0]}" if ids[0] else "", "ad_group_id": ids[1],
            "ad_group_name": f"name-{ids[1]}" if ids[1] else "", "ad_id": ids[2], "ad_name": f"name-{ids[2]}" if ids[2] else "",
            "days_live": days, "cost_to_date_usd": cost, "estimated_roas": est, "estimated_roas_lower": lo,
            "estimated_roas_upper": hi, "recommendation": call}


def state(*objs):
    return pd.DataFrame([{"network": "facebook", "level": lv, "object_id": oid, "status": st, "daily_budget": b,
                          "currency": "USD"} for lv, oid, st, b in objs])


PRECISION = pd.DataFrame([
    {"level": lv, "age_days": age, "stop_precision": 0.9, "scale_precision": 0.85}
    for lv in ("ad", "ad_group", "campaign") for age in (7, 14, 30)])
POLICY = ActionPolicy()


def one(plan, oid):
    return plan[plan["object_id"] == oid].iloc[0]


def test_stop_pauses_an_active_ad_and_scale_moves_the_budget_holder_by_the_step():
    report = pd.DataFrame([row("ad", "a1"), row("ad_group", call="scale", est=2.0, lo=1.5, hi=2.5, cost=900)])
    st = state(("ad", "a1", "ACTIVE", np.nan), ("ad_group", "g1", "ACTIVE", 50.0))
    plan = plan_actions(report, st, POLICY, PRECISION)
    a1, g1 = one(plan, "a1"), one(plan, "g1")
    assert (a1["action"], a1["status_after"], a1["decision"]) == ("pause", "PAUSED", "planned")
    assert "right in 90% at day 14" in a1["reason"]
    assert (g1["action"], g1["budget_before"], g1["budget_after"]) == ("raise_budget", 50.0, 60.0)
    assert plan["decision"].tolist() == ["planned", "planned"] and plan["object_id"].tolist() == ["g1", "a1"]


def test_every_ad_stop_is_capped_at_the_days_limit_biggest_spend_first():
    report = pd.DataFrame([row("ad", f"a{i}", cost=100.0 + i) for i in range(50)])
    st = state(*[("ad", f"a{i}", "ACTIVE", np.nan) for i in range(50)])
    plan = plan_actions(report, st, ActionPolicy(max_actions_per_day=5), PRECISION)
    done = plan[plan["decision"] == "planned"]
    assert sorted(done["object_id"]) == [f"a{i}" for i in range(45, 50)]
    rest = plan[plan["decision"] == "skipped"]
    assert len(rest) == 45 and rest["reason"].str.contains("over the policy's 5 actions a day").all()
    assert (rest["action"] == "none").all() and (rest["status_after"] == "ACTIVE").all()


def test_budgets_at_their_limits_do_not_move():
    report = pd.DataFrame([row("ad_group", grp="g1", call="stop"), row("ad_group", grp="g2", call="scale", est=3, lo=2, hi=4),
                           row("ad_group", grp="g3", call="scale", est=3, lo=2, hi=4)])
    st = state(("ad_group", "g1", "ACTIVE", 1.0), ("ad_group", "g2", "ACTIVE", 100.0), ("ad_group", "g3", "ACTIVE", 90.0))
    plan = plan_actions(report, st, ActionPolicy(min_daily_budget=1.0, max_daily_budget=100.0), PRECISION)
    assert one(plan, "g1")["decision"] == "skipped" and "already at the policy's limit" in one(plan, "g1")["reason"]
    assert one(plan, "g2")["decision"] == "skipped"
    assert one(plan, "g3")["budget_after"] == 100.0  # +20% would be 108: clipped at the ceiling


def test_nan_interval_unknown_object_excluded_and_too_early_are_skipped_with_reasons():
    report = pd.DataFrame([row("ad", "a1", hi=np.nan), row("ad", "a2"), row("ad", "a3"), row("ad", "a4", cost=20),
                           row("ad", "a5", days=3)])
    st = state(("ad", "a1", "ACTIVE", np.nan), ("ad", "a3", "ACTIVE", np.nan), ("ad", "a4", "ACTIVE", np.nan),
               ("ad", "a5", "ACTIVE", np.nan))
    plan = plan_actions(report, st, ActionPolicy(exclude=("name-a3",)), PRECISION)
    assert (plan["decision"] == "skipped").all()
    assert "no finite estimated ROAS" in one(plan, "a1")["reason"]
    assert "not found on facebook" in one(plan, "a2")["reason"]
    assert "excluded by policy (name-a3)" in one(plan, "a3")["reason"]
    assert "too early" in one(plan, "a4")["reason"] and "too early" in one(plan, "a5")["reason"]


def test_a_paused_ad_called_scale_is_resumed_only_if_allowed_and_its_paused_ad_set_keeps_its_budget():
    report = pd.DataFrame([row("ad", "a1", call="scale", est=2, lo=1.5, hi=3), row("ad", "a2"),
                           row("ad_group", grp="g9", call="scale", est=2, lo=1.5, hi=3)])
    st = state(("ad", "a1", "PAUSED", np.nan), ("ad", "a2", "PAUSED", np.nan), ("ad_group", "g9", "PAUSED", 40.0))
    plan = plan_actions(report, st, POLICY, PRECISION)
    assert (one(plan, "a1")["action"], one(plan, "a1")["status_after"]) == ("resume", "ACTIVE")
    assert "already paused" in one(plan, "a2")["reason"]
    assert one(plan, "g9")["decision"] == "skipped" and one(plan, "g9")["budget_after"] == 40.0
    plan = plan_actions(report, st, ActionPolicy(allow_resume=False), PRECISION)
    assert one(plan, "a1")["decision"] == "skipped"
    removed = plan_actions(report, state(("ad", "a1", "REMOVED", np.nan), ("ad", "a2", "ARCHIVED", np.nan)), POLICY,
                           PRECISION)
    assert "status REMOVED on facebook: only active or paused" in one(removed, "a1")["reason"]
    assert "status ARCHIVED" in one(removed, "a2")["reason"]


def test_calls_with_low_or_unmeasured_precision_are_not_acted_on():
    report = pd.DataFrame([row("ad", "a1", days=10), row("ad", "a2", days=40), row("ad", "a3", days=5)])
    st = state(*[("ad", f"a{i}", "ACTIVE", np.nan) for i in (1, 2, 3)])
    prec = PRECISION.assign(stop_precision=np.where(PRECISION["age_days"] == 7, 0.6, 0.95))
    plan = plan_actions(report, st, ActionPolicy(min_days=1), prec)
    assert "right in 60% of cases, below the policy's 80%" in one(plan, "a1")["reason"]  # day 10 -> measured at 7
    assert one(plan, "a2")["decision"] == "planned" and one(plan, "a2")["age_scored"] == 30
    assert "no measured precision" in one(plan, "a3")["reason"]  # younger than the first scored age
    assert (plan_actions(report, st, ActionPolicy(min_days=1), None)["decision"] == "skipped").all()
    acted = plan_actions(report, st, ActionPolicy(min_days=1, act_unmeasured=True), None)
    assert (acted["decision"] == "planned").all()


def test_measured_precision_takes_the_largest_scored_age_not_above_the_objects():
    assert measured_precision(PRECISION, "ad", "stop", 20) == (14, 0.9)
    assert measured_precision(PRECISION, "ad", "scale", 6) == (None, pytest.approx(np.nan, nan_ok=True))


def test_policy_kill_switch_and_validation(monkeypatch):
    monkeypatch.delenv(KILL_SWITCH_ENV, raising=False)
    assert ActionPolicy().effective_dry_run() and not ActionPolicy(dry_run=False).effective_dry_run()
    monkeypatch.setenv(KILL_SWITCH_ENV, "1")
    assert ActionPolicy(dry_run=False).effective_dry_run()
    with pytest.raises(ValueError, match="max_budget_step"):
        ActionPolicy(max_budget_step=1.5)
    with pytest.raises(ValueError, match="max_daily_budget"):
        ActionPolicy(min_daily_budget=10, max_daily_budget=5)


def test_bad_inputs_name_the_table_and_field():
    with pytest.raises(ActionInputError, match="roas_report: missing column.*recommendation"):
        plan_actions(pd.DataFrame([row("ad", "a1")]).drop(columns="recommendation"), state(), POLICY)
    with pytest.raises(ActionInputError, match="network state: objects listed twice"):
        plan_actions(pd.DataFrame([row("ad", "a1")]), state(("ad", "a1", "ACTIVE", np.nan), ("ad", "a1", "PAUSED", np.nan)),
                     POLICY)


def test_real_network_clients_are_opted_into_apart_from_reading(tmp_path):
    import dataclasses

    import dagster as dg

    from adperf_assets.defs.actions.facebook_actions import FacebookAdActions
    from adperf_assets.defs.actions.google_ads_actions import GoogleAdsAdActions
    from adperf_assets.defs.actions.networks import SampleAdActions
    from adperf_assets.defs.resources import build_resources
    from adperf_assets.settings import load_settings

    base = dataclasses.replace(load_settings(), home=tmp_path, real_sources=frozenset({"facebook", "google_ads"}))
    r = build_resources(base)
    assert isinstance(r["facebook_actions"], SampleAdActions) and isinstance(r["google_ads_actions"], SampleAdActions)
    r = build_resources(dataclasses.replace(base, real_sources=frozenset({"facebook_actions", "google_ads_actions"})))
    assert isinstance(r["facebook_actions"], FacebookAdActions)
    assert r["facebook_actions"].access_token == dg.EnvVar("FACEBOOK_ACTIONS_ACCESS_TOKEN")
    assert isinstance(r["google_ads_actions"], GoogleAdsAdActions)
    assert r["google_ads_actions"].developer_token == dg.EnvVar("GOOGLE_ADS_DEVELOPER_TOKEN")
    r = build_resources(dataclasses.replace(base, real_sources=frozenset({"google_ads_actions"}),
                                            api_versions={"google_ads": "v19"}))
    assert r["google_ads_actions"].api_version == "v19"  # the spend pull's API-version setting
