"""Redact secrets from third-party HTTP client log records (urllib3 logs every request line at DEBUG).

A Slack webhook URL is a secret in its path (``/services/...``), Graph API calls carry
``access_token=`` in the query string, and database URLs carry passwords: a DEBUG-level logging
setup (or ``python_logs: managed_python_loggers`` in dagster.yaml) would otherwise copy them into
logs. ``install()`` attaches a filter to the HTTP client loggers that rewrites such parts of each
record to ``<redacted>``; it is idempotent and runs when ``adperf_assets.defs.resources`` is imported.
"""

from __future__ import annotations

import logging
import re

LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "requests",
           "facebook_business", "google.ads.googleads.client", "sqlalchemy.engine", "sqlalchemy.pool")
PATTERNS = [
    (re.compile(r"/services/[^\s\"'?]+"), "/services/<redacted>"),
    (re.compile(r"(?i)\b(access_token|client_secret|refresh_token|developer_token|api_token|password|token|key)"
                r"=[^&\s\"']+"), r"\1=<redacted>"),
    (re.compile(r"(://[^:/@\s]+):[^@/\s]+@"), r"\1:<redacted>@"),
]


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = RedactingFilter()


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
