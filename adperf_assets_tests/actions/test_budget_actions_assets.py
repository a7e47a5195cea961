"""budget_actions on the small world's report: dry run, apply, revert, approval, kill switch, and a
network failing half-way -- on the embedded sample network state, which records what it received."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from adperf_assets.defs.actions import log as action_log
from adperf_assets.defs.actions.jobs import apply_budget_actions, revert_budget_actions
from adperf_assets.defs.actions.networks import ActionResult, SampleAdActions
from adperf_assets.defs.resources import build_resources
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS

DAY = REPORT_DAYS[-1]
# a report whose thresholds call many ads (the small world's ads are too small for the default ones; its iOS
# ads carry their SKAN-modelled part, whose intervals reach 4-7x ROAS even on the weakest of them)
REPORT_CFG = {"roas_report": {"config": {"stop_below": 8.0, "scale_above": 8.0, "min_cost_usd": 10.0}}}
POLICY = {"act_unmeasured": True, "min_cost": 20.0, "min_days": 3, "max_actions_per_day": 6}


def _materialize(resources, assets, actions_cfg=None, raise_on_error=True, with_checks=True):
    ops = {**REPORT_CFG, "budget_actions": {"config": {**POLICY, **(actions_cfg or {})}}}
    cfg = {"ops": {k: v for k, v in ops.items() if k in assets}}
    return runs.materialize(assets, resources, DAY, run_config=cfg, raise_on_error=raise_on_error,
                            with_checks=with_checks)


def _state(resources) -> dict:
    return {net: json.loads(open(resources[f"{net}_actions"].state_file).read())["objects"]
            for net in ("facebook", "google_ads")}


@pytest.fixture
def reported(report_home):
    resources = build_resources(report_home)
    assert _materialize(resources, ["ltv_estimates", "roas_report", "decision_backtest", "budget_actions"]).success
    return resources


def _plan(resources) -> pd.DataFrame:
    return action_log.read(resources["duckdb"], DAY)


def test_dry_run_changes_nothing_apply_changes_and_revert_restores(reported, monkeypatch):
    monkeypatch.delenv("ADPERF_ACTIONS_KILL_SWITCH", raising=False)
    resources = reported
    before = _state(resources)
    log = _plan(resources)
    planned = log[log["outcome"] == "validated"]
    assert 0 < len(planned) <= 6 and (log["mode"] == "dry_run").all()
    assert set(planned["action"]) <= {"pause", "lower_budget"} and "pause" in set(planned["action"])
    assert _state(resources) == before  # validated only
    received = [r for n in ("facebook", "google_ads") for r in resources[f"{n}_actions"].received()]
    assert len(received) == len(planned) and all(r["validate_only"] for r in received)

    assert _materialize(resources, ["budget_actions"], {"dry_run": False}).success
    applied = action_log.applied_not_reverted(_plan(resources))
    assert len(applied) == len(planned)
    after = _state(resources)
    for _, a in applied.iterrows():
        obj = after[a["network"]][f"{a['level']}/{a['object_id']}"]
        assert (obj["status"] == "PAUSED") if a["action"] == "pause" else (obj["daily_budget"] == a["budget_after"])
    assert after != before

    res = revert_budget_actions.execute_in_process(partition_key=DAY, resources=resources)
    assert res.success
    assert _state(resources) == before
    log = _plan(resources)
    assert (log["outcome"] == "reverted").sum() == len(applied) and action_log.applied_not_reverted(log).empty
    # a second revert has nothing left to undo
    assert revert_budget_actions.execute_in_process(partition_key=DAY, resources=resources).success
    assert (_plan(resources)["outcome"] == "reverted").sum() == len(applied)


def test_approval_waits_for_the_apply_job_and_the_kill_switch_validates_only(reported, monkeypatch):
    resources = reported
    before = _state(resources)
    assert _materialize(resources, ["budget_actions"], {"dry_run": False, "approval": "required"}).success
    waiting = action_log.awaiting(_plan(resources))
    assert len(waiting) > 0 and _state(resources) == before
    posted = sorted(Path(resources["slack"].directory).glob("*budget_actions*"))
    assert posted and "apply_budget_actions" in posted[-1].read_text()  # the plan, and how to approve it

    monkeypatch.setenv("ADPERF_ACTIONS_KILL_SWITCH", "1")
    assert apply_budget_actions.execute_in_process(partition_key=DAY, resources=resources).success
    assert _state(resources) == before  # the kill switch: validated only, still waiting
    assert len(action_log.awaiting(_plan(resources))) == len(waiting)

    monkeypatch.delenv("ADPERF_ACTIONS_KILL_SWITCH")
    assert apply_budget_actions.execute_in_process(partition_key=DAY, resources=resources).success
    assert _state(resources) != before and action_log.awaiting(_plan(resources)).empty
    log = _plan(resources)
    assert ((log["mode"] == "approved") & (log["outcome"] == "applied")).sum() == len(waiting)

    monkeypatch.setenv("ADPERF_ACTIONS_KILL_SWITCH", "yes")
    assert _materialize(resources, ["budget_actions"], {"dry_run": False}).success
    assert (_plan(resources).tail(3)["mode"] == "dry_run").all()


class FlakyNetwork(SampleAdActions):
    """Refuses every second action (as after a 5xx that outlasted the retries)."""

    def apply(self, action, validate_only):
        n = len(self.received())
        if n % 2 == 1:
            self._save({**self._load(), "received": [*self.received(), {"refused": action["object_id"]}]})
            return ActionResult(False, "HTTP 503 after 3 attempt(s)", 3, validate_only)
        return super().apply(action, validate_only)


def test_a_failure_half_way_fails_the_step_and_logs_what_went_through(reported):
    resources = dict(reported)
    for net in ("facebook", "google_ads"):
        r = resources[f"{net}_actions"]
        resources[f"{net}_actions"] = FlakyNetwork(network_name=r.network_name, state_file=r.state_file)
    res = _materialize(resources, ["budget_actions"], {"dry_run": False}, raise_on_error=False)
    assert not res.success
    failure = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "failed on the network" in failure.event_specific_data.error.message
    log = _plan(resources)
    run = log[log["run_id"] == res.run_id]
    assert (run["outcome"] == "applied").sum() > 0 and (run["outcome"] == "failed").sum() > 0
    assert run.loc[run["outcome"] == "failed", "answer"].str.contains("HTTP 503").all()


def test_apply_then_revert_through_the_facebook_sdk_leaves_the_fake_as_before(reported, report_home, monkeypatch):
    """The whole loop on the real client: budget_actions applies through facebook-business on a fake Graph
    API holding the report's Facebook objects, revert_budget_actions puts every one back."""
    from facebook_business.api import FacebookAdsApi

    from adperf_assets.defs.actions.facebook_actions import FacebookAdActions
    from adperf_assets_tests.actions.fake_fb_actions import TOKEN, FakeGraphObjects

    monkeypatch.delenv("ADPERF_ACTIONS_KILL_SWITCH", raising=False)
    spend = runs.table(report_home, "ad_spend", "where network = 'facebook'")
    fake = FakeGraphObjects(api_version=FacebookAdsApi.API_VERSION).start()
    try:
        for acc, cur in spend.groupby("account_id")["account_currency"].first().items():
            fake.accounts[str(acc).removeprefix("act_")] = {"name": str(acc), "currency": cur, "timezone_name": "UTC"}
        for ad in spend["ad_id"].unique():
            fake.add(str(ad), "ad", "ACTIVE")
        for grp in spend["ad_group_id"].unique():
            fake.add(str(grp), "adset", "ACTIVE", daily_budget=5000)
        resources = {**reported, "facebook_actions": FacebookAdActions(
            access_token=TOKEN, graph_url=fake.url, min_request_interval_s=0.0, max_retries=1, backoff_base_s=0.01,
            backoff_max_s=0.02, request_timeout_s=5.0)}
        before = fake.snapshot()
        assert _materialize(resources, ["budget_actions"], {"dry_run": False}).success
        applied = action_log.applied_not_reverted(_plan(resources))
        fb = applied[applied["network"] == "facebook"]
        assert len(fb) > 0 and fake.snapshot() != before
        assert all("validate_only" not in str(u) for u in fake.updates())
        assert revert_budget_actions.execute_in_process(partition_key=DAY, resources=resources).success
        assert fake.snapshot() == before
        assert TOKEN not in _plan(resources).to_string()
    finally:
        fake.stop()


def _count_opens(monkeypatch) -> list:
    """A list that grows by one at every DuckDB connection opened from now on."""
    from dagster_duckdb import DuckDBResource

    opens, real = [], DuckDBResource.get_connection

    def counting(self):
        opens.append(1)
        return real(self)

    monkeypatch.setattr(DuckDBResource, "get_connection", counting)
    return opens


def test_a_day_logs_its_plan_in_order_opening_the_database_once_per_network_call(reported, monkeypatch):
    """The rows not sent to a network are logged together, before the next one that is: the log keeps
    the plan's order, and the database is opened once per action sent (plus once for the rest),
    not once per row (each open of a large DuckDB costs tens of ms)."""
    opens = _count_opens(monkeypatch)
    res = _materialize(reported, ["budget_actions"], with_checks=False)
    opened = len(opens)
    run = _plan(reported)
    run = run[run["run_id"] == res.run_id]
    sent = int((run["outcome"] == "validated").sum())
    assert len(run) > sent + 1 > 1  # skipped rows too, so batching is what keeps the opens down
    assert opened <= sent + 1
    out = res.output_for_node("budget_actions")
    assert list(run.sort_values(["created_at"], kind="stable")["action_id"]) == list(out["action_id"])


def test_unscored_calls_store_age_scored_as_a_number(reported):
    """The small world scores no call (its decision back-test is empty), so every age_scored is missing: the
    column must still be stored as a number, or a later run with scored calls cannot be inserted into it."""
    with reported["duckdb"].get_connection() as con:
        kind = con.execute("select data_type from information_schema.columns where table_schema = 'analytics' "
                           "and table_name = 'budget_actions' and column_name = 'age_scored'").fetchone()[0]
        stored = con.execute("select count(*), count(age_scored) from analytics.budget_actions").fetchone()
    assert stored[0] > 0 and stored[1] == 0
    assert kind == "DOUBLE"


def test_a_range_run_plans_each_day_as_its_own_run_and_logs_the_earlier_days_at_once(report_home, monkeypatch):
    """A backfill run over several days: each day's plan is the one a run of that day alone makes, but
    only the last day is sent to the networks (earlier planned rows say so and stay skipped); the
    earlier days' rows go to the log in one database open, not one per day or row."""
    resources = build_resources(report_home)
    first, last = REPORT_DAYS[0], REPORT_DAYS[-1]
    ops = {**REPORT_CFG, "budget_actions": {"config": POLICY}}
    assert runs.materialize(["ltv_estimates", "roas_report", "decision_backtest"], resources, first, last,
                            run_config={"ops": {k: v for k, v in ops.items() if k != "budget_actions"}}).success
    opens = _count_opens(monkeypatch)

    def run(*window) -> tuple[dg.ExecuteInProcessResult, int]:
        before = len(opens)
        r = runs.materialize(["budget_actions"], resources, *window, with_checks=False,
                             run_config={"ops": {"budget_actions": ops["budget_actions"]}})
        return r, len(opens) - before

    alone, _ = run(first)
    _, last_alone = run(last)
    res, opened = run(first, last)
    out = res.output_for_node("budget_actions")
    log = action_log.read(resources["duckdb"])
    log = log[log["run_id"] == res.run_id]
    assert sorted(log["action_id"]) == sorted(out["action_id"]) and len(out) > 0
    days = pd.to_datetime(out["report_date"])
    earlier, final = out[days < pd.Timestamp(last)], out[days == pd.Timestamp(last)]
    assert len(earlier) > 0 and set(earlier["outcome"]) == {"skipped"}
    planned = earlier[earlier["decision"] == "planned"]
    assert len(planned) > 0 and planned["reason"].str.endswith("only the window's last day is acted on").all()
    sent = int((final["outcome"] == "validated").sum())
    assert sent > 0 and opened == last_alone + 1  # the earlier days' rows: one more open, whatever their number
    # the first day's plan is the one its own run made, but for what a backfill day does not do
    own = alone.output_for_node("budget_actions")
    done = ["mode", "outcome", "answer", "attempts", "action_id", "reason"]
    got = out[days == pd.Timestamp(first)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.drop(columns=done), own.drop(columns=done))
    note = " -- a backfill day: only the window's last day is acted on"
    want = own["reason"].where(own["decision"] != "planned", own["reason"] + note)
    assert list(got["reason"]) == list(want)
