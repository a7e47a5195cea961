"""One daily partition of the whole graph on the ``large`` sample world (~1M users, ~40M log events).

1. Generates the world (in a child process, so its time and peak RSS are its own) unless it is
   already there; prints the time, peak RSS and the size of each part of it.
2. On an empty DuckDB, materializes ``--warm-days`` (default 28) days of history in runs of
   ``--warm-chunk`` days, then ONE report day of every asset and check in
   ``adperf_assets.definitions.defs`` (whatever the graph holds now) in one in-process Dagster run
   in a fresh process; prints the wall and CPU time and peak RSS of every step and of the whole
   day. Targets (2-core machine): whole day < 5 min, peak RSS < 4 GiB.

Run: .venv/bin/python benchmarks/graph_day.py [--dir /tmp/adperf_bench_large] [--day YYYY-MM-DD]
     [--preset large] [--warm-days 28] [--warm-chunk 7] [--regenerate] [--reuse-history]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import bench_common as bc


def materialize_day(base: Path, day: str, warm_days: int, warm_chunk: int) -> None:
    logs = base / "logs"
    d = date.fromisoformat(day)
    for start in range(warm_days, 0, -warm_chunk):  # history first, in runs of at most warm_chunk days
        first = (d - timedelta(days=start)).isoformat()
        last = (d - timedelta(days=max(start - warm_chunk, 0) + 1)).isoformat()
        warm = bc.child_window(first, last, logs)
        bc.print_window(f"history {first}..{last} (one run)", warm, top=3)
    res = bc.child_window(day, day, logs)
    print(f"graph: {res['n_assets']} asset definitions, {res['n_checks']} check definitions")
    bc.print_window(f"day {day}", res)
    print(f"\nsummary: whole day {res['wall']:.1f} s wall, {res['cpu']:.1f} s CPU (target < 300 s), "
          f"peak RSS {res['peak_rss_gib']:.2f} GiB (target < 4); load average now {bc.machine()['load_1_5_15']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_large"))
    ap.add_argument("--preset", default="large")
    ap.add_argument("--day", default=None, help="report day (default: 14 days before the world's last day)")
    ap.add_argument("--warm-days", type=int, default=28, help="materialize this many days before --day first")
    ap.add_argument("--warm-chunk", type=int, default=7, help="days per history run (memory of a range run grows with it)")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--reuse-history", action="store_true",
                    help="keep the DuckDB of an earlier call and rerun the report day only (a re-measurement)")
    args = ap.parse_args()
    base = Path(args.dir).resolve()
    settings, cfg = bc.world_settings(base, args.preset)
    # the partitions and the code location read these at import: same world as the settings
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day),
                       "ADPERF_SAMPLE_PRESET": settings.sample_preset})
    bc.print_machine()
    bc.ensure_world(settings, args.preset, args.regenerate)
    if args.generate_only:
        return
    if not args.reuse_history:
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
    day = args.day or (cfg.end - timedelta(days=14)).isoformat()
    materialize_day(base, day, 0 if args.reuse_history else args.warm_days, args.warm_chunk)


if __name__ == "__main__":
    sys.exit(main())
