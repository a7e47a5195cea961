"""Slack: an incoming-webhook sender (real) and an outbox folder (sample), same interface.

``SlackWebhook`` posts JSON to the webhook URL (``dg.EnvVar("SLACK_WEBHOOK_URL")`` when "slack" is
in ``ADPERF_REAL_SOURCES``). A failed post (connection error, timeout, HTTP 429 or 5xx) is retried
with exponential backoff (``Retry-After`` honoured, each wait capped) up to ``max_attempts``;
then, or at once for other 4xx, it raises ``SlackPostError`` with the HTTP status. The webhook
URL *is* the secret (anyone holding it can post), so it never appears in a message, a log line or
an exception: errors name the status and the attempt count only, and the underlying exception
(whose text contains the URL) is not chained.

``SlackOutbox`` writes each message to ``<directory>/<UTC time>-<name>.json`` — what a sample run
"sends", readable by tests and people.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import requests
from pydantic import Field

from adperf_assets.defs.common import redaction as log_redaction

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


def _safe_body(text: str, url: str) -> str:
    """The first line of a response body, with the URL (and anything like a token path) removed."""
    line = (text or "").strip().splitlines()[0][:120] if (text or "").strip() else ""
    if url:
        line = line.replace(url, "<webhook>")
    return re.sub(r"/services/\S+", "/services/<redacted>", line)


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

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.max_wait_s)
            except ValueError:
                pass
        base = self.backoff_s * (2 ** (attempt - 1))
        return min(base * (0.5 + random.random()), self.max_wait_s)

    def send(self, message: dict, name: str) -> Delivery:
        if not self.webhook_url.strip():
            raise SlackPostError("SLACK_WEBHOOK_URL is empty; set it in the environment", None, 0)
        body = json.dumps(message).encode("utf-8")
        status: int | None = None
        detail = ""
        waited = 0.0
        attempts = 0
        log = dg.get_dagster_logger()
        while attempts < max(self.max_attempts, 1):
            attempts += 1
            retry_after = None
            try:
                resp = requests.post(self.webhook_url, data=body, timeout=self.timeout_s,
                                     headers={"Content-Type": "application/json"})
            except requests.RequestException as exc:
                status, detail = None, type(exc).__name__  # str(exc) would contain the URL
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    return Delivery(status, attempts, self.describe(), round(waited, 2))
                detail = _safe_body(resp.text, self.webhook_url)
                retry_after = resp.headers.get("Retry-After")
                if status not in RETRY_STATUSES:
                    break
            if attempts >= self.max_attempts:
                break
            wait = self._wait(attempts, retry_after)
            log.warning(f"Slack post of {name!r}: attempt {attempts} failed "
                        f"({'HTTP ' + str(status) if status else detail}); retrying in {wait:.1f}s")
            time.sleep(wait)
            waited += wait
        what = f"HTTP {status}" if status is not None else f"no response ({detail})"
        raise SlackPostError(
            f"Slack post of {name!r} failed after {attempts} attempt(s): {what}"
            + (f" — {detail}" if status is not None and detail else ""), status, attempts)


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
