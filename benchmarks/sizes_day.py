"""The steady-state (full-window) day of the whole graph at three world sizes: does its cost grow at most
linearly in the day's active users?

A 1M-user world needs a 401-day warm-up before every window of the product is full (hours here), so
this benchmark shortens the windows instead: ``ADPERF_WINDOW_CAP_DAYS=--cap`` (default 28) caps every
trailing input window of the graph (``partitions.trailing``; docs/ltv_btyd.md says which). For each
size N (default 110,000, 330,000, 1,000,000 users; preset ``--preset`` with ``installs_per_day`` =
N / ``--world-days``, ``--world-days`` default cap + 3):

1. generates the world in a child process (time, peak RSS) unless it is already there;
2. on an empty DuckDB, backfills the ``--cap`` warm-up days from the world's first day through the graph
   in child-process runs of at most ``--budget`` expected user-days of per-user rows (the runs' memory
   grows with them; ``ADPERF_PER_USER_RUN_DAYS`` is set to the longest run);
3. materializes the next day (every window now full: its first day has left the per-user window) of
   every asset and check in one run in a fresh child process: wall, CPU, peak RSS, the per-step walls,
   the day's active users (``user_activity`` rows) and the users in the per-user window (``user_rfm``
   rows), with the load average before and after.

Each size's figures are appended to ``--dir``/results.json, so the sizes can be run one at a time
(``--sizes 110000``); the last part prints every measured size and a least-squares fit of the day's CPU
seconds against its active users (slope per 1M users, intercept) and the log-log exponent (<= 1: at
most linear).

Run: .venv/bin/python benchmarks/sizes_day.py [--sizes 110000,330000,1000000] [--cap 28]
     [--dir /tmp/adperf_bench_sizes] [--preset large] [--budget 2500000] [--top 12] [--fit-only] [--reuse]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np

import bench_common as bc


def runs(first, days: int, cap: int, installs_per_day: int, budget: int) -> list[tuple]:
    """Consecutive runs of the warm-up days, each holding at most ``budget`` expected per-user rows
    (a day holds the users installed in its window: min(k + 1, cap) days of installs)."""
    out, start, held = [], 0, 0
    for k in range(days):
        rows = min(k + 1, cap) * installs_per_day
        if k > start and held + rows > budget:
            out.append((first + timedelta(days=start), first + timedelta(days=k - 1)))
            start, held = k, 0
        held += rows
    out.append((first + timedelta(days=start), first + timedelta(days=days - 1)))
    return out


def day_counts(db: Path, day: str) -> dict:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        q = "select count(*) from analytics.{} where report_date = date '{}'"
        return {"active_users": con.execute(q.format("user_activity", day)).fetchone()[0],
                "users_in_window": con.execute(q.format("user_rfm", day)).fetchone()[0]}
    finally:
        con.close()


def measure(size: int, args, base: Path) -> dict:
    settings, cfg = bc.world_settings(base / f"n{size}", args.preset)
    ipd = max(1, round(size / args.world_days))
    settings = dataclasses.replace(settings, sample_days=args.world_days, sample_installs_per_day=ipd)
    plan = runs(settings.start_date, args.cap, args.cap, ipd, args.budget)
    longest = max((b - a).days + 1 for a, b in plan)
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(args.world_days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(ipd),
                       "ADPERF_SAMPLE_PRESET": settings.sample_preset, "ADPERF_WINDOW_CAP_DAYS": str(args.cap),
                       "ADPERF_PER_USER_RUN_DAYS": str(longest)})
    print(f"\n=== {size:,} users: preset {args.preset}, {ipd:,} installs a day over {args.world_days} days, "
          f"windows capped at {args.cap} days ===", flush=True)
    bc.print_machine()
    bc.ensure_world(settings, args.preset, regenerate=False)
    reuse = args.reuse and settings.duckdb_path.exists()
    if not reuse:
        if settings.home.exists():
            shutil.rmtree(settings.home)
        settings.home.mkdir(parents=True)
    logs = base / f"n{size}" / "logs"
    warm_wall = warm_cpu = warm_peak = 0.0
    for a, b in [] if reuse else plan:
        r = bc.child_window(a.isoformat(), b.isoformat(), logs)
        warm_wall, warm_cpu, warm_peak = warm_wall + r["wall"], warm_cpu + r["cpu"], max(warm_peak, r["peak_rss_gib"])
        print(f"  warm-up run {a}..{b}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak RSS "
              f"{r['peak_rss_gib']:.2f} GiB, success={r['success']}" + "".join(f"\n    FAILED {f}" for f in r["failures"]),
              flush=True)
    print("  warm-up: reused (--reuse): the day is measured again on the stored warm-up" if reuse else
          f"  warm-up: {args.cap} days in {len(plan)} runs, {warm_wall:.1f} s wall, {warm_cpu:.1f} s CPU, "
          f"peak RSS {warm_peak:.2f} GiB")
    day = (settings.start_date + timedelta(days=args.cap)).isoformat()
    load_before = bc.machine()["load_1_5_15"]
    res = bc.child_window(day, day, logs)
    load_after = bc.machine()["load_1_5_15"]
    bc.print_window(f"day {day} (load average before {load_before}, after {load_after})", res, top=args.top)
    counts = day_counts(settings.duckdb_path, day)
    steps = sorted(res["steps"], key=lambda s: -s["seconds"])
    row = {"size": size, "installs_per_day": ipd, "world_days": args.world_days, "cap": args.cap, "day": day,
           **counts, "wall": res["wall"], "cpu": res["cpu"], "peak_rss_gib": res["peak_rss_gib"],
           "success": res["success"], "failures": res["failures"], "load_before": load_before, "load_after": load_after,
           "reused": reuse, "warm_runs": 0 if reuse else len(plan), "warm_wall": warm_wall, "warm_cpu": warm_cpu, "warm_peak_rss_gib": warm_peak,
           "steps": {s["step"]: round(s["seconds"], 2) for s in steps}, "machine": bc.machine()}
    print(f"  {counts['active_users']:,} active users, {counts['users_in_window']:,} users in the per-user window")
    return row


def print_fit(rows: list[dict], top: int) -> None:
    rows = sorted(rows, key=lambda r: r["size"])
    print("\nsummary: the next day after the warm-up, every window full (capped)")
    print(f"  {'world users':>11s}  {'active':>9s}  {'in window':>9s}  {'wall s':>7s}  {'CPU s':>7s}  "
          f"{'peak GiB':>8s}  {'CPU s / 1M active':>17s}  load before -> after  ok")
    for r in rows:
        print(f"  {r['size']:11,d}  {r['active_users']:9,d}  {r['users_in_window']:9,d}  {r['wall']:7.1f}  "
              f"{r['cpu']:7.1f}  {r['peak_rss_gib']:8.2f}  {r['cpu'] / r['active_users'] * 1e6:17.1f}  "
              f"{tuple(r['load_before'])} -> {tuple(r['load_after'])}  {r['success']}")
    names = sorted({k for r in rows for k in r["steps"]}, key=lambda k: -rows[-1]["steps"].get(k, 0))[:top]
    print("  step walls (s): " + " | ".join(f"{r['size']:,}" for r in rows))
    for k in names:
        print(f"    {k:28s} " + "  ".join(f"{r['steps'].get(k, float('nan')):6.1f}" for r in rows))
    if len(rows) < 2:
        return
    x = np.array([r["active_users"] for r in rows], float)
    w = np.array([r["users_in_window"] for r in rows], float)
    for name, y in (("CPU", np.array([r["cpu"] for r in rows])), ("wall", np.array([r["wall"] for r in rows]))):
        slope, icpt = np.polyfit(x / 1e6, y, 1)
        expo = np.polyfit(np.log(x), np.log(y), 1)[0]
        slope_w, icpt_w = np.polyfit(w / 1e6, y, 1)
        print(f"  {name}: {slope:.1f} s per 1M active users + {icpt:.1f} s (log-log exponent {expo:.2f}); "
              f"{slope_w:.1f} s per 1M users in the window + {icpt_w:.1f} s; "
              f"x{y[-1] / y[0]:.2f} for x{x[-1] / x[0]:.2f} the active users")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("ADPERF_BENCH_DIR", "/tmp/adperf_bench_sizes"))
    ap.add_argument("--sizes", default="110000,330000,1000000")
    ap.add_argument("--preset", default="large")
    ap.add_argument("--cap", type=int, default=28, help="ADPERF_WINDOW_CAP_DAYS; also the warm-up's days")
    ap.add_argument("--world-days", type=int, default=None, help="days of each world (default: cap + 3)")
    ap.add_argument("--budget", type=int, default=2_500_000, help="expected per-user rows per warm-up run")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--fit-only", action="store_true", help="print the figures of results.json only")
    ap.add_argument("--reuse", action="store_true",
                    help="keep a size's stored warm-up (and world) and measure its day again (replaces its figures)")
    args = ap.parse_args()
    args.world_days = args.world_days or args.cap + 3
    if args.world_days < args.cap + 1:
        ap.error("--world-days must leave a day after the warm-up")
    base = Path(args.dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    store = base / "results.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    if not args.fit_only:
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            row = measure(size, args, base)
            if row["reused"]:  # a repeat: the warm-up figures are the first measurement's
                row.update({k: v for r in rows if r["size"] == size and r["cap"] == args.cap
                            for k, v in r.items() if k.startswith("warm_")})
            rows = [r for r in rows if not (r["size"] == size and r["cap"] == args.cap)] + [row]
            store.write_text(json.dumps(rows, indent=1))
    print_fit([r for r in rows if r["cap"] == args.cap], args.top)


if __name__ == "__main__":
    sys.exit(main())
