"""Run by test_report_currency in a child process (the currency is fixed when the definitions load):
every asset and check over a range of days, then the stored tables' columns and the outbox's texts."""

import json
import sys

import dagster as dg
import duckdb

from adperf_assets.definitions import defs
from adperf_assets.settings import current_settings

first, last = sys.argv[1], sys.argv[2]
with dg.instance_for_test() as instance:
    result = dg.materialize([*defs.assets, *defs.asset_checks], instance=instance, resources=dict(defs.resources),
                            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
                            raise_on_error=False)
settings = current_settings()
with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
    columns = con.execute("select table_name, column_name from information_schema.columns "
                          "where table_schema = 'analytics'").fetchall()
outbox = [p.read_text() for p in sorted((settings.home / "outbox").glob("*.json"))]
print("__RESULT__ " + json.dumps({
    "success": result.success,
    "failed_checks": [c.check_name for c in result.get_asset_check_evaluations()
                      if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR],
    "columns": columns, "outbox": outbox}))
