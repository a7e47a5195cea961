"""A range run's days on every core. Under the in-process executor a run's steps go one after another on
one core. In a step whose days are heavy computation on inputs already in memory with small results
(``skan_modelled``'s bootstrap), forked children inherit those inputs without a copy (the parent's pages
are shared until written), compute their share of the days and send back only their results; nothing is
pickled on the way in. Where a step's time is mostly reading, writing or large results, forking costs more
than it saves (benchmarks/README.md). Knows nothing of Dagster.

``ADPERF_DAY_WORKERS`` sets how many processes share the days (1: no fork). By default every usable core
under the in-process executor, and 1 under the others, whose steps already share the cores."""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerError(RuntimeError):
    """A forked worker's exception, with its traceback as text (the exception itself may not pickle)."""


def day_workers() -> int:
    """The processes a step may split its days between (``ADPERF_DAY_WORKERS``, else as the module says)."""
    raw = os.environ.get("ADPERF_DAY_WORKERS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"ADPERF_DAY_WORKERS={raw!r}: a whole number of processes, 1 or more")
        return int(raw)
    executor = os.environ.get("ADPERF_EXECUTOR", "").strip().lower() or "in_process"
    return len(os.sched_getaffinity(0)) if executor == "in_process" else 1


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, the items dealt round-robin (days get costlier while the windows fill)
    between this process and ``workers - 1`` forked children (default ``day_workers()``). ``fn`` must not
    write to anything the parent owns (a database connection, Dagster's event log): its results come back
    by pipe, and only they. A child's exception is raised here as ``WorkerError`` with its traceback."""
    items = list(items)
    n = min(day_workers() if workers is None else workers, len(items))
    # a daemonic process may not have children (multiprocessing's rule)
    if n <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return [fn(x) for x in items]
    shares = [list(range(k, len(items), n)) for k in range(n)]
    ctx = mp.get_context("fork")
    children = []
    try:
        for k in range(1, n):
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(fn, [items[i] for i in shares[k]], send), daemon=True)
            proc.start()
            send.close()
            children.append((proc, recv))
        results = [[fn(items[i]) for i in shares[0]]]
        for k, (proc, recv) in enumerate(children, start=1):
            try:
                status, payload = recv.recv()
            except EOFError:
                proc.join()
                raise WorkerError(f"day worker {k} of {n} died (exit code {proc.exitcode}) before sending its "
                                  "results") from None
            proc.join()
            if status != "ok":
                raise WorkerError(f"day worker {k} of {n} failed:\n{payload}")
            results.append(payload)
    finally:
        for proc, recv in children:
            recv.close()
            if proc.is_alive():
                proc.kill()
                proc.join()
    out: list = [None] * len(items)
    for share, result in zip(shares, results):
        for i, r in zip(share, result):
            out[i] = r
    return out


def _child(fn, items, send) -> None:
    try:
        result = ("ok", [fn(x) for x in items])
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent, named
        result = ("error", traceback.format_exc())
    try:
        send.send(result)
    except Exception:  # noqa: BLE001 - a result that does not pickle
        send.send(("error", traceback.format_exc()))
    send.close()
