"""Child process of the whole-graph table-store tests: materializes a selection of the graph (every
asset and check by default) for report days FIRST..LAST in one run, with the settings of the
environment (``ADPERF_*``: home, world, table store), on a throwaway Dagster instance.

    python -m adperf_assets_tests.scale.graph_step FIRST LAST [--select key,key]
    python -m adperf_assets_tests.scale.graph_step --list-steps    # one line per node, upstream first
"""

import argparse
import sys

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets import defs as defs_package


def graph():
    return (dg.load_assets_from_package_module(defs_package), dg.load_asset_checks_from_package_module(defs_package))


def steps() -> list[list[str]]:
    """The graph's nodes (a multi-asset is one node) as lists of asset keys, upstream first."""
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

    assets, checks = graph()
    order = {k: i for i, k in enumerate(AssetGraph.from_assets([*assets, *checks]).toposorted_asset_keys)}
    nodes = [sorted(a.keys, key=order.get) for a in assets if getattr(a, "keys", None)]
    return [[k.to_user_string() for k in n] for n in sorted(nodes, key=lambda n: order[n[0]])]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("first", nargs="?")
    ap.add_argument("last", nargs="?")
    ap.add_argument("--select", default="")
    ap.add_argument("--list-steps", action="store_true")
    args = ap.parse_args()
    if args.list_steps:
        for node in steps():
            print(",".join(node))
        return 0
    from adperf_assets.defs.resources import build_resources

    assets, checks = graph()
    selection = [dg.AssetKey.from_user_string(k) for k in args.select.split(",")] if args.select else "*"
    job = dg.Definitions(assets=assets, asset_checks=checks, resources=build_resources(),
                         jobs=[dg.define_asset_job("step", selection=dg.AssetSelection.keys(*selection)
                                                   if args.select else "*")]).get_job_def("step")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, tags={
            ASSET_PARTITION_RANGE_START_TAG: args.first, ASSET_PARTITION_RANGE_END_TAG: args.last})
    for ev in result.all_events:
        if ev.is_step_failure:
            print(f"FAILED {ev.step_key}: {ev.event_specific_data.error.message}", file=sys.stderr)
    failed = [c.check_name for c in result.get_asset_check_evaluations()
              if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    if failed:
        print(f"FAILED checks {failed}", file=sys.stderr)
    return 0 if result.success and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
