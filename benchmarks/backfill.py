"""Backfills of the whole graph through Dagster on the default sample world, and what a day costs after them.

For each N (default 30, 90, 365): on an empty DuckDB, ONE run over report days
[start, start + N - 1] of every asset and check in ``adperf_assets.definitions.defs`` (a
single-run backfill: the asset partition range tags, as ``dagster asset materialize
--partition-range`` and the UI's single-run backfills send), then the next day alone (the daily
run with N days of history behind it). Prints the backfill time, time per backfilled day, the
next day's time, peak RSS, and the slowest steps. Targets: 365 days < 30 min; the per-day figures
stay flat from 30 to 365 days when the daily work is bounded (trailing windows, no full-history
reads). Later days hold more active users (the sample app grows), so some growth is the data's.

Run: .venv/bin/python benchmarks/backfill.py [--dir /tmp/adperf_bench_default] [--days 30,90,365]
     [--start 2025-06-01] [--preset default]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import bench_common as bc


def run_range(assets, checks, resources, instance, first: str, last: str):
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    kw = ({"partition_key": first} if first == last else
          {"tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}})
    bc.reset_peak_rss()
    with bc.RssSampler() as sampler:
        t, cpu = time.perf_counter(), bc.cpu_seconds()
        result = dg.materialize([*assets, *checks], instance=instance, resources=resources, raise_on_error=False, run_config=bc.QUIET, **kw)
        seconds, cpu = time.perf_counter() - t, bc.cpu_seconds() - cpu
    steps = bc.step_times(instance, result.run_id, sampler)
    return result, seconds, cpu, bc.peak_rss_gib(), steps


def report_failures(result) -> None:
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            err = ev.event_specific_data.error
            err = err.cause or err  # the asset's own exception, not Dagster's wrapper
            print(f"    FAILED {ev.step_key}: {err.message.strip()[:400]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_default"))
    ap.add_argument("--preset", default="default")
    ap.add_argument("--days", default="30,90,365")
    ap.add_argument("--start", default=None, help="first backfilled day (default: the world's first day)")
    ap.add_argument("--top", type=int, default=8, help="slowest steps to show per run")
    args = ap.parse_args()
    base = Path(args.dir).resolve()
    settings, cfg = bc.world_settings(base, args.preset)
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day)})
    bc.print_machine()
    bc.ensure_world(settings, args.preset, regenerate=False)

    import dagster as dg

    start = date.fromisoformat(args.start) if args.start else cfg.start
    rows = []
    for n in [int(x) for x in args.days.split(",") if x.strip()]:
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
        assets, checks, resources = bc.graph(settings)
        first, last = start.isoformat(), (start + timedelta(days=n - 1)).isoformat()
        nxt = (start + timedelta(days=n)).isoformat()
        with dg.instance_for_test() as instance:
            res, seconds, cpu, peak, steps = run_range(assets, checks, resources, instance, first, last)
            print(f"\nbackfill {n} days {first}..{last}: {seconds:.1f} s wall ({seconds / n:.2f} s/day), "
                  f"{cpu:.1f} s CPU ({cpu / n:.2f} s/day), peak RSS {peak:.2f} GiB, success={res.success}", flush=True)
            bc.print_steps(steps, top=args.top)
            report_failures(res)
            day_res, day_s, day_cpu, day_peak, day_steps = run_range(assets, checks, resources, instance, nxt, nxt)
            print(f"next day {nxt} after {n} days: {day_s:.1f} s wall, {day_cpu:.1f} s CPU, peak RSS {day_peak:.2f} GiB, "
                  f"success={day_res.success}", flush=True)
            bc.print_steps(day_steps, top=args.top)
            report_failures(day_res)
        rows.append((n, seconds, cpu, day_s, day_cpu, max(peak, day_peak), res.success and day_res.success))
    print(f"\nsummary (wall / CPU seconds; load average now {bc.machine()['load_1_5_15']})")
    print(f"  {'days':>5s}  {'backfill':>15s}  {'per day':>13s}  {'next day':>13s}  {'peak RSS GiB':>12s}  ok")
    for n, s, c, day_s, day_c, peak, ok in rows:
        print(f"  {n:5d}  {s:7.1f} / {c:6.1f}  {s / n:5.2f} / {c / n:5.2f}  {day_s:5.1f} / {day_c:5.1f}  {peak:12.2f}  {ok}")


if __name__ == "__main__":
    sys.exit(main())
