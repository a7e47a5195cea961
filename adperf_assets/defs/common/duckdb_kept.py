"""The store's DuckDB file kept open between a run's reads and writes.

Opening the file costs tens of milliseconds (DuckDB reads its catalog) and a run of the graph opens it over
a hundred times: every input, output and table read. While one connection to a file is open in a process,
DuckDB's next connect to it (with the same configuration) shares that open database instead. So the IO
manager and the table reader keep one connection open: it closes ``IDLE_SECONDS`` after the last connect,
so that a step's long computation does not hold the file's lock (other processes' connects retry on it),
and at the resources' teardown (the run's end in one process; each step's under the multiprocess
executor), so that after a run the file is free for any connection.

More: docs/dagster_layer.md."""

from __future__ import annotations

import threading

import dagster as dg
import duckdb
from pydantic import PrivateAttr

#: Seconds without a connect after which the kept connection closes.
IDLE_SECONDS = 1.0
#: The configuration dagster-duckdb's connects add to their own (``connection_config``).
DAGSTER_CONFIG = {"custom_user_agent": "dagster"}

_lock = threading.Lock()
# path -> (connection, its configuration, the timer that closes it unless a later connect replaced it)
_kept: dict[str, tuple[duckdb.DuckDBPyConnection, dict, threading.Timer]] = {}


def keep_open(path: str, config: dict) -> None:
    """Before a connect to ``path`` with ``config``: keep (or open) a connection to it for ``IDLE_SECONDS``
    more. Where the file is locked by another process nothing is kept: the caller's connect waits as before."""
    if not path or path == ":memory:":
        return
    with _lock:
        kept = _kept.pop(path, None)
        if kept is not None:
            kept[2].cancel()
            if kept[1] != config:  # DuckDB refuses a second configuration of an open file
                kept[0].close()
                kept = None
        if kept is None:
            try:
                kept = (duckdb.connect(database=path, read_only=False, config=config), dict(config), None)
            except (duckdb.IOException, duckdb.ConnectionException):
                return
        timer = threading.Timer(IDLE_SECONDS, lambda: _expire(path, timer))
        timer.daemon = True
        _kept[path] = (kept[0], kept[1], timer)
        timer.start()


def release(path: str) -> None:
    """Close the connection kept to ``path``, if any."""
    with _lock:
        kept = _kept.pop(path, None)
    if kept is not None:
        kept[2].cancel()
        kept[0].close()


class KeptInRun(dg.ConfigurableResource):
    """A resource whose connects, inside a run, share the file kept open until the run's teardown; outside
    a run (a sensor, a test) nothing is kept. Subclasses name the file in ``_kept_file``."""

    _in_run: bool = PrivateAttr(default=False)

    def _kept_file(self) -> str:
        raise NotImplementedError

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        release(self._kept_file())

    def _keep_open(self, config: dict) -> None:
        """Before a connect: keep the file open, in a run."""
        if self._in_run:
            keep_open(self._kept_file(), config)


def is_kept(path: str) -> bool:
    return path in _kept


def _expire(path: str, timer: threading.Timer) -> None:
    with _lock:
        kept = _kept.get(path)
        if kept is None or kept[2] is not timer:  # released, or kept longer by a connect since
            return
        del _kept[path]
    kept[0].close()
