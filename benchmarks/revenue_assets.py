"""Time the revenue assets on the default sample world: one day, then a 28-day re-snapshot window.

Run: .venv/bin/python benchmarks/revenue_assets.py [world_dir] [day]
(world_dir defaults to /tmp/adperf_bench/world, generated there on first use: ~79k users,
2025-06-01..2026-11-27, 40-60 s). Prints rows per day and seconds per asset step (Dagster's
step durations, in-process executor), plus DuckDB's session build alone at two memory limits.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.revenue.assets import behavior_value, match_sessions, payments_snapshot
from adperf_assets.defs.revenue import checks as revenue_checks
from adperf_assets.normalize.match_sessions import build_match_sessions
from adperf_assets.normalize.payments import report_day_bounds
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.event_logs import EventLogs
from adperf_assets.settings import load_settings


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "STEP_SUCCESS":
            out[e.step_key] = e.event_specific_data.duration_ms / 1000.0
    return out


def rows(result: dg.ExecuteInProcessResult, node: str) -> int:
    return int(result.asset_materializations_for_node(node)[0].metadata["dagster/row_count"].value)


def run(res: dict, first: str, last: str, method: str = "pagerank") -> tuple[dg.ExecuteInProcessResult, float]:
    kw = ({"partition_key": first} if first == last else
          {"tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}})
    checks = dg.load_asset_checks_from_modules([revenue_checks])
    t0 = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize([fx_rates, payments_snapshot, match_sessions, behavior_value, *checks],
                                instance=instance, resources=res,
                                run_config=dg.RunConfig(ops={"behavior_value": {"config": {"method": method}}}), **kw)
    return result, time.perf_counter() - t0


def main(world: Path, day: date) -> None:
    home = Path(tempfile.mkdtemp(prefix="adperf-bench-revenue-"))
    s = dataclasses.replace(load_settings(), home=home, world_dir=world)
    res = build_resources(s)
    t0 = time.perf_counter()
    res["world"].root()
    print(f"world {world} ready in {time.perf_counter() - t0:.1f} s; "
          f"{res['world'].manifest()['counts']}")
    first28 = str(day - timedelta(days=27))
    for label, first, last in (("1 day", str(day), str(day)), ("28 days", first28, str(day))):
        for method in ("direct", "pagerank", "shapley"):
            result, wall = run(res, first, last, method)
            steps = step_seconds(result)
            n = 1 if first == last else 28
            print(f"{label:>8} {method:>8}: snapshot rows {rows(result, 'payments_snapshot') / n:7.0f}/day, "
                  f"sessions {rows(result, 'match_sessions') / n:7.0f}/day, "
                  f"behavior rows {rows(result, 'behavior_value') / n:7.0f}/day | "
                  + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(steps.items())) + f" | run {wall:.1f}s")
    logs = EventLogs(root=str(world / "events"))
    b = report_day_bounds([day - timedelta(days=i) for i in range(27, -1, -1)], s.report_timezone)
    files = logs.match_files(b["start_utc"].min().to_pydatetime(), b["end_utc"].max().to_pydatetime())
    size = sum(Path(f).stat().st_size for f in files)
    for limit in ("1GB", "128MB"):
        t0 = time.perf_counter()
        n = len(build_match_sessions(files, b, memory_limit=limit, threads=2).sessions)
        print(f"sessions of 28 days from {len(files)} files ({size / 1e6:.1f} MB) at memory_limit={limit}: "
              f"{n} rows in {time.perf_counter() - t0:.2f} s")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]) if args else Path("/tmp/adperf_bench/world"),
         date.fromisoformat(args[1]) if len(args) > 1 else date(2026, 6, 30))
