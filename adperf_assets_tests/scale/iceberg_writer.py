"""Child process of the Iceberg store tests: writes report days of ``toy`` (a daily table of
``--rows`` rows per day) through the Iceberg IO manager.

    python -m adperf_assets_tests.scale.iceberg_writer CATALOG_URI WAREHOUSE FIRST LAST ROWS VALUE
        [--start-at EPOCH] [--die-before-commit]

``--start-at``: sleep until then (writers released together); ``--die-before-commit``: the process
SIGKILLs itself after the data files are written and before the catalog commit (a pod killed
mid-write at the worst moment)."""


import argparse
import os
import signal
import time

import dagster as dg
import numpy as np
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.common.table_store import AdperfIcebergIOManager
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.partitions import window_days


def toy_frame(days: list[pd.Timestamp], rows: int, value: float) -> pd.DataFrame:
    n = len(days) * rows
    return pd.DataFrame({
        "report_date": np.repeat(np.array(days, dtype="datetime64[ns]"), rows),
        "user_id": np.tile(np.arange(rows), len(days)).astype("int64"),
        "network": np.tile(np.array(["facebook", "google_ads", "organic"]), n // 3 + 1)[:n],
        "net_usd": np.full(n, value),
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    for a in ("uri", "warehouse", "first", "last"):
        ap.add_argument(a)
    ap.add_argument("rows", type=int)
    ap.add_argument("value", type=float)
    ap.add_argument("--start-at", type=float, default=0.0)
    ap.add_argument("--die-before-commit", action="store_true")
    args = ap.parse_args()

    @daily_table(group_name="toy", retry_policy=dg.RetryPolicy(max_retries=2))
    def toy(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return toy_frame(window_days(context), args.rows, args.value)

    if args.die_before_commit:
        from pyiceberg.table import Transaction

        def die(self, *a, **k):  # the data files are on disk; the catalog has not moved
            os.kill(os.getpid(), signal.SIGKILL)

        Transaction.commit_transaction = die
    io = AdperfIcebergIOManager(catalog_properties={"type": "sql", "uri": args.uri, "warehouse": args.warehouse})
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    with dg.instance_for_test() as instance:
        result = dg.materialize([toy], resources={"io_manager": io}, instance=instance, tags={
            ASSET_PARTITION_RANGE_START_TAG: args.first, ASSET_PARTITION_RANGE_END_TAG: args.last})
    raise SystemExit(0 if result.success else 1)


if __name__ == "__main__":
    main()
