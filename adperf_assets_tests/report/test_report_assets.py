"""roas_report, its checks and the Slack steps, materialized on the small world's source tables."""

import base64
import dataclasses

import dagster as dg
import duckdb
import pandas as pd
import pytest

from adperf_assets.defs.report.assets import MAX_AD_AGE_DAYS
from adperf_assets.report import ReportConfig, build_report, prepare_inputs, typed
from adperf_assets.skan.report import fold_into_report
from adperf_assets.defs.resources import DUCKDB_SCHEMA, build_resources
from adperf_assets.defs.report.slack import SlackWebhook
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS
from adperf_assets_tests.report.fake_slack import FakeSlack

DAY = REPORT_DAYS[-1]
REPORT = ["ltv_estimates", "roas_report"]
SLACK = ["decision_backtest", "roas_report_slack", "roas_milestones_slack"]


def _slack(url: str) -> SlackWebhook:
    return SlackWebhook(webhook_url=url, backoff_s=0.01, max_wait_s=0.05, max_attempts=3, timeout_s=5)


def _report_table(settings) -> pd.DataFrame:
    return runs.table(settings, "roas_report", "order by report_date, level, network, account_id, campaign_id, "
                                               "ad_group_id, ad_id")


def test_one_day_report_matches_the_math_and_passes_its_checks(report_home):
    result = runs.materialize(REPORT, build_resources(report_home), DAY)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()
              if c.asset_key == dg.AssetKey("roas_report")}
    assert set(checks) == {"roas_report_cost_matches_ad_spend", "roas_report_roas_finite", "roas_report_ads_have_network"}
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items()}

    mat = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("roas_report")][0]
    md = mat.materialization.metadata
    stored = _report_table(report_home)
    assert md["dagster/row_count"].value == len(stored) > 0
    assert "**Totals**" in md["summary"].value and "Top" in md["summary"].value
    plot = md["plot"].value
    assert plot.startswith("![cost vs estimated return, 2025-07-12](data:image/png;base64,")
    assert base64.b64decode(plot.split("base64,", 1)[1].rstrip(")"))[:8] == b"\x89PNG\r\n\x1a\n"
    for lv in ("campaign", "network"):  # cohort ROAS curves (report.curves)
        curves = md[f"roas_curves_{lv}"].value
        assert curves.startswith(f"![cohort ROAS per {lv}, 2025-07-12](data:image/png;base64,")
        assert base64.b64decode(curves.split("base64,", 1)[1].rstrip(")"))[:8] == b"\x89PNG\r\n\x1a\n"

    # the stored table is the pure computation on the same inputs
    t = lambda name: runs.table(report_home, name)  # noqa: E731
    inputs = prepare_inputs(t("ad_spend"), t("installs"), t("user_segments"), t("behavior_value"),
                            t("ltv_estimates"), "cost_usd")
    cfg = ReportConfig(max_ad_age_days=MAX_AD_AGE_DAYS)
    expected, _ = build_report(inputs, [pd.Timestamp(DAY)], cfg)
    expected = typed(fold_into_report(expected, t("skan_modelled"), cfg), cfg)  # + the iOS campaigns' SKAN part
    assert (expected["return_basis"] == "modelled (SKAN)").any()  # the default world has ATT
    pd.testing.assert_frame_equal(stored.reset_index(drop=True), _sorted(expected), check_dtype=False)

    # cost to date of the ads = every stored spend day (all within 400 days)
    spend = t("ad_spend")
    ads = stored[stored["level"] == "ad"]
    assert ads["cost_to_date_usd"].sum() == pytest.approx(spend["cost_usd"].sum())
    # every network of the world shows its ads (TikTok, and Apple Ads by keyword, like Facebook and Google)
    assert set(ads["network"]) == {"facebook", "google_ads", "tiktok", "apple_ads"} and (ads["ad_id"] != "").all()
    assert set(stored["level"]) == {"ad", "ad_group", "campaign", "account", "network"}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["report_date", "level", "network", "account_id", "campaign_id", "ad_group_id", "ad_id"],
                             kind="stable").reset_index(drop=True)


def test_a_range_in_one_run_equals_day_by_day(report_home, tmp_path, monkeypatch):
    """The same rows from one range run (``skan_modelled``'s days shared between two processes by
    ``fork_map``) as from a run per day."""
    other = dataclasses.replace(report_home, home=tmp_path / "daily")
    other.home.mkdir()
    import shutil

    shutil.copy(report_home.duckdb_path, other.duckdb_path)
    names = [*REPORT, "decision_backtest"]
    monkeypatch.setenv("ADPERF_DAY_WORKERS", "2")
    with dg.instance_for_test() as instance:
        assert runs.materialize(names, build_resources(report_home), REPORT_DAYS[0], REPORT_DAYS[-1],
                                instance=instance).success
        assert len(instance.get_runs()) == 1
    with dg.instance_for_test() as instance:
        for day in REPORT_DAYS:
            assert runs.materialize(names, build_resources(other), day, instance=instance).success
    a, b = _report_table(report_home), _report_table(other)
    assert sorted(a["report_date"].dt.strftime("%Y-%m-%d").unique()) == REPORT_DAYS
    pd.testing.assert_frame_equal(a, b)
    for name in ("skan_modelled", "decision_backtest"):  # the latter empty here: no call's horizon has passed
        one, daily = runs.table(report_home, name, "order by all"), runs.table(other, name, "order by all")
        pd.testing.assert_frame_equal(one, daily, check_exact=True)  # each day its own random stream
    assert runs.table(report_home, "skan_modelled")["report_date"].nunique() == len(REPORT_DAYS)
    # re-running a day replaces it
    assert runs.materialize(REPORT, build_resources(other), REPORT_DAYS[1]).success
    pd.testing.assert_frame_equal(_report_table(other), b)


def test_slack_steps_post_to_the_webhook_and_a_failed_post_fails_only_its_step(report_home):
    with FakeSlack() as slack:
        res = {**build_resources(report_home), "slack": _slack(slack.url)}
        ok = runs.materialize([*REPORT, *SLACK], res, DAY)
        assert ok.success
        daily = [m for m in slack.received if m["text"].startswith(f"ROAS report {DAY}")]
        assert len(daily) == 1 and daily[0]["blocks"][0]["text"]["text"] == f"ROAS report {DAY}"
        # beside the calls, how often such calls were right (none scored yet: the world is younger than the horizon)
        notes = [e["text"] for b in daily[0]["blocks"] if b["type"] == "context" for e in b["elements"]]
        assert any(n.startswith("No ad calls scored yet") for n in notes), notes

        slack.always = (500, {})
        before = slack.attempts
        bad = runs.materialize([*REPORT, *SLACK], res, DAY, raise_on_error=False)
    assert not bad.success
    assert slack.attempts - before == 3  # max_attempts posts of the daily message
    done = {e.asset_key.to_user_string() for e in bad.get_asset_materialization_events()}
    assert "roas_report" in done and "roas_report_slack" not in done
    failures = [e for e in bad.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["roas_report_slack"]
    message = failures[0].event_specific_data.error.message
    assert "HTTP 500" in message and "after 3 attempt(s)" in message and slack.path not in message


def test_milestone_messages_are_sent_exactly_once(report_home):
    res = build_resources(report_home)
    assert runs.materialize(REPORT, res, "2025-06-15", DAY).success
    report = _report_table(report_home)
    ads = report[report["level"] == "ad"]
    due = ads[ads["days_live"].isin([7, 14, 30])]
    assert len(due) > 0
    config = dg.RunConfig(ops={"roas_milestones_slack": {"config": {"days": "all"}}})
    with FakeSlack() as slack:
        res = {**res, "slack": _slack(slack.url)}
        slack.fail_next = [(503, {})] * 3  # the first message fails 3 times: its claim is released
        first = runs.materialize(["roas_milestones_slack"], res, "2025-06-15", DAY, run_config=config,
                                 raise_on_error=False)
        assert not first.success
        assert len(slack.received) == len(due) - 1
        second = runs.materialize(["roas_milestones_slack"], res, "2025-06-15", DAY, run_config=config)
        assert second.success and len(slack.received) == len(due)  # only the unsent one
        third = runs.materialize(["roas_milestones_slack"], res, "2025-06-15", DAY, run_config=config)
        assert third.success and len(slack.received) == len(due)  # nothing again
        md = third.get_asset_materialization_events()[0].materialization.metadata
        assert md["sent"].value == 0 and md["already_sent"].value == len(due)
    log = runs.table(report_home, "slack_milestones_sent")
    assert len(log) == len(due) and (log["status"] == "sent").all()
    assert set(zip(log["ad_id"], log["milestone"])) == set(zip(due["ad_id"], due["days_live"]))
    texts = [m["blocks"][1]["text"]["text"] for m in slack.received]
    assert all("that started on" in t and "estimated ROAS" in t for t in texts)


def test_a_failing_blocking_check_stops_publishing(report_home):
    con = duckdb.connect(str(report_home.duckdb_path))
    con.execute(f"""insert into {DUCKDB_SCHEMA}.ad_spend select * replace ('' as network, 'orphan' as ad_id)
                    from {DUCKDB_SCHEMA}.ad_spend where report_date = '{DAY}' limit 1""")
    con.close()
    with FakeSlack() as slack:
        res = {**build_resources(report_home), "slack": _slack(slack.url)}
        result = runs.materialize([*REPORT, *SLACK], res, DAY, raise_on_error=False)
    assert not result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    failed = checks["roas_report_ads_have_network"]
    assert not failed.passed and failed.metadata["failing_rows"].value >= 1
    assert "orphan" in failed.metadata["rows"].value
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "roas_report" in done and not done & set(SLACK)
    assert slack.received == []
