"""Time the spend assets on the default sample world: one day, then the 28-day trailing re-pull,
with the sample resources and with the REAL clients against the loopback fake APIs.

Run: .venv/bin/python benchmarks/spend_assets.py [world_dir] [day]
(world_dir defaults to /tmp/adperf_bench/world, generated there on first use: 2025-06-01..2026-11-27,
40-60 s). Prints rows per day, seconds per step (Dagster's step durations, in-process executor),
hourly rows pulled, requests and retries. Figures only, no assertions.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import print_machine  # noqa: E402

from adperf_assets.defs.fx.assets import fx_rates  # noqa: E402
from adperf_assets.defs.spend.assets import ad_spend, network_spend_assets  # noqa: E402
from adperf_assets.defs.spend import checks as spend_checks  # noqa: E402
from adperf_assets.defs.resources import build_resources, sample_world  # noqa: E402
from adperf_assets.settings import load_settings  # noqa: E402
from adperf_assets_tests.spend.fake_google_ads import FakeGoogleAds  # noqa: E402
from adperf_assets_tests.spend.fake_graph import FakeGraph  # noqa: E402
from adperf_assets_tests.spend.world_fakes import real_clients, serve_world  # noqa: E402

ASSETS = [fx_rates, *network_spend_assets, ad_spend, *dg.load_asset_checks_from_modules([spend_checks])]


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    return {e.step_key: e.event_specific_data.duration_ms / 1000.0
            for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def md(result: dg.ExecuteInProcessResult, node: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def run(res: dict, first: str, last: str) -> tuple[dg.ExecuteInProcessResult, float]:
    kw = ({"partition_key": first} if first == last else
          {"tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}})
    t0 = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize(ASSETS, instance=instance, resources=res, **kw)
    return result, time.perf_counter() - t0


def report(label: str, result: dg.ExecuteInProcessResult, seconds: float, days: int) -> None:
    rows = md(result, "ad_spend")["dagster/row_count"]
    print(f"\n{label}: {days} day(s), {rows} ad_spend rows ({rows / days:.1f}/day), run {seconds:.1f} s")
    for node in ("raw__facebook_spend", "raw__google_ads_spend", "raw__tiktok_spend", "raw__apple_ads_spend"):
        m = md(result, node)
        print(f"  {node}: {m['hourly_rows']} hourly rows, {m['requests_made']} requests, {m['retries_made']} retries")
    for step, s in sorted(step_seconds(result).items(), key=lambda kv: -kv[1]):
        print(f"  {step:<40} {s:6.2f} s")


def main(world_dir: str = "/tmp/adperf_bench/world", day: str = "2026-03-10") -> None:
    print_machine()
    base = load_settings()
    work = Path(tempfile.mkdtemp(prefix="adperf_spend_bench_"))
    settings = dataclasses.replace(base, home=work / "sample", world_dir=Path(world_dir))
    t0 = time.perf_counter()
    world = sample_world(settings).root()
    print(f"world {world} ready in {time.perf_counter() - t0:.1f} s")
    last = date.fromisoformat(day)
    first = (last - timedelta(days=27)).isoformat()

    res = build_resources(settings)
    report("sample, one day", *run(res, day, day), 1)
    report("sample, 28-day trailing window", *run(res, first, day), 28)

    graph, google = FakeGraph().start(), FakeGoogleAds([], batch_size=1000).start()
    try:
        fb_ids, g_ids = serve_world(graph, google, world, date.fromisoformat(first) - timedelta(days=1), last)
        real = dataclasses.replace(settings, home=work / "real")
        res = {**build_resources(real), **real_clients(graph, google, fb_ids, g_ids, page_limit=500)}
        report("real clients via loopback fakes, one day (sync pages)", *run(res, day, day), 1)
        report("real clients via loopback fakes, 28 days (async report jobs)", *run(res, first, day), 28)
    finally:
        graph.stop()
        google.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
