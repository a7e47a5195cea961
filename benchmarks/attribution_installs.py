"""Time the installs computation on a sample world: one report day (with the 30-day look-back) and
a single-run backfill of every day, for both exports, through the sample resources (no Dagster run).

Run: .venv/bin/python benchmarks/attribution_installs.py [world_dir] [installs_per_day]
The world is generated into ``world_dir`` (default /tmp/adperf_bench_world, 545 days) if absent.
Prints seconds and row counts (no assertions; figures only).
"""

from __future__ import annotations

import sys
import time

import pandas as pd

from adperf_assets.normalize.attribution import APP_USER_COLUMNS, attribute_installs, parse_rows
from adperf_assets.defs.revenue.app_db import SampleAppDatabase
from adperf_assets.defs.attribution.mmp import SampleAdjust, SampleAppsFlyer, app_users
from adperf_assets.defs.common.world import SampleWorld

TZ = "Asia/Seoul"


def installs_for(source, db, start: pd.Timestamp, end: pd.Timestamp, lookback_days: int = 30):
    t0 = time.perf_counter()
    raw = source.raw_installs(start - pd.Timedelta(days=lookback_days), end + pd.Timedelta(hours=1), required=(start, end))
    t1 = time.perf_counter()
    parsed = parse_rows(source.mmp(), raw)
    t2 = time.perf_counter()
    users = app_users(db, ids=parsed.events["user_id"].unique(), created=(start, end))
    t3 = time.perf_counter()
    res = attribute_installs(parsed.events, users[APP_USER_COLUMNS], start, end, TZ, source.mmp())
    t4 = time.perf_counter()
    return res, len(raw), (t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def main(path: str = "/tmp/adperf_bench_world", installs_per_day: int = 150) -> None:
    world = SampleWorld(path=path, installs_per_day=installs_per_day)
    t = time.perf_counter()
    world.root()
    m = world.manifest()
    print(f"world {path}: {m['users']} users, {m['first_day']}..{m['last_day']} (ready in {time.perf_counter() - t:.1f} s)")
    db = SampleAppDatabase(world=world)
    first = pd.Timestamp(m["first_day"], tz=TZ).tz_convert("UTC").tz_localize(None)
    last = (pd.Timestamp(m["last_day"], tz=TZ) + pd.Timedelta(days=1)).tz_convert("UTC").tz_localize(None)
    day = pd.Timestamp("2026-03-02", tz=TZ).tz_convert("UTC").tz_localize(None)
    for source in (SampleAppsFlyer(world=world), SampleAdjust(world=world)):
        for label, (a, b) in (("one day ", (day, day + pd.Timedelta(days=1))), ("all days", (first, last))):
            res, n_raw, (read, parse, db_s, rule) = installs_for(source, db, a, b)
            total = read + parse + db_s + rule
            print(f"{source.mmp():9s} {label}: {n_raw:7d} rows read, {len(res.table):6d} users | read {read:6.2f} s"
                  f"  parse {parse:5.2f} s  app db {db_s:5.2f} s  rules {rule:5.2f} s  total {total:6.2f} s")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or []), *(int(x) for x in sys.argv[2:3]))
