"""CPU seconds of chosen steps of one report day on a copy of a backfilled DuckDB: CPU time holds on a
shared machine where wall time does not.

For each asset named in ``--assets``: a fresh copy of ``--from-db``, then ``--repeat`` in-process
runs of that asset alone for ``--day`` (its inputs read from the copy, as the daily run reads
them) with the process's CPU and wall seconds of each run; prints the least of each, and the
load average. ``--first`` makes each run a range run ``--first..--day`` (a single-run backfill).

Run: .venv/bin/python benchmarks/step_cpu.py --from-db /path/adperf.duckdb --world-dir DIR --day 2026-11-23
     --assets user_rfm,user_ltv,budget_actions [--repeat 3] [--profile 30] [--dir /tmp/adperf_bench_steps] [--first YYYY-MM-DD]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

import bench_common as bc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-db", required=True)
    ap.add_argument("--world-dir", required=True)
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_steps"))
    ap.add_argument("--day", required=True)
    ap.add_argument("--first", default=None)
    ap.add_argument("--assets", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile the last repeat and print its N costliest functions (own and cumulative time)")
    args = ap.parse_args()
    home = Path(args.dir).resolve() / "home"
    os.environ.update({"ADPERF_HOME": str(home), "ADPERF_WORLD": str(Path(args.world_dir).resolve())})
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from adperf_assets.settings import load_settings

    bc.print_machine()
    assets, _, resources = bc.graph(load_settings())
    kw = ({"partition_key": args.day} if not args.first else
          {"tags": {ASSET_PARTITION_RANGE_START_TAG: args.first, ASSET_PARTITION_RANGE_END_TAG: args.day}})
    print(f"{'step':24s} {'CPU s (min)':>11s} {'wall s (min)':>12s}  runs  load average after")
    for name in args.assets.split(","):
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        shutil.copyfile(args.from_db, home / "adperf.duckdb")
        cpu, wall = [], []
        # every output of the asset's op (user_ltv writes three tables)
        selection = next(list(a.keys) for a in assets if any(k.to_user_string() == name for k in a.keys))
        for i in range(args.repeat):
            prof = cProfile.Profile() if args.profile and i == args.repeat - 1 else None
            with dg.instance_for_test() as inst:
                t, c = time.perf_counter(), bc.cpu_with_children()
                if prof:
                    prof.enable()
                res = dg.materialize(assets, selection=selection, instance=inst, resources=resources,
                                     run_config=bc.QUIET, raise_on_error=False, **kw)
                if prof:
                    prof.disable()
                wall.append(time.perf_counter() - t)
                cpu.append(bc.cpu_with_children() - c)  # with the forked day workers (fork_map)
            if prof:
                for order in ("tottime", "cumulative"):
                    pstats.Stats(prof).sort_stats(order).print_stats(args.profile)
            if not res.success:
                print(f"  {name}: run failed")
        print(f"{name:24s} {min(cpu):11.2f} {min(wall):12.2f}  {len(cpu):4d}  {bc.machine()['load_1_5_15']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
