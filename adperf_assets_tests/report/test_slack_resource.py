"""The Slack webhook resource against a loopback server: delivery, bounded retries, statuses, no URL in errors."""

from __future__ import annotations

import json
import socket

import pytest

from adperf_assets.defs.report.slack import SlackOutbox, SlackPostError, SlackWebhook
from adperf_assets_tests.report.fake_slack import SECRET_PATH, FakeSlack

MESSAGE = {"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]}


def hook(url: str, **kw) -> SlackWebhook:
    return SlackWebhook(webhook_url=url, backoff_s=0.01, max_wait_s=0.05, timeout_s=5, **kw)


def test_delivers_the_json_body():
    with FakeSlack() as slack:
        d = hook(slack.url).send(MESSAGE, "m1")
    assert slack.received == [MESSAGE]
    assert (d.status, d.attempts) == (200, 1)
    assert SECRET_PATH not in d.where and "127.0.0.1" in d.where


@pytest.mark.parametrize("failure", [(500, {}), (503, {}), (429, {"Retry-After": "0"})])
def test_retries_transient_failures_then_delivers(failure):
    with FakeSlack() as slack:
        slack.fail_next = [failure, failure]
        d = hook(slack.url).send(MESSAGE, "m")
    assert slack.received == [MESSAGE] and d.attempts == 3 and slack.attempts == 3


def test_gives_up_after_max_attempts_with_the_status_and_without_the_url():
    with FakeSlack() as slack:
        slack.always = (500, {})
        with pytest.raises(SlackPostError) as err:
            hook(slack.url, max_attempts=3).send(MESSAGE, "daily")
    assert slack.attempts == 3 and slack.received == []
    assert err.value.status == 500 and err.value.attempts == 3
    assert "HTTP 500" in str(err.value) and "after 3 attempt(s)" in str(err.value)
    assert SECRET_PATH not in str(err.value) and "xoxb" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_a_client_error_is_not_retried():
    with FakeSlack() as slack:
        with pytest.raises(SlackPostError) as err:
            hook(slack.url.replace(SECRET_PATH, "/services/wrong")).send(MESSAGE, "m")
    assert err.value.status == 404 and slack.attempts == 1 and "no_service" in str(err.value)
    assert "/services/wrong" not in str(err.value)


def test_no_server_is_a_connection_error_without_the_url():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SlackPostError) as err:
        hook(f"http://127.0.0.1:{port}{SECRET_PATH}", max_attempts=2).send(MESSAGE, "m")
    assert err.value.status is None and "no response (ConnectionError)" in str(err.value)
    assert SECRET_PATH not in str(err.value) and err.value.__cause__ is None


def test_waits_are_bounded_and_honour_retry_after(monkeypatch):
    slept = []
    monkeypatch.setattr("adperf_assets.defs.report.slack.time.sleep", slept.append)
    with FakeSlack() as slack:
        slack.fail_next = [(429, {"Retry-After": "7"}), (429, {"Retry-After": "120"}), (500, {})]
        SlackWebhook(webhook_url=slack.url, backoff_s=1.0, max_wait_s=30.0).send(MESSAGE, "m")
    assert slept[:2] == [7.0, 30.0]  # Retry-After honoured, capped at max_wait_s
    assert 2.0 <= slept[2] <= 6.0  # third attempt: 1 x 2^2 with jitter 0.5..1.5


def test_outbox_writes_one_file_per_message(tmp_path):
    box = SlackOutbox(directory=str(tmp_path / "outbox"))
    box.send(MESSAGE, "roas_report_2025-07-20")
    box.send(MESSAGE, "milestone d7/fb 1")
    files = sorted((tmp_path / "outbox").glob("*.json"))
    assert len(files) == 2 and files[0].name.endswith("-roas_report_2025-07-20.json")
    assert json.loads(files[0].read_text()) == {"name": "roas_report_2025-07-20", "message": MESSAGE}
    assert files[1].name.endswith("-milestone_d7_fb_1.json")
