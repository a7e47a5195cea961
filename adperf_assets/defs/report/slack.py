"""Slack: an incoming-webhook sender (real) and an outbox folder (sample), same interface.

More: docs/dagster_layer.md."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import requests
from pydantic import Field

from adperf_assets.defs.common import redaction as log_redaction
from adperf_assets.defs.common.throttle import Governor, NotRetryable, RetriesExhausted, retry_after_s

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
log_redaction.install()  # urllib3 logs request lines (the webhook path) at DEBUG


class SlackPostError(Exception):
    """A message could not be delivered; ``status`` is the last HTTP status (None: no response)."""

    def __init__(self, message: str, status: int | None, attempts: int):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class Delivery:
    status: int | None
    attempts: int
    where: str  # a safe description of the destination (never the URL)
    waited_s: float = 0.0


class SlackSender(dg.ConfigurableResource):
    """Base: ``send(message, name)`` delivers one Block Kit payload or raises ``SlackPostError``."""

    def send(self, message: dict, name: str) -> Delivery:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


_WEBHOOK_PATH = [(re.compile(r"/services/\S+"), "/services/<redacted>")]


def _safe_body(text: str, url: str) -> str:
    """The first line of a response body, with the URL (and anything like a token path) removed."""
    line = (text or "").strip().splitlines()[0][:120] if (text or "").strip() else ""
    return log_redaction.redact(line, secrets=((url, "<webhook>"),), patterns=_WEBHOOK_PATH)


class _PostFailed(Exception):
    """One failed post: ``status`` (None: no response), a URL-free ``detail``, the Retry-After header."""

    def __init__(self, status: int | None, detail: str, retry_after: str | None = None):
        super().__init__(f"HTTP {status}" if status is not None else detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


class SlackWebhook(SlackSender):
    """Slack incoming webhook (``https://hooks.slack.com/services/...``)."""

    webhook_url: str = Field(description="Incoming-webhook URL; a secret: set it with dg.EnvVar('SLACK_WEBHOOK_URL').")
    timeout_s: float = Field(default=10.0, description="Per request (connect and read).")
    max_attempts: int = Field(default=4, description="Posts per message before failing (1 = no retry).")
    backoff_s: float = Field(default=1.0, description="First wait; doubles per retry (with jitter).")
    max_wait_s: float = Field(default=30.0, description="Cap of any single wait, including Retry-After.")

    def describe(self) -> str:
        host = re.sub(r"^[a-z]+://", "", self.webhook_url).split("/", 1)[0] or "?"
        return f"Slack webhook at {host} (path hidden)"

    def send(self, message: dict, name: str) -> Delivery:
        if not self.webhook_url.strip():
            raise SlackPostError("SLACK_WEBHOOK_URL is empty; set it in the environment", None, 0)
        body = json.dumps(message).encode("utf-8")
        log = dg.get_dagster_logger()

        def once() -> int:
            failure = None
            try:
                resp = requests.post(self.webhook_url, data=body, timeout=self.timeout_s,
                                     headers={"Content-Type": "application/json"})
            except requests.RequestException as exc:
                failure = _PostFailed(None, type(exc).__name__)  # str(exc) would contain the URL
            if failure is not None:
                raise failure
            if 200 <= resp.status_code < 300:
                return resp.status_code
            raise _PostFailed(resp.status_code, _safe_body(resp.text, self.webhook_url), resp.headers.get("Retry-After"))

        last: list[_PostFailed] = []

        def retryable(exc: BaseException) -> bool:
            last[:] = [exc] if isinstance(exc, _PostFailed) else []
            return isinstance(exc, _PostFailed) and (exc.status is None or exc.status in RETRY_STATUSES)

        def pause(wait: float) -> None:  # the governor only sleeps before a retry here (no spacing, no holds)
            what = f"HTTP {last[0].status}" if last and last[0].status else (last[0].detail if last else "?")
            log.warning(f"Slack post of {name!r}: attempt {gov.requests_made} failed ({what}); "
                        f"retrying in {wait:.1f}s")
            time.sleep(wait)

        gov = Governor(is_retryable=retryable, max_retries=max(self.max_attempts, 1) - 1,
                       base_backoff_s=self.backoff_s, max_backoff_s=self.max_wait_s, max_wait_s=self.max_wait_s,
                       retry_after=lambda e: retry_after_s(getattr(e, "retry_after", None)), sleep=pause)
        try:
            status = gov.call(once)
        except (NotRetryable, RetriesExhausted) as exc:
            failed = exc.error if isinstance(exc, NotRetryable) else exc.last_error
            attempts = exc.attempts
            if not isinstance(failed, _PostFailed):
                raise failed from None
        else:
            return Delivery(status, gov.requests_made, self.describe(), round(gov.backoff_wait_s, 2))
        status, detail = failed.status, failed.detail
        what = f"HTTP {status}" if status is not None else f"no response ({detail})"
        raise SlackPostError(
            f"Slack post of {name!r} failed after {attempts} attempt(s): {what}"
            + (f" — {detail}" if status is not None and detail else ""), status, attempts) from None


class SlackOutbox(SlackSender):
    """Sample Slack: each message becomes a JSON file in ``directory`` (created if missing)."""

    directory: str = Field(description="Folder the messages are written to, e.g. $ADPERF_HOME/outbox.")

    def describe(self) -> str:
        return f"outbox folder {self.directory}"

    def send(self, message: dict, name: str) -> Delivery:
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]
        path = folder / f"{stamp}-{safe}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"name": name, "message": message}, indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return Delivery(None, 1, str(path))
