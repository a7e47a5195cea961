"""One daily partition of the whole graph on the ``large`` sample world (~1M users, ~40M log events).

1. Generates the world (in a child process, so its time and peak RSS are its own) unless it is
   already there; prints the time, peak RSS and the size of each part of it.
2. Materializes one report day of every asset and check in ``adperf_assets.definitions.defs``
   (whatever the graph holds now) in one in-process Dagster run on an empty DuckDB, optionally
   after ``--warm-days`` days of history; prints the wall time and peak RSS of every step and of
   the whole day. Targets (2-core machine): whole day < 5 min, peak RSS < 4 GiB.

Run: .venv/bin/python benchmarks/graph_day.py [--dir /tmp/adperf_bench_large] [--day YYYY-MM-DD]
     [--preset large] [--warm-days N] [--regenerate]
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


def materialize_day(settings, day: str, warm_days: int) -> None:
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    assets, checks, resources = bc.graph(settings)
    print(f"graph: {len(assets)} asset definitions, {len(checks)} check definitions", flush=True)
    with dg.instance_for_test() as instance:
        if warm_days > 0:
            first = (date.fromisoformat(day) - timedelta(days=warm_days)).isoformat()
            last = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
            t = time.perf_counter()
            warm = dg.materialize([*assets, *checks], instance=instance, resources=resources, raise_on_error=False, run_config=bc.QUIET,
                                  tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
            print(f"history {first}..{last}: {time.perf_counter() - t:.1f} s, success={warm.success}", flush=True)
        bc.reset_peak_rss()
        with bc.RssSampler() as sampler:
            t, cpu = time.perf_counter(), bc.cpu_seconds()
            result = dg.materialize([*assets, *checks], partition_key=day, instance=instance, resources=resources,
                                    raise_on_error=False, run_config=bc.QUIET)
            wall, cpu = time.perf_counter() - t, bc.cpu_seconds() - cpu
        steps = bc.step_times(instance, result.run_id, sampler)
    print(f"\nday {day}: {wall:.1f} s wall ({cpu:.1f} s CPU), peak RSS {bc.peak_rss_gib():.2f} GiB, "
          f"{len(steps)} steps, success={result.success}")
    bc.print_steps(steps)
    failed = [s.step for s in steps if s.status != "ok"]
    if failed:
        print(f"failed steps: {', '.join(failed)}")
        for ev in result.all_events:
            if ev.event_type_value == "STEP_FAILURE":
                err = ev.event_specific_data.error
                err = err.cause or err  # the asset's own exception, not Dagster's wrapper
                print(f"--- {ev.step_key}: {err.message.strip()[:600]}")
    print(f"\nsummary: whole day {wall:.1f} s wall, {cpu:.1f} s CPU (target < 300 s), "
          f"peak RSS {bc.peak_rss_gib():.2f} GiB (target < 4); load average now {bc.machine()['load_1_5_15']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_large"))
    ap.add_argument("--preset", default="large")
    ap.add_argument("--day", default=None, help="report day (default: 14 days before the world's last day)")
    ap.add_argument("--warm-days", type=int, default=0, help="materialize this many days before --day first")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    base = Path(args.dir).resolve()
    settings, cfg = bc.world_settings(base, args.preset)
    # the partitions and the code location read these at import: same world as the settings
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day)})
    bc.print_machine()
    bc.ensure_world(settings, args.preset, args.regenerate)
    if args.generate_only:
        return
    if settings.home.exists():
        shutil.rmtree(settings.home)
    settings.home.mkdir(parents=True)
    day = args.day or (cfg.end - timedelta(days=14)).isoformat()
    materialize_day(settings, day, args.warm_days)


if __name__ == "__main__":
    sys.exit(main())
