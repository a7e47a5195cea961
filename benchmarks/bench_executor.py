"""A benchmark window run through the product's executor (``ADPERF_BENCH_EXECUTOR=multiprocess``).

``dg.materialize`` runs every step in its process (one core); a deployment runs the Definitions' asset
job with ``executors.executor_from_env()`` (steps in processes, ``ADPERF_MAX_CONCURRENT`` at once).
``run_job_window`` does the latter: the job reconstructable from ``adperf_assets.definitions``, a
persistent instance, the partition-range tags. It samples every process of the run (itself, the fork
server, the step processes) every 0.1 s: the summed RSS of those alive at once, and each step process's
CPU seconds when its step starts (its start-up) and when it ends; the CPU total is exact (the fork
server is stopped and reaped, so ``RUSAGE_CHILDREN`` holds it and the steps it reaped).

DuckDB file-lock waits: with ``ADPERF_BENCH_LOCK_LOG`` set, ``lockcount/sitecustomize.py`` (put on
``PYTHONPATH`` by ``bench_common.child_window``) logs every ``duckdb.connect`` that failed on the
file's lock (dagster-duckdb retries those with back-off) as a line of that file, from every process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import bench_common as bc
import dagster as dg

MODULE = "adperf_assets.definitions"


class TreeSampler(bc._Sampling):
    """Every ``interval`` s: each process of this one's tree, its CPU s and RSS; the largest RSS and PSS sums."""

    def __init__(self, interval: float = 0.1):
        super().__init__(interval)
        self.peak_kb = self.peak_pss_kb = 0
        self.cpu: dict[int, list[tuple[float, float]]] = {}
        self.rss_kb: dict[int, int] = {}  # each process's own peak
        self._me = os.getpid()

    def _sample(self) -> None:
        t, total, pss = time.time(), 0, 0
        for pid in [self._me, *bc.descendants(self._me)]:
            st = bc.proc_stat(pid)
            if st is None:
                continue
            total, pss = total + st[1], pss + st[2]
            self.rss_kb[pid] = max(self.rss_kb.get(pid, 0), st[1])
            if pid != self._me:
                self.cpu.setdefault(pid, []).append((t, st[0]))
        self.peak_kb, self.peak_pss_kb = max(self.peak_kb, total), max(self.peak_pss_kb, pss)

    def cpu_at(self, pid: int, t: float) -> float:
        """The process's CPU s at time ``t`` (the last sample at or before it; nan if never sampled)."""
        samples = self.cpu.get(pid, [])
        before = [c for s, c in samples if s <= t]
        return before[-1] if before else (samples[0][1] if samples else float("nan"))

    def cpu_last(self, pid: int) -> float:
        samples = self.cpu.get(pid, [])
        return samples[-1][1] if samples else float("nan")


def _stop_forkserver() -> None:
    """End this process's fork server and reap it, so its CPU and its reaped steps' count as children's."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        server._stop()


def run_job_window(instance: dg.DagsterInstance, tags: dict, run_config: dict,
                   selection: list[str] | None = None) -> dict:
    """One run of the Definitions' asset job (or of the ``selection``'s assets) with its executor."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from adperf_assets.definitions import defs

    executor = defs.executor.name if defs.executor else "multiprocess"
    if executor != "multiprocess":
        raise ValueError(f"ADPERF_BENCH_EXECUTOR=multiprocess needs ADPERF_EXECUTOR=multiprocess, not {executor!r}")
    recon = ReconstructableRepository.for_module(MODULE, "defs", os.getcwd()).get_reconstructable_job("__ASSET_JOB")
    keys = [dg.AssetKey.from_user_string(k) for k in selection] if selection else None
    with TreeSampler() as sampler:
        t, cpu = time.perf_counter(), bc.cpu_with_children()
        with dg.execute_job(recon, instance=instance, run_config=run_config, tags=tags,
                            asset_selection=keys, raise_on_error=False) as result:
            run_id, success = result.run_id, result.success
        _stop_forkserver()
        wall, cpu = time.perf_counter() - t, bc.cpu_with_children() - cpu
    return {"run_id": run_id, "success": success, "wall": wall, "cpu": cpu, "peak_rss_gib": sampler.peak_kb / 2**20,
            "peak_pss_gib": sampler.peak_pss_kb / 2**20,
            "sampler": sampler}


def step_cpu(instance: dg.DagsterInstance, run_id: str, sampler: TreeSampler) -> dict[str, dict]:
    """Per step: its process's pid, CPU s before STEP_START (start-up), at its end, and in all (sampled)."""
    out: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or entry.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            out[entry.step_key] = {"pid": ev.pid, "cpu_startup": sampler.cpu_at(ev.pid, entry.timestamp),
                                   "cpu_total": sampler.cpu_last(ev.pid),
                                   "peak_rss_gib": sampler.rss_kb.get(ev.pid, 0) / 2**20}
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in out:
            out[entry.step_key]["cpu_end"] = sampler.cpu_at(out[entry.step_key]["pid"], entry.timestamp)
    return out


def lock_waits(path: str) -> int:
    p = Path(path)
    return len(p.read_text().splitlines()) if p.exists() else 0


def step_deps(run_config: dict, tags: dict) -> dict[str, list[str]]:
    """Each step of the asset job's plan and the steps it waits for."""
    from dagster._core.execution.api import create_execution_plan

    from adperf_assets.definitions import defs

    plan = create_execution_plan(defs.resolve_implicit_global_asset_job_def(), run_config=run_config, tags=tags)
    return {s.key: sorted(s.get_execution_dependency_keys()) for s in plan.steps}


def schedule(cpu: dict[str, float], deps: dict[str, list[str]], order: list[str], cores: int = 2) -> tuple[float, float]:
    """(the makespan of the steps on ``cores`` idle cores, each step taking its CPU s, started in
    ``order`` as soon as its inputs are done and a core is free; the longest dependency chain)."""
    finish: dict[str, float] = {}
    free = [0.0] * cores
    todo = [s for s in order if s in cpu]
    while todo:
        ready = [s for s in todo if all(d in finish for d in deps.get(s, []) if d in cpu)]
        if not ready:
            raise ValueError(f"no step ready among {todo[:5]}: a dependency cycle or a missing step")
        s = min(ready, key=lambda k: max([min(free)] + [finish[d] for d in deps.get(k, []) if d in cpu]))
        core = free.index(min(free))
        start = max([free[core]] + [finish[d] for d in deps.get(s, []) if d in cpu])
        finish[s] = free[core] = start + cpu[s]
        todo.remove(s)
    chain: dict[str, float] = {}
    for s in order:
        if s in cpu:
            chain[s] = cpu[s] + max([chain.get(d, 0.0) for d in deps.get(s, []) if d in cpu], default=0.0)
    return max(finish.values(), default=0.0), max(chain.values(), default=0.0)
