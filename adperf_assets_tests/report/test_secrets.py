"""Secrets (API token, database password, webhook URL) never reach logs, metadata or errors.

The real resources are built the way ``build_resources`` builds them — ``dg.EnvVar`` fields read at
run time — from fake values set in the environment; the graph runs once normally and once with
every external call failing (Graph API errors, Slack 500s, an unreachable PostgreSQL), and every
event of both runs (messages, metadata, error infos, serialized) and the captured output are
scanned for the values.
"""

import dataclasses
import logging
import socket
from datetime import date

import dagster as dg
from dagster._serdes import serialize_value

from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.spend.facebook import FacebookAdsResource
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS
from adperf_assets_tests.report.fake_slack import SECRET_PATH, FakeSlack
from adperf_assets_tests.spend.fake_graph import TOKEN, Fault, FakeGraph
from adperf_assets_tests.spend.world_fakes import serve_world

DAY = REPORT_DAYS[-1]
PG_PASSWORD = "pg-Pa55-SECRET-31f7"
ASSETS = ["raw/facebook_spend", "payments_snapshot", "ltv_estimates", "roas_report", "decision_backtest",
          "roas_report_slack"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_secret_in_logs_metadata_or_errors(report_home, monkeypatch, caplog, capfd):
    graph = FakeGraph().start()
    try:
        with FakeSlack() as slack:
            fb_ids, _ = serve_world(graph, type("NoGoogle", (), {"customers": {}})(), report_home.world_path,
                                    date(2025, 7, 11), date(2025, 7, 13))
            monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", TOKEN)
            monkeypatch.setenv("FACEBOOK_ACCOUNT_IDS", ",".join(fb_ids))
            monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url)
            monkeypatch.setenv("ADPERF_APP_DB_URL", f"postgresql://adperf:{PG_PASSWORD}@127.0.0.1:{_closed_port()}/app")
            settings = dataclasses.replace(report_home, real_sources=frozenset({"facebook", "payments", "slack"}))
            resources = build_resources(settings)
            assert isinstance(resources["app_db"].url, dg.EnvVar)  # what production wiring passes
            resources["facebook_ads"] = FacebookAdsResource(
                access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"), account_ids=[dg.EnvVar("FACEBOOK_ACCOUNT_IDS")],
                graph_url=graph.url, min_request_interval_s=0.0, max_retries=1, backoff_base_s=0.01,
                backoff_max_s=0.02, request_timeout_s=10.0, async_poll_interval_s=0.01)
            resources["slack"] = resources["slack"].model_copy(update={"backoff_s": 0.01, "max_wait_s": 0.02})
            caplog.set_level(logging.DEBUG)
            with dg.instance_for_test() as instance:
                ok = runs.materialize(ASSETS, resources, DAY, instance=instance, raise_on_error=False)
                done = {e.asset_key.to_user_string() for e in ok.get_asset_materialization_events()}
                assert {"raw/facebook_spend", "roas_report", "roas_report_slack"} <= done
                assert "payments_snapshot" not in done  # the database is unreachable
                assert len(slack.received) == 1 and graph.requests
                slack.always = (500, {})
                graph.faults.extend([Fault("json500", route="any") for _ in range(50)])
                bad = runs.materialize(ASSETS, resources, DAY, instance=instance, raise_on_error=False)
                failed_steps = {e.step_key for e in bad.all_events if e.event_type_value == "STEP_FAILURE"}
                assert {"raw__facebook_spend", "payments_snapshot", "roas_report_slack"} <= failed_steps
                texts = [serialize_value(e) for run in (ok, bad) for e in instance.all_logs(run.run_id)]
    finally:
        graph.stop()
    out, err = capfd.readouterr()
    texts += [caplog.text, out, err]
    secrets = {"facebook token": TOKEN, "database password": PG_PASSWORD, "webhook": SECRET_PATH,
               "webhook secret part": SECRET_PATH.rsplit("/", 1)[1]}
    leaks = {name: [t[max(t.find(v) - 120, 0): t.find(v) + 40] for t in texts if v in t][:2]
             for name, v in secrets.items()}
    assert not any(leaks.values()), leaks
    failure_text = " ".join(t for t in texts if "STEP_FAILURE" in t)
    assert "HTTP 500" in failure_text  # the failures are still explained


def test_http_client_debug_lines_are_redacted(caplog):
    from adperf_assets.defs.common import redaction as log_redaction

    log_redaction.install()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    logging.getLogger("urllib3.connectionpool").debug('%s://%s:%s "%s %s %s" %s', "http", "127.0.0.1", 80, "POST",
                                                      SECRET_PATH, "HTTP/1.1", 200)
    logging.getLogger("urllib3.connectionpool").debug("GET /v21.0/act_1/insights?access_token=%s&limit=5", TOKEN)
    logging.getLogger("sqlalchemy.engine").info("connect postgresql://adperf:%s@db:5432/app", PG_PASSWORD)
    assert SECRET_PATH not in caplog.text and TOKEN not in caplog.text and PG_PASSWORD not in caplog.text
    assert caplog.text.count("<redacted>") == 3 and "127.0.0.1" in caplog.text
