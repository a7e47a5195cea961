"""match_sessions on DuckDB and on Spark (local[N]) over the same log files of a sample world.

For windows of 1, 7 and 30 report days ending at ``--last``: both engines' time (Spark's session
start-up printed separately) and whether the two tables are equal. On one machine DuckDB is the
faster engine; Spark is there for logs that outgrow one machine (a cluster master instead of local).

Run: .venv/bin/python benchmarks/log_engines.py [--world /tmp/adperf_bench_large/world]
     [--last 2026-11-13] [--master local[2]] [--windows 1,7,30]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta

import pandas as pd

import bench_common as bc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", default="/tmp/adperf_bench_large/world")
    ap.add_argument("--last", default="2026-11-13")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--windows", default="1,7,30")
    ap.add_argument("--tz", default="Asia/Seoul")
    args = ap.parse_args()

    from adperf_assets.normalize.match_sessions import build_match_sessions
    from adperf_assets.normalize.match_sessions_spark import build_match_sessions_spark
    from adperf_assets.normalize.payments import report_day_bounds
    from adperf_assets.defs.revenue.event_logs import EventLogs
    from adperf_assets.defs.revenue.spark import SparkResource

    bc.print_machine()
    logs = EventLogs(root=f"{args.world}/events")
    t = time.perf_counter()
    spark = SparkResource(master=args.master).get_session()
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark {spark.version} session on {args.master}: {time.perf_counter() - t:.1f} s to start", flush=True)
    last = date.fromisoformat(args.last)
    print(f"  {'days':>4s}  {'files':>5s}  {'sessions':>9s}  {'duckdb s':>8s}  {'spark s':>8s}  equal")
    for n in [int(x) for x in args.windows.split(",")]:
        days = report_day_bounds([(last - timedelta(days=i)).isoformat() for i in range(n - 1, -1, -1)], args.tz)
        files = logs.match_files(days["start_utc"].min().to_pydatetime(), days["end_utc"].max().to_pydatetime())
        t = time.perf_counter()
        duck = build_match_sessions(files, days)
        t_duck = time.perf_counter() - t
        t = time.perf_counter()
        sp = build_match_sessions_spark(spark, files, days)
        t_spark = time.perf_counter() - t
        try:
            pd.testing.assert_frame_equal(duck.sessions, sp.sessions)
            equal = True
        except AssertionError:
            equal = False
        print(f"  {n:4d}  {len(files):5d}  {len(duck.sessions):9d}  {t_duck:8.2f}  {t_spark:8.2f}  {equal}", flush=True)
    spark.stop()


if __name__ == "__main__":
    sys.exit(main())
