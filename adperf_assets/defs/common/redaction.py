"""The one secret-redaction helper (:func:`redact`) and a log filter for HTTP client records.

A Slack webhook URL is a secret in its path (``/services/...``), Graph API calls carry
``access_token=`` in the query string, and database URLs carry passwords: a DEBUG-level logging
setup (or ``python_logs: managed_python_loggers`` in dagster.yaml) would otherwise copy them into
logs. ``install()`` attaches a filter to the HTTP client loggers that rewrites such parts of each
record to ``<redacted>``; it is idempotent and runs when ``adperf_assets.defs.resources`` is imported.
Resources call :func:`redact` with their own known secret values for error messages.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Pattern, Sequence, Union

Secret = Union[str, None, tuple[str, str]]

LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "requests",
           "facebook_business", "google.ads.googleads.client", "sqlalchemy.engine", "sqlalchemy.pool")
PATTERNS = [
    (re.compile(r"/services/[^\s\"'?]+"), "/services/<redacted>"),
    (re.compile(r"(?i)\b(access_token|client_secret|refresh_token|developer_token|api_token|password|token|key)"
                r"=[^&\s\"']+"), r"\1=<redacted>"),
    (re.compile(r"(://[^:/@\s]+):[^@/\s]+@"), r"\1:<redacted>@"),
]


def redact(text: str, secrets: Iterable[Secret] = (), patterns: Sequence[tuple[Pattern, str]] = PATTERNS,
           mask: str = "***") -> str:
    """``text`` with each known secret value replaced, then each ``(regex, replacement)`` applied.

    ``secrets`` are applied in order; an entry is a value (replaced by ``mask``), a
    ``(value, replacement)`` pair, or empty/None (skipped).
    """
    for secret in secrets:
        value, replacement = secret if isinstance(secret, tuple) else (secret, mask)
        if value:
            text = text.replace(str(value), replacement)
    for pattern, replacement in patterns:
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
