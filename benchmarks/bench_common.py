"""Shared pieces of the whole-graph benchmarks: the machine, memory, and per-step times of a Dagster run.

Imported by ``graph_day.py`` and ``backfill.py`` (run as scripts from the repository root, so this
folder is on ``sys.path``). Each measured run happens in a fresh child process
(``python benchmarks/bench_common.py window FIRST LAST``), so its peak RSS is its own and not
memory an earlier run left in the allocator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg


# Run config for the benchmark runs: the console shows warnings and errors only (step events are
# still stored in the instance, where the per-step times come from).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def machine() -> dict:
    """nproc, RAM, CPU model, Python and the load average when the run started."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        mem_kb = 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"nproc": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1), "cpu": cpu,
            "python": platform.python_version(), "load_1_5_15": tuple(round(x, 2) for x in load)}


def print_machine() -> None:
    m = machine()
    print(f"machine: {m['nproc']} cpu ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, "
          f"load average {m['load_1_5_15']}", flush=True)


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: clear_refs 5); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_gib() -> float:
    """Peak RSS of this process since the last reset (VmHWM), else since start (getrusage)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads: DuckDB, Arrow, BLAS).

    On a shared, loaded machine wall time includes waiting for a CPU; CPU time does not.
    """
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_with_children() -> float:
    """``cpu_seconds`` plus the CPU of the child processes this one has reaped (a run's step processes)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return cpu_seconds() + c.ru_utime + c.ru_stime


def children_peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


class _Sampling:
    """A daemon thread calling ``_sample`` every ``interval`` seconds while the ``with`` block runs."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[float, int, int] | None:
    """(CPU s of the process itself, RSS KiB, PSS KiB) or None once it is gone. PSS splits the pages
    forked processes share (the fork server's imports) among them; RSS counts them in each."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, rss, pss


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class RssSampler(_Sampling):
    """Samples this process's RSS every ``interval`` seconds, to attribute peaks to run steps; while it has
    forked copies of itself (``fork_map``'s day workers), also, at most once a second, the summed PSS of it
    and them: the memory they take together, each page they share counted once (their summed RSS would
    count it in each). Only then: reading a large process's PSS walks its page tables in the kernel, and the
    run always has other children (Dagster's log tails, its orphan watchers)."""

    def __init__(self, interval: float = 0.2):
        super().__init__(interval)
        self.samples: list[tuple[float, int]] = []
        self.peak_tree_pss_kb = 0
        self._me = os.getpid()
        self._cmdline = Path("/proc/self/cmdline").read_bytes()
        self._last_pss = 0.0

    def _sample(self) -> None:
        kb = _status_kb("VmRSS")
        if kb is not None:
            self.samples.append((time.time(), kb))
        if time.monotonic() - self._last_pss < 1.0:
            return
        forks = [p for p in descendants(self._me) if _cmdline(p) == self._cmdline]
        if forks:
            self._last_pss = time.monotonic()
            pss = sum(st[2] for st in map(proc_stat, [self._me, *forks]) if st is not None)
            self.peak_tree_pss_kb = max(self.peak_tree_pss_kb, pss)

    def peak_gib(self, start: float, end: float) -> float:
        inside = [kb for t, kb in self.samples if start <= t <= end]
        return max(inside) / 2**20 if inside else float("nan")


@dataclass
class StepTime:
    step: str
    seconds: float
    status: str
    start: float
    end: float
    peak_rss_gib: float = float("nan")
    rows: dict = field(default_factory=dict)


def step_times(instance: dg.DagsterInstance, run_id: str, sampler: RssSampler | None = None) -> list[StepTime]:
    """Wall time of every step of the run, from its STEP_START and STEP_SUCCESS/FAILURE events."""
    starts: dict[str, float] = {}
    out: list[StepTime] = []
    rows: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or entry.step_key is None:
            continue
        kind = ev.event_type_value
        if kind == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            count = mat.metadata.get("dagster/row_count")
            if count is not None:
                rows.setdefault(entry.step_key, {})[mat.asset_key.to_user_string()] = count.value
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            start = starts.get(entry.step_key, entry.timestamp)
            st = StepTime(entry.step_key, entry.timestamp - start, "ok" if kind == "STEP_SUCCESS" else "FAILED",
                          start, entry.timestamp)
            if sampler is not None:
                st.peak_rss_gib = sampler.peak_gib(start, entry.timestamp)
            out.append(st)
    for st in out:
        st.rows = rows.get(st.step, {})
    return out


def print_steps(steps: list[StepTime], top: int | None = None) -> None:
    ordered = sorted(steps, key=lambda s: -s.seconds)
    if top is not None:
        ordered = ordered[:top]
    width = max((len(s.step) for s in ordered), default=10)
    print(f"  {'step':{width}s}  {'seconds':>8s}  {'peak RSS GiB':>12s}  status  rows")
    for s in ordered:
        rows = ", ".join(f"{k}={v}" for k, v in s.rows.items())
        print(f"  {s.step:{width}s}  {s.seconds:8.1f}  {s.peak_rss_gib:12.2f}  {s.status:6s}  {rows}")


def du_mib(path: Path) -> float:
    """Size on disk of a file or folder, in MiB."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_child(code: str) -> tuple[float, float, float, str]:
    """Run Python ``code`` in a child process: (wall s, its CPU s, its own peak RSS GiB, its stdout)."""
    probe = ("\nimport resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\n"
             "print('__PEAK_KB__', _u.ru_maxrss, _u.ru_utime + _u.ru_stime)\n")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + probe], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    lines = proc.stdout.splitlines()
    _, peak_kb, cpu = next(l for l in reversed(lines) if l.startswith("__PEAK_KB__")).split()
    out = "\n".join(l for l in lines if not l.startswith("__PEAK_KB__"))
    return seconds, float(cpu), int(peak_kb) / 2**20, out


# -- the sample world and the graph ------------------------------------------------------------


def world_settings(base_dir: Path, preset_name: str):
    from adperf_assets.sample.config import preset
    from adperf_assets.settings import load_settings

    cfg = preset(preset_name)
    s = load_settings()
    return dataclasses.replace(s, home=base_dir / "home", world_dir=base_dir / "world", sample_seed=cfg.seed,
                               sample_days=cfg.days, sample_installs_per_day=cfg.installs_per_day,
                               sample_preset=preset_name), cfg


def ensure_world(settings, preset_name: str, regenerate: bool) -> None:
    from adperf_assets.defs.resources import sample_world

    res = sample_world(settings)
    world = Path(res.path)
    if regenerate and world.exists():
        shutil.rmtree(world)
    if res._is_current(world):
        print(f"world: {world} (already generated; --regenerate to time generation)")
    else:
        code = ("from adperf_assets.sample.generator import generate_world\n"
                f"generate_world({str(world)!r}, seed={res.seed}, start={res.start!r}, days={res.days}, "
                f"installs_per_day={res.installs_per_day}, preset_name={preset_name!r})\n")
        seconds, cpu, peak, _ = run_child(code)
        print(f"world generation ({preset_name}): {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak:.2f} GiB "
              f"-> {world}", flush=True)
    from adperf_assets.sample.generator import load_manifest

    m = load_manifest(world)
    print(f"  users {m['users']:,}, ads {m['ads']}; " + "; ".join(m["counts"]))
    parts = sorted(p for p in world.iterdir())
    total = du_mib(world)
    print(f"  size {total:,.0f} MiB: " + ", ".join(f"{p.name} {du_mib(p):,.0f}" for p in parts))
    for sub in ("events/logins", "events/matches"):
        files = sorted((world / sub).glob("*.parquet"))
        if files:
            sizes = [f.stat().st_size / 2**20 for f in files]
            print(f"  {sub}: {len(files)} daily files, mean {sum(sizes) / len(sizes):.2f} MiB, max {max(sizes):.2f} MiB")


def graph(settings):
    """Every asset and check of the project's Definitions, with resources for ``settings``."""
    from adperf_assets.definitions import defs
    from adperf_assets.defs.resources import build_resources

    return list(defs.assets or []), list(defs.asset_checks or []), build_resources(settings)


# -- one measured run of the whole graph, in a child process -------------------------------------


@contextlib.contextmanager
def no_output_capture():
    """``dg.materialize`` as a deployment's run worker executes: without keeping every step's output.

    ``execute_in_process`` (under ``dg.materialize``) holds each output value until the run ends, for
    ``result.output_for_node``, which the benchmarks do not use; a run launched by the daemon keeps
    none. In a late 60-day run those held frames (``user_ltv``'s 2.9M rows, ``cohort_ltv``'s 1.3M ...)
    were ~1.5 GiB of its peak RSS."""
    from dagster._core.execution import execute_in_process as eip

    core = eip.core_execute_in_process

    def uncaptured(*args, **kwargs):
        return core(*args, **{**kwargs, "output_capturing_enabled": False})

    eip.core_execute_in_process = uncaptured
    try:
        yield
    finally:
        eip.core_execute_in_process = core


@contextlib.contextmanager
def bench_instance():
    """The run's Dagster instance (``ADPERF_BENCH_INSTANCE``): ``sqlite`` (the default) SQLite storage in a
    temporary folder, ``dagster dev``'s kind; ``home`` the instance ``$DAGSTER_HOME/dagster.yaml`` describes
    (e.g. deploy/dagster.yaml's PostgreSQL); ``memory`` an in-memory one, which stores events at almost no
    cost: against it, the others show what Dagster's event log costs a run."""
    kind = os.environ.get("ADPERF_BENCH_INSTANCE", "sqlite")
    if kind == "memory":
        yield dg.DagsterInstance.ephemeral()
    elif kind == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
    elif kind == "home":
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        raise ValueError(f"ADPERF_BENCH_INSTANCE={kind!r}: expected 'sqlite', 'home' or 'memory'")


def materialize_window(settings, first: str, last: str, selection: list[str] | None = None) -> dict:
    """One in-process run of every asset and check (or of the assets ``selection`` names, as
    ``a/b`` key strings, with their checks) over report days [first, last] (a single-run backfill
    when they differ), on the DuckDB of ``settings``; the figures as a dict."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    if bench_executor() == "multiprocess":
        return _job_window(first, last, selection)
    assets, checks, resources = graph(settings)
    kw = ({"partition_key": first} if first == last else
          {"tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}})
    if selection:
        kw["selection"] = dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in selection])
    with bench_instance() as instance:
        reset_peak_rss()
        with RssSampler() as sampler:
            t, cpu = time.perf_counter(), cpu_with_children()  # with the day workers (fork_map)
            with no_output_capture():
                result = dg.materialize([*assets, *checks], instance=instance, resources=resources,
                                        raise_on_error=False, run_config=QUIET, **kw)
            wall, cpu = time.perf_counter() - t, cpu_with_children() - cpu
        steps = step_times(instance, result.run_id, sampler)
        events = Counter(e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event)
    failures = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            err = ev.event_specific_data.error
            err = err.cause or err  # the asset's own exception, not Dagster's wrapper
            failures.append(f"{ev.step_key}: {err.message.strip()[:400]}")
    # the run's peak: its own, or with its day workers' the summed PSS, whichever is larger
    return {"first": first, "last": last, "wall": wall, "cpu": cpu,
            "peak_rss_gib": max(peak_rss_gib(), sampler.peak_tree_pss_kb / 2**20),
            "success": result.success, "n_assets": len(assets), "n_checks": len(checks), "failures": failures, "events": dict(events),
            "steps": [dataclasses.asdict(s) for s in steps]}


def bench_executor() -> str:
    """``ADPERF_BENCH_EXECUTOR``: ``in_process`` (default: ``dg.materialize``, one process) or
    ``multiprocess`` (the Definitions' job on ``executor_from_env()``'s executor, as a deployment runs it)."""
    kind = os.environ.get("ADPERF_BENCH_EXECUTOR", "").strip() or "in_process"
    if kind not in ("in_process", "multiprocess"):
        raise ValueError(f"ADPERF_BENCH_EXECUTOR={kind!r}: expected 'in_process' or 'multiprocess'")
    return kind


def _job_window(first: str, last: str, selection: list[str] | None) -> dict:
    """``materialize_window`` through the product's multiprocess executor (``bench_executor``)."""
    import tempfile

    import bench_executor as be
    from dagster._core.storage.tags import (ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG,
                                            PARTITION_NAME_TAG)

    # the Definitions read it when first imported (below): the product's own default is in_process
    os.environ.setdefault("ADPERF_EXECUTOR", "multiprocess")
    lock_log = tempfile.mktemp(prefix="adperf_locks_")
    os.environ["ADPERF_BENCH_LOCK_LOG"] = lock_log  # read by lockcount/sitecustomize.py in every step process
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent / "lockcount"),
                                                *filter(None, [os.environ.get("PYTHONPATH")])])
    tags = ({PARTITION_NAME_TAG: first} if first == last else
            {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
    with bench_instance() as instance:
        r = be.run_job_window(instance, tags, QUIET, selection)
        per_step = be.step_cpu(instance, r["run_id"], r["sampler"])
        steps = step_times(instance, r["run_id"])
        logs = instance.all_logs(r["run_id"])
        events = Counter(e.dagster_event.event_type_value for e in logs if e.dagster_event)
        errors = [(e.step_key, e.dagster_event.event_specific_data.error) for e in logs
                  if e.dagster_event and e.dagster_event.event_type_value == "STEP_FAILURE"]
    failures = [f"{key}: {(err.cause or err).message.strip()[:400]}" for key, err in errors]
    cpu = {k: v["cpu_total"] for k, v in per_step.items()}
    makespan, chain = be.schedule(cpu, be.step_deps(QUIET, tags), list(per_step), cores=2)
    from adperf_assets.definitions import defs

    return {"first": first, "last": last, "wall": r["wall"], "cpu": r["cpu"], "peak_rss_gib": r["peak_rss_gib"],
            "peak_pss_gib": r["peak_pss_gib"],
            "success": r["success"], "n_assets": len(defs.assets or []), "n_checks": len(defs.asset_checks or []),
            "failures": failures, "events": dict(events), "lock_waits": be.lock_waits(lock_log),
            "steps": [dataclasses.asdict(s) for s in steps], "step_cpu": per_step,
            "cpu_steps": sum(cpu.values()), "cpu_startup": sum(v["cpu_startup"] for v in per_step.values()),
            "cpu_path": makespan, "cpu_chain": chain}


def child_window(first: str, last: str, log_dir: Path, selection: list[str] | None = None,
                 tracker: RssSum | None = None, tag: str = "") -> dict:
    """``materialize_window`` in a fresh child process (same environment); Dagster's own log
    lines go to ``log_dir/<first>_<last><tag>.log``. ``tracker`` samples the child's RSS while it runs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{first}_{last}{tag}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "window", first, last,
                                 ",".join(selection or [])], stdout=subprocess.PIPE, stderr=err, text=True)
        if tracker is not None:
            tracker.add(proc.pid)
        try:
            stdout, _ = proc.communicate()
        finally:
            if tracker is not None:
                tracker.remove(proc.pid)
    lines = [l for l in stdout.splitlines() if l.startswith("__RESULT__ ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"run {first}..{last} failed ({proc.returncode}); see {log}")
    res = json.loads(lines[-1][len("__RESULT__ "):])
    res["log"] = str(log)
    return res


def descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (children, their children, ...), as /proc shows them now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(c) for c in (task / "children").read_text().split()]
                out.extend(kids)
                todo.extend(kids)
        except (OSError, ValueError):
            continue
    return out


def _vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss_kb(pid: int) -> int:
    """VmRSS of a process and its descendants (0 once it is gone)."""
    return sum(_vm_rss_kb(p) for p in [pid, *descendants(pid)])


class RssSum(_Sampling):
    """Samples the summed RSS of the child processes running at once (every ``interval`` s): the
    memory concurrent runs need together, not each one's own peak."""

    def __init__(self, interval: float = 0.2):
        self.peak_kb = 0
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        super().__init__(interval)

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def remove(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def _sample(self) -> None:
        with self._lock:
            pids = list(self._pids)
        self.peak_kb = max(self.peak_kb, sum(_tree_rss_kb(p) for p in pids))

    def peak_gib(self) -> float:
        return self.peak_kb / 2**20


def print_window(label: str, res: dict, top: int | None = None) -> None:
    print(f"\n{label}: {res['wall']:.1f} s wall, {res['cpu']:.1f} s CPU, peak RSS {res['peak_rss_gib']:.2f} GiB, "
          f"{len(res['steps'])} steps, success={res['success']}", flush=True)
    print_steps([StepTime(**s) for s in res["steps"]], top=top)
    for f in res["failures"]:
        print(f"    FAILED {f}")
    if res["failures"]:
        print(f"    (Dagster log: {res['log']})")


def _window_main(first: str, last: str, selection: str = "") -> None:
    from adperf_assets.settings import load_settings

    s = load_settings()  # ADPERF_* set by the parent: home, world, world size
    res = materialize_window(s, first, last, [k for k in selection.split(",") if k] or None)
    # the run's and the process's start (imports, loading the definitions), and its step processes
    res["cpu_process"] = cpu_with_children()
    dump = Path(os.environ["ADPERF_HOME"]).parent / "logs" / f"{first}_{last}_{bench_executor()}.json"
    dump.parent.mkdir(parents=True, exist_ok=True)
    dump.write_text(json.dumps(res))  # every step's figures, for a look after the run
    print("__RESULT__ " + json.dumps(res), flush=True)


if __name__ == "__main__" and len(sys.argv) in (4, 5) and sys.argv[1] == "window":
    _window_main(*sys.argv[2:])
