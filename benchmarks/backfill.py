"""Backfills of the whole graph through Dagster on the default sample world, and what a day costs after them.

For each N (default 30, 90, 365): on an empty DuckDB, report days [start, start + N - 1] of every
asset and check in ``adperf_assets.definitions.defs``, in consecutive runs of at most ``--chunk``
days (default: the smallest ``max_partitions_per_run`` among the graph's backfill policies, as a
backfill of the whole graph from the UI splits it; each run carries the asset partition range
tags, as ``dagster asset materialize --partition-range`` sends), then the next day alone (the
daily run with N days of history behind it). Prints the backfill time, time per backfilled day, the
next day's time, peak RSS, and the slowest steps. Targets: 365 days < 30 min; the per-day figures
stay flat from 30 to 365 days when the daily work is bounded (trailing windows, no full-history
reads). Later days hold more active users (the sample app grows), so some growth is the data's.

With ``--history H`` the backfills start at steady state instead: H days are materialized first
(timed apart, once), and each N backfills the N days after them on a copy of that database, so every
window a day reads is already full (H >= 400, the report's window) -- what point 7 of the scale issue
asks: the per-day cost flat from 30 to 365 days once the day's inputs stop growing. That needs a world
of H + max(N) + 1 days ending before today (``--world-days``, ``--world-start``).

With ``--lanes 2`` each window is two runs, its upstream assets and its downstream ones
(``lane_split``), two runs at a time as Dagster's asset backfill with a run queue of 2 would launch
them: window k+1's upstream run alongside window k's downstream run. The peak RSS is then the sum of
the runs alive at once.

With ``--store iceberg`` the tables go to Apache Iceberg instead of DuckDB (``ADPERF_TABLE_STORE``):
catalog ``--catalog-uri`` (an SQLAlchemy URL, e.g. a PostgreSQL database; default a SQLite file in
the home), warehouse a folder in the home; not with ``--history`` (the warehouse's absolute paths
are in its metadata, so a copy is not a snapshot).

Run: .venv/bin/python benchmarks/backfill.py [--dir /tmp/adperf_bench_default] [--days 30,90,365]
     [--start 2025-06-01] [--preset default] [--chunk 60] [--lanes 2]
     [--history 401 --world-days 767 --world-start 2024-10-28]
     [--store iceberg [--catalog-uri postgresql+psycopg2://user:pw@127.0.0.1:5432/lake]]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import bench_common as bc


def smallest_run() -> int:
    """The fewest partitions any asset of the graph accepts in one backfill run (a backfill of the
    whole graph cannot run longer ranges in one run)."""
    from adperf_assets.definitions import defs

    limits = [a.backfill_policy.max_partitions_per_run for a in defs.assets or []
              if getattr(a, "backfill_policy", None) is not None and a.backfill_policy.max_partitions_per_run]
    return min(limits, default=10_000)


#: The downstream lane of ``--lanes 2``: these assets and everything downstream of them (the cohort
#: back-tests and fits, the report and the decisions); the other lane is the rest (ingestion, the
#: per-user state, the SKAN model). Their CPU shares: benchmarks/README.md.
DOWNSTREAM_ROOTS = ("cohort_ltv_backtest", "retention_fit")


def lane_split(roots=DOWNSTREAM_ROOTS) -> tuple[list[str], list[str]]:
    """(upstream, downstream) asset keys: downstream = ``roots`` and their descendants, so no
    upstream asset reads a downstream one (the upstream lane can run ahead). A multi-asset's keys
    must all fall in one lane (its step cannot be split)."""
    from adperf_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    down = set()
    todo = [dg_key(r) for r in roots]
    while todo:
        k = todo.pop()
        if k not in down:
            down.add(k)
            todo.extend(graph.get(k).child_keys)
    keys = [k for k in graph.toposorted_asset_keys if graph.get(k).is_materializable]
    for a in defs.assets or []:
        lanes = {k in down for k in getattr(a, "keys", ())}
        if len(lanes) > 1:
            raise ValueError(f"the lane split cuts the multi-asset {sorted(k.to_user_string() for k in a.keys)}")
    up = [k.to_user_string() for k in keys if k not in down]
    return up, [k.to_user_string() for k in keys if k in down]


def dg_key(s: str):
    import dagster as dg

    return dg.AssetKey.from_user_string(s)


def _windows(start: date, n: int, chunk: int) -> list[tuple[str, str]]:
    return [((start + timedelta(days=k)).isoformat(), (start + timedelta(days=min(k + chunk, n) - 1)).isoformat())
            for k in range(0, n, chunk)]


def _print_run(label: str, r: dict, days: int) -> None:
    print(f"  run {label}: {r['wall']:.1f} s wall / {r['cpu']:.1f} s CPU = {r['wall'] / days:.2f} / "
          f"{r['cpu'] / days:.2f} s per day, peak RSS {r['peak_rss_gib']:.2f} GiB, success={r['success']}, "
          f"{sum(r.get('events', {}).values())} events stored", flush=True)
    if "cpu_path" in r:  # ADPERF_BENCH_EXECUTOR=multiprocess: the steps' own processes
        print(f"    steps {r['cpu_steps']:.1f} s CPU (of it {r['cpu_startup']:.1f} s before the steps started), "
              f"on two idle cores {r['cpu_path']:.1f} s (longest chain {r['cpu_chain']:.1f} s), "
              f"{r['lock_waits']} DuckDB lock waits", flush=True)


def backfill(start: date, n: int, chunk: int, logs: Path, lanes: int = 1, roots=DOWNSTREAM_ROOTS) -> dict:
    """Days [start, start + n - 1] in consecutive child-process runs of at most ``chunk`` days;
    step times are summed per step.

    ``lanes=1``: each run the whole graph, one after the other; times add up, the peak RSS is the
    largest run's. ``lanes=2``: what Dagster's asset backfill does with a run queue of 2: each
    window in two runs, the upstream lane's assets and then the downstream lane's (``lane_split``);
    a downstream run starts once its window's upstream run and the previous downstream run are done,
    the upstream lane runs ahead, so window k+1's upstream run overlaps window k's downstream one.
    The wall time is the whole backfill's; the peak RSS the largest sampled sum of the runs alive at
    once (``peak_rss_bound_gib``: the largest sum of two overlapping runs' own peaks, an upper bound);
    ``cpu_path`` the schedule's length when every run takes its CPU seconds (two idle cores)."""
    windows = _windows(start, n, chunk)
    days = [(date.fromisoformat(b) - date.fromisoformat(a)).days + 1 for a, b in windows]
    runs: list[dict] = []
    t0 = time.perf_counter()
    if lanes == 1:
        for (first, last), d in zip(windows, days):
            runs.append(bc.child_window(first, last, logs))
            _print_run(f"{first}..{last}", runs[-1], d)
        peak = bound = max(r["peak_rss_gib"] for r in runs)
        # one process: its CPU; the multiprocess executor: its steps on two idle cores, plus the run process
        path = sum(r["cpu_path"] + r.get("cpu_process", r["cpu"]) - r["cpu_steps"] if "cpu_path" in r
                   else r.get("cpu_process", r["cpu"]) for r in runs)
    elif lanes == 2:
        up, down = lane_split(roots)
        done = [threading.Event() for _ in windows]
        results: dict[tuple[str, int], dict] = {}
        errors: list[Exception] = []

        def lane(name: str, selection: list[str]) -> None:
            for i, ((first, last), d) in enumerate(zip(windows, days)):
                if name == "down":
                    done[i].wait()
                if errors:
                    return
                try:
                    t = time.perf_counter() - t0
                    r = bc.child_window(first, last, logs, selection, tracker, tag=f"_{name}")
                    r["span"] = (t, time.perf_counter() - t0)
                    results[(name, i)] = r
                    _print_run(f"{first}..{last} {name:4s} [{r['span'][0]:6.1f}, {r['span'][1]:6.1f}] s", r, d)
                except Exception as exc:  # re-raised once both lanes stopped
                    errors.append(exc)
                    return
                finally:
                    if name == "up":
                        done[i].set()

        with bc.RssSum() as tracker:
            threads = [threading.Thread(target=lane, args=a) for a in (("up", up), ("down", down))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        if errors:
            raise errors[0]
        runs = [results[k] for k in sorted(results, key=lambda k: (k[1], k[0] == "down"))]
        # the schedule's length with each run taking its CPU seconds: what two otherwise idle cores
        # would take (waits for the DuckDB file's lock aside); on a shared machine the wall is not that
        up_end = down_end = 0.0
        for i in range(len(windows)):
            up_end += results[("up", i)].get("cpu_process", results[("up", i)]["cpu"])
            down_end = max(up_end, down_end) + results[("down", i)].get("cpu_process", results[("down", i)]["cpu"])
        path = down_end
        peak = tracker.peak_gib()
        bound = max([r["peak_rss_gib"] for r in runs]
                    + [a["peak_rss_gib"] + b["peak_rss_gib"] for a in runs for b in runs
                       if a is not b and a["span"][0] < b["span"][1] and b["span"][0] < a["span"][1]])
    else:
        raise ValueError(f"lanes must be 1 or 2, not {lanes}")
    wall = time.perf_counter() - t0
    steps: dict[str, dict] = {}
    for r in runs:
        for s in r["steps"]:
            agg = steps.setdefault(s["step"], {**s, "seconds": 0.0, "peak_rss_gib": 0.0, "rows": {}, "status": "ok"})
            agg["seconds"] += s["seconds"]
            agg["peak_rss_gib"] = max(agg["peak_rss_gib"], s["peak_rss_gib"])
            if s["status"] != "ok":  # a step that failed in any run shows as failed
                agg["status"] = s["status"]
    return {"wall": wall if lanes > 1 else sum(r["wall"] for r in runs), "cpu": sum(r["cpu"] for r in runs),
            "cpu_process": sum(r.get("cpu_process", r["cpu"]) for r in runs), "cpu_path": path,
            "peak_rss_gib": peak, "peak_rss_bound_gib": bound, "success": all(r["success"] for r in runs),
            "failures": [f for r in runs for f in r["failures"]], "steps": list(steps.values()),
            "log": runs[-1]["log"], "runs": len(runs), "lock_waits": sum(r.get("lock_waits", 0) for r in runs),
            "cpu_startup": sum(r.get("cpu_startup", 0.0) for r in runs)}


def _drop_iceberg_tables(uri: str, warehouse: Path) -> None:
    """An empty start in a catalog database that outlives the home: drop the tables of an earlier call."""
    from adperf_assets.defs.common import iceberg_store
    from adperf_assets.defs.common.io_manager import SCHEMA

    cat = iceberg_store.catalog({"type": "sql", "uri": uri, "warehouse": warehouse.as_uri()}, SCHEMA)
    for t in cat.list_tables(SCHEMA):
        cat.drop_table(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_default"))
    ap.add_argument("--preset", default="default")
    ap.add_argument("--days", default="30,90,365")
    ap.add_argument("--start", default=None, help="first backfilled day (default: the world's first day)")
    ap.add_argument("--top", type=int, default=8, help="slowest steps to show per run")
    ap.add_argument("--chunk", type=int, default=None,
                    help="days per backfill run (default: the graph's smallest max_partitions_per_run)")
    ap.add_argument("--history", type=int, default=0,
                    help="days materialized before the measured backfills (once); each N then starts after them")
    ap.add_argument("--world-days", type=int, default=None, help="days of the sample world (default: the preset's)")
    ap.add_argument("--world-start", default=None, help="first day of the sample world (default: the preset's)")
    ap.add_argument("--lanes", type=int, choices=(1, 2), default=1,
                    help="2: each window's upstream and downstream assets in two runs, two runs at a time")
    ap.add_argument("--lane-split", default=",".join(DOWNSTREAM_ROOTS),
                    help="with --lanes 2: the downstream lane's first assets (it holds them and their descendants)")
    ap.add_argument("--store", choices=("duckdb", "iceberg"), default="duckdb", help="ADPERF_TABLE_STORE")
    ap.add_argument("--catalog-uri", default="", help="Iceberg SQL catalog (default: SQLite in the home)")
    args = ap.parse_args()
    if args.store == "iceberg" and args.history:
        ap.error("--history is DuckDB only")
    base = Path(args.dir).resolve()
    if args.world_start:
        os.environ["ADPERF_START_DATE"] = args.world_start
    settings, cfg = bc.world_settings(base, args.preset)
    if args.world_days:
        settings = dataclasses.replace(settings, sample_days=args.world_days)
        cfg = dataclasses.replace(cfg, days=args.world_days)
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day),
                       "ADPERF_SAMPLE_PRESET": settings.sample_preset, "ADPERF_TABLE_STORE": args.store})
    if args.store == "iceberg":
        os.environ["ADPERF_ICEBERG_WAREHOUSE"] = str(settings.home / "warehouse")
        if args.catalog_uri:
            os.environ["ADPERF_ICEBERG_CATALOG_URI"] = args.catalog_uri
    bc.print_machine()
    print(f"table store: {args.store}" + (f", catalog {args.catalog_uri.split('@')[-1] or 'SQLite in the home'}"
                                          if args.store == "iceberg" else ""))
    bc.ensure_world(settings, args.preset, regenerate=False)
    start = date.fromisoformat(args.start) if args.start else settings.start_date
    chunk = args.chunk or smallest_run()
    roots = tuple(k for k in args.lane_split.split(",") if k)
    print(f"backfills run in chunks of at most {chunk} days" + (
        "" if args.lanes == 1 else f", in two lanes; the downstream one: {', '.join(lane_split(roots)[1])}"))
    logs = base / "logs"
    snapshot = base / "history.duckdb"
    if args.history:
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
        hist = backfill(start, args.history, chunk, logs, args.lanes, roots)
        bc.print_window(f"history: {args.history} days from {start} in {hist['runs']} runs", hist, top=args.top)
        shutil.copyfile(settings.duckdb_path, snapshot)
        start += timedelta(days=args.history)
    rows = []
    for n in [int(x) for x in args.days.split(",") if x.strip()]:
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
        if args.store == "iceberg" and args.catalog_uri:
            _drop_iceberg_tables(args.catalog_uri, settings.home / "warehouse")
        if args.history:
            shutil.copyfile(snapshot, settings.duckdb_path)
        first, last = start.isoformat(), (start + timedelta(days=n - 1)).isoformat()
        nxt = (start + timedelta(days=n)).isoformat()
        fill = backfill(start, n, chunk, logs, args.lanes, roots)
        bc.print_window(f"backfill {n} days {first}..{last} after {args.history} days of history in {fill['runs']} "
                        f"runs ({fill['wall'] / n:.2f} s wall, {fill['cpu'] / n:.2f} s CPU per day"
                        + f"; {fill['cpu_process']:.1f} s CPU with the processes' starts"
                        + (f"; executor {bc.bench_executor()}: CPU critical path {fill['cpu_path']:.1f} s, steps' "
                           f"start-up {fill['cpu_startup']:.1f} s CPU, {fill['lock_waits']} DuckDB lock waits"
                           if bc.bench_executor() == "multiprocess" else "")
                        + (f"; the lanes' CPU critical path {fill['cpu_path']:.1f} s; runs alive at once: "
                           f"peak RSS summed {fill['peak_rss_gib']:.2f} GiB sampled, "
                           f"<= {fill['peak_rss_bound_gib']:.2f} GiB" if args.lanes > 1 else "") + ")", fill, top=args.top)
        day = bc.child_window(nxt, nxt, logs)
        bc.print_window(f"next day {nxt} after {args.history + n} days", day, top=args.top)
        rows.append((n, fill, day))
    print(f"\nsummary after {args.history} days of history (wall / CPU seconds; load average now "
          f"{bc.machine()['load_1_5_15']})")
    print(f"  {'days':>5s}  {'backfill':>15s}  {'per day':>13s}  {'peak GiB':>8s}  {'next day':>13s}  {'peak GiB':>8s}  ok")
    for n, f, d in rows:
        print(f"  {n:5d}  {f['wall']:7.1f} / {f['cpu']:6.1f}  {f['wall'] / n:5.2f} / {f['cpu'] / n:5.2f}  "
              f"{f['peak_rss_gib']:8.2f}  {d['wall']:5.1f} / {d['cpu']:5.1f}  {d['peak_rss_gib']:8.2f}  "
              f"{f['success'] and d['success']}")

if __name__ == "__main__":
    sys.exit(main())
