"""The next day of the whole graph at steady state: every step's cost on a copy of a backfilled DuckDB.

Copies ``--from-db`` (a DuckDB that a backfill of ``--preset``'s world filled, e.g. 540 days by
``benchmarks/backfill.py --days 540``) to ``--dir``/home, so the original is never touched, then
materializes report days ``--day``..``--last`` (default: one day) of every asset and check in one
run in a child process, and prints the wall and CPU time and peak RSS of the run and of every step,
with the load average (the machine may be shared: the figures are only as quiet as it is).
``--repeat`` re-copies the database and measures again (the next day from the same state).
``--lanes 2`` runs the days as ``backfill.py --lanes 2`` splits a window: the upstream lane's assets,
then the downstream lane's, each in its own child process with its own figures.

Run: .venv/bin/python benchmarks/steady_day.py --from-db /path/adperf.duckdb --day 2026-11-23
     [--dir /tmp/adperf_bench_steady] [--preset default] [--world-dir DIR] [--last YYYY-MM-DD] [--repeat 1] [--lanes 2]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import bench_common as bc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-db", required=True, help="backfilled DuckDB to start from (copied, never modified)")
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_steady"))
    ap.add_argument("--world-dir", default=None, help="the sample world (default: --dir/world, generated if missing)")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--day", required=True)
    ap.add_argument("--last", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--lanes", type=int, choices=(1, 2), default=1)
    args = ap.parse_args()
    base = Path(args.dir).resolve()
    settings, cfg = bc.world_settings(base, args.preset)
    if args.world_dir:
        import dataclasses

        settings = dataclasses.replace(settings, world_dir=Path(args.world_dir).resolve())
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day),
                       "ADPERF_SAMPLE_PRESET": settings.sample_preset})
    bc.print_machine()
    bc.ensure_world(settings, args.preset, regenerate=False)
    last = args.last or args.day
    for k in range(args.repeat):
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
        shutil.copyfile(args.from_db, settings.duckdb_path)
        load_before = bc.machine()["load_1_5_15"]
        if args.lanes == 1:
            lanes = [("", None)]
        else:
            from backfill import lane_split

            lanes = list(zip((" upstream lane", " downstream lane"), lane_split()))
        for name, selection in lanes:
            res = bc.child_window(args.day, last, base / "logs", selection, tag=name.strip().replace(" ", "_"))
            bc.print_window(f"[{k + 1}/{args.repeat}] days {args.day}..{last}{name} from {args.from_db} "
                            f"(load average before {load_before}, after {bc.machine()['load_1_5_15']})", res)


if __name__ == "__main__":
    sys.exit(main())
