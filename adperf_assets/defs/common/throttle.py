"""Pacing, bounded retry with backoff + jitter, and the all-or-nothing pull result.

Shared by the ad-network clients (no Dagster here). Sleeping and the clock
are injected so tests run the real retry logic without waiting.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class AdsPull:
    """A complete pull: every row of the requested days, or an exception instead.

    ``retries_made`` counts failed attempts that were retried (throttling,
    5xx, timeouts, broken pages, failed async jobs); ``requests_made`` counts
    HTTP/gRPC calls sent; ``throttle_wait_s`` is time spent waiting because
    usage was high (not counting backoff after errors).
    """

    rows: list[dict]
    retries_made: int = 0
    requests_made: int = 0
    throttle_wait_s: float = 0.0
    #: what the source wants said about the pull (e.g. which file replaced which)
    notes: tuple[str, ...] = ()


class AdsPullError(RuntimeError):
    """A pull that could not be completed; nothing of it may be stored."""

    def __init__(self, network: str, account_id: str, since: date | None, until: date | None, error: str, attempts: int):
        days = "" if since is None else (f" day {since}" if since == until else f" days {since}..{until}")
        super().__init__(f"{network} pull for account {account_id}{days} failed after {attempts} attempt(s): {error}")
        self.network = network
        self.account_id = account_id
        self.since = since
        self.until = until
        self.error = error
        self.attempts = attempts


class RetriesExhausted(Exception):
    """Raised by :meth:`Governor.call` when the retry bound is reached."""

    def __init__(self, last_error: BaseException, attempts: int):
        super().__init__(str(last_error))
        self.last_error = last_error
        self.attempts = attempts


class NotRetryable(Exception):
    """Wraps an error the classifier said must not be retried."""

    def __init__(self, error: BaseException, attempts: int):
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


@dataclass
class Governor:
    """Spaces calls, waits when the network says usage is high, retries transient errors.

    * every call waits until ``min_interval_s`` after the previous one started,
      or longer if a pause was requested through :meth:`hold` (usage headers);
    * an error that ``is_retryable`` accepts is retried up to ``max_retries``
      times, waiting ``min(max_backoff_s, base_backoff_s * 2**k)`` scaled by a
      jitter factor in [0.5, 1.0] ("equal jitter"), or longer if the error
      says when to come back (``retry_after`` hook), capped at ``max_wait_s``;
      waits do not add up: the longest of spacing, hold and backoff is slept;
    * after that, :class:`RetriesExhausted` carries the last error.
    """

    is_retryable: Callable[[BaseException], bool]
    max_retries: int = 5
    base_backoff_s: float = 2.0
    max_backoff_s: float = 120.0
    max_wait_s: float = 900.0
    min_interval_s: float = 0.0
    retry_after: Callable[[BaseException], float | None] = lambda exc: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    retries_made: int = 0
    requests_made: int = 0
    throttle_wait_s: float = 0.0
    backoff_wait_s: float = 0.0
    _next_allowed: float | None = None
    _hold_s: float = 0.0

    def hold(self, seconds: float) -> None:
        """Ask for an extra pause before the next call (e.g. usage headers near the limit)."""
        self._hold_s = max(self._hold_s, min(max(0.0, seconds), self.max_wait_s))

    def backoff_s(self, retry_number: int) -> float:
        base = min(self.max_backoff_s, self.base_backoff_s * (2 ** retry_number))
        return base * (0.5 + 0.5 * self.rng.random())

    def _pace(self, retry_wait: float = 0.0) -> None:
        """Wait for the longest of: the spacing interval, a requested hold, the retry backoff."""
        now = self.clock()
        spacing = 0.0 if self._next_allowed is None else max(0.0, self._next_allowed - now)
        wait = max(spacing, retry_wait)
        if self._hold_s > wait:
            self.throttle_wait_s += self._hold_s - wait
            wait = self._hold_s
        self._hold_s = 0.0
        if wait > 0:
            self.sleep(wait)
        self._next_allowed = self.clock() + self.min_interval_s

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under pacing and the retry bound."""
        attempt = 0
        retry_wait = 0.0
        while True:
            self._pace(retry_wait)
            self.requests_made += 1
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # classified below; nothing is swallowed
                if not self.is_retryable(exc):
                    raise NotRetryable(exc, attempt) from exc
                if attempt > self.max_retries:
                    raise RetriesExhausted(exc, attempt) from exc
                retry_wait = self.backoff_s(attempt - 1)
                hinted = self.retry_after(exc)
                if hinted:
                    retry_wait = max(retry_wait, hinted)
                retry_wait = min(retry_wait, self.max_wait_s)
                self.retries_made += 1
                self.backoff_wait_s += retry_wait

    def count_retry(self) -> None:
        """Record a retry done outside :meth:`call` (e.g. restarting a failed async job)."""
        self.retries_made += 1


def retry_after_s(header: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header given in seconds; None if absent or not a number."""
    if header and re.fullmatch(r"\d+(\.\d+)?", header.strip()):
        return float(header)
    return None


def unwrap(exc: BaseException) -> BaseException:
    """The underlying error inside the governor's wrappers."""
    while isinstance(exc, (RetriesExhausted, NotRetryable)):
        exc = exc.last_error if isinstance(exc, RetriesExhausted) else exc.error
    return exc


def describe_error(exc: BaseException) -> str:
    """Short text for an error, unwrapping the governor's wrappers."""
    exc = unwrap(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def attempts_of(exc: BaseException) -> int:
    return getattr(exc, "attempts", 1)

