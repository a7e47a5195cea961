"""Spend's morning refresh: networks revise recent days, so the last ``spend_trailing_days`` report
days are pulled again in one run and replace the stored days (same rows unless the network changed them)."""

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from adperf_assets.defs.common.schedules import (PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, report_today,
                                                  trailing_refresh_schedule)
from adperf_assets.defs.spend.cost_import import CostImportFolder
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.partitions import daily_partitions
from adperf_assets.settings import current_settings

_settings = current_settings()

spend_refresh_job = dg.define_asset_job(
    "spend_refresh_job",
    selection=dg.AssetSelection.assets(["raw", "fx_rates"], *(n.asset_key for n in NETWORKS), "ad_spend"),
    partitions_def=daily_partitions,
    description="Re-pull spend (and the FX rates it converts with) for a window of report days in one run.",
)

spend_trailing_refresh_schedule = trailing_refresh_schedule(
    "spend", spend_refresh_job, _settings.spend_refresh_cron, _settings.spend_trailing_days, _settings.report_timezone, daily_partitions,
    what="re-pulling spend")


# -- re-imported cost files for days the morning refresh no longer covers -----------------------------
COST_IMPORT_KEY = dg.AssetKey(["raw", "cost_import_spend"])

cost_import_backfill_job = dg.define_asset_job(
    "cost_import_backfill_job",
    # the report's table follows; its Slack messages and the budget actions are for today, not for old days
    selection=dg.AssetSelection.assets(COST_IMPORT_KEY, "ad_spend", "roas_report"),
    partitions_def=daily_partitions,
    description="Re-read cost files for report days older than the morning refresh's window, and what they feed.",
)


def _file_state(folder: Path) -> dict[str, str]:
    """``{file name: "<mtime_ns>:<size>"}`` of the folder's CSV files (what says a file was (re)written)."""
    out = {}
    for p in sorted(folder.glob("*.csv")):
        st = p.stat()
        out[p.name] = f"{st.st_mtime_ns}:{st.st_size}"
    return out


def old_days_to_reimport(changed: list[str], today: date, trailing_days: int,
                         first_partition: date) -> dict[str, tuple[str, str]]:
    """Per changed file, the partition range of its days that are older than the refresh window
    (``[today - trailing_days, today - 1]`` is re-read each morning anyway); files without such days are left out.
    Names that do not parse raise :class:`CostImportError` (the caller reports them)."""
    out = {}
    for name in changed:
        f = cost_files_parse(name)
        last = min(f.last, today - timedelta(days=trailing_days + 1))
        first = max(f.first, first_partition)
        if first <= last:
            out[name] = (first.isoformat(), last.isoformat())
    return out


def cost_files_parse(name: str):
    from adperf_assets.normalize.cost_import import parse_name

    return parse_name(Path(name), order=(0, name))


@dg.sensor(name="cost_import_sensor", job=cost_import_backfill_job,
           minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="A cost file (re)written for report days older than the morning refresh's window: one run"
                       " of those days of raw/cost_import_spend, ad_spend and roas_report.")
def cost_import_sensor(context: dg.SensorEvaluationContext, cost_import: CostImportFolder):
    """Compares the folder with the cursor (file -> mtime:size). The first tick only records the folder:
    files already there are taken as imported (backfill them by hand if not)."""
    from adperf_assets.normalize.cost_import import CostImportError

    try:
        folder = cost_import.folder()
    except Exception as exc:  # noqa: BLE001 (an AdsPullError naming the folder)
        return dg.SkipReason(str(exc))
    state = _file_state(folder)
    if context.cursor is None:
        return dg.SensorResult(skip_reason=f"recorded {len(state)} cost file(s) in {folder}", cursor=json.dumps(state))
    seen = json.loads(context.cursor)
    changed = [n for n, v in state.items() if seen.get(n) != v]
    good, bad = [], []
    for n in changed:
        try:
            cost_files_parse(n)
            good.append(n)
        except CostImportError as exc:
            bad.append(str(exc))
    if bad:
        context.log.warning(f"cost files the import cannot read (the next run will fail on them): {'; '.join(bad)}")
    today = report_today(None, _settings.report_timezone)
    ranges = old_days_to_reimport(good, today, _settings.spend_trailing_days, daily_partitions.start.date())
    requests = [dg.RunRequest(run_key=f"cost_import_{name}_{state[name]}",
                              tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last,
                                    "adperf/trigger": "cost_import_sensor", "adperf/cost_file": name})
                for name, (first, last) in sorted(ranges.items())]
    cursor = json.dumps(state)
    if not requests:
        return dg.SensorResult(skip_reason=f"{len(changed)} changed cost file(s), none older than the"
                                           f" {_settings.spend_trailing_days}-day refresh", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
