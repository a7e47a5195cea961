"""The product as a user sees it: the Dagster UI in headless Chromium, on the real graph.

One ``dagster dev`` serves the small sample world (one day of it broken on purpose); the runs
are launched by clicking "Materialize all…" on the Global asset lineage page (fixture
``ui_runs``); the tests then read the results in the UI: the report asset ``roas_report`` (which
must be in the definitions) and the blocked bad day.
"""

import re

import pytest

from adperf_assets_tests.e2e import dagster_ui as ui
from adperf_assets_tests.e2e.conftest import (
    BACKFILL,
    BAD_DAY,
    BROKEN_ASSET,
    BROKEN_CHECK,
    GOOD_DAY,
    REPORT,
    REPORT_COLUMNS,
)

pytestmark = pytest.mark.e2e


def _require_report(infos) -> None:
    assert REPORT in infos, (f"the report asset {REPORT!r} is not in the definitions the UI serves; "
                             f"assets: {sorted(infos)}")


def _days(first: str, last: str) -> set[str]:
    import pandas as pd

    return {d.date().isoformat() for d in pd.date_range(first, last, freq="D")}


def test_one_partition_run_and_three_day_backfill_succeed(dev, page, shots, ui_runs):
    bf, run = ui_runs.backfill, ui_runs.one_partition_run
    assert ui_runs.status[bf] == "COMPLETED_SUCCESS", (
        f"backfill {bf} of {BACKFILL} ended {ui_runs.status[bf]}:\n  {ui_runs.why(bf)}")
    assert ui_runs.status[run] == "SUCCESS", f"run {run} of {GOOD_DAY} ended {ui_runs.status[run]}:\n  {ui_runs.why(run)}"

    page.goto(f"{dev.url}/runs/{run}", wait_until="domcontentloaded")
    page.get_by_text(f"partition: {GOOD_DAY}").first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()
    shots.take(page, "run_one_partition_success")

    page.goto(f"{dev.url}/runs/b/{bf}", wait_until="domcontentloaded")
    page.get_by_text(f"{BACKFILL[0]}...{BACKFILL[1]}").first.wait_for()
    status = ui.labeled_value(page, "Status")
    assert status in ("Succeeded", "Completed"), f"backfill page shows status {status!r}"
    shots.take(page, "backfill_three_days_success")


def test_lineage_shows_every_asset(dev, page, shots, infos, ui_runs):
    ui.open_lineage(page, dev.url)
    # every group expanded, top-to-bottom, without the side navigation: the whole graph in view
    ui.graph_setting(page, "Expand all groups")
    page.wait_for_url(re.compile(r"[?&]expanded="))  # the expanded groups live in the URL
    ui.graph_setting(page, "Change graph to vertical orientation")
    page.get_by_role("button", name="Hide navigation").click()
    page.set_viewport_size({"width": 2000, "height": 1300})
    page.reload(wait_until="domcontentloaded")
    page.get_by_role("button", name="Materialize all…").wait_for()
    missing = []
    for info in infos.values():
        try:
            page.get_by_text(ui.node_label(info.name)).first.wait_for(timeout=10_000)
        except Exception:
            missing.append(info.key)
    for group in {i.group for i in infos.values()}:
        page.get_by_text(group, exact=True).first.wait_for()
    page.wait_for_timeout(1500)  # status badges fill in
    # the graph panel only (right of the asset tree: from the search field's left edge)
    search = page.get_by_text("Search and filter assets").first.bounding_box()
    view = page.viewport_size
    left = max(0, search["x"] - 40) if search else 0
    shots.take(page, "asset_graph", docs_name="asset_graph.png",
                clip={"x": left, "y": 0, "width": view["width"] - left, "height": view["height"]})
    page.set_viewport_size({"width": 1600, "height": 1000})
    assert not missing, f"assets without a node on the lineage page: {missing}"


def test_report_page_shows_the_table(dev, page, shots, infos, ui_runs):
    """The report's page (its ``GOOD_DAY`` partition) shows its metadata table with ads, cost and
    estimated ROAS, and the report's plot."""
    _require_report(infos)
    target, words = REPORT, REPORT_COLUMNS
    name = target.replace("/", "_")
    page.goto(ui.asset_url(dev.url, target, view="partitions", partition=GOOD_DAY), wait_until="domcontentloaded")
    page.get_by_text("Metadata", exact=True).first.wait_for()
    row_count = page.get_by_role("row").filter(has_text=re.compile(r"dagster/(partition_)?row_count"))
    try:
        row_count.first.wait_for()
    except Exception:
        shots.take(page, f"asset_{name}_no_metadata")
        pytest.fail(f"{target} {GOOD_DAY}: no materialization metadata on its page (run {ui_runs.one_partition_run}:"
                    f"\n  {ui_runs.why(ui_runs.one_partition_run)})")
    page.wait_for_timeout(1000)  # markdown and tables settle
    shots.take(page, f"asset_{name}")

    table, headers = ui.find_table(page, words)
    assert table is not None, f"{target}: no metadata table with columns {words}; tables seen: {headers}"
    assert table.get_by_role("row").count() > 1, f"{target}: the table {headers} has no rows"
    shots.take(page, f"asset_{name}_table", docs_name="report.png")
    page.keyboard.press("Escape")

    page.reload(wait_until="domcontentloaded")
    row_count.first.wait_for()
    img = ui.find_image(page)
    assert img is not None, f"{target}: no plot (image) in its metadata"
    shots.take(page, "report_plot", docs_name="report_plot.png")
    page.keyboard.press("Escape")


def test_asset_checks_pass(dev, page, shots, infos, ui_runs):
    """Every check of the report passed on the one-partition run (``GOOD_DAY``), as the checks tab's
    execution history shows."""
    _require_report(infos)
    wanted = {REPORT: infos[REPORT].checks}
    assert wanted and all(wanted.values()), f"no asset checks to look at: {wanted}"
    problems = []
    for key, checks in wanted.items():
        for check in checks:
            execs = [e for e in ui.check_executions(dev, key, check) if e["partition"] == GOOD_DAY]
            ev = execs[0]["evaluation"] if execs else None
            if not execs or execs[0]["status"] != "SUCCEEDED" or not ev or not ev["success"]:
                problems.append(f"{key}.{check} on {GOOD_DAY} (API): {execs[0] if execs else 'never ran'}")
                continue
            row = ui.check_history_row(page, dev.url, key, check, GOOD_DAY)
            if not row.startswith("Passed"):
                problems.append(f"{key}.{check} on {GOOD_DAY} (UI): {row!r}")
        page.goto(ui.asset_url(dev.url, key, view="checks"), wait_until="domcontentloaded")
        page.get_by_text(f"Checks ({len(infos[key].checks)})").wait_for()
        shots.take(page, f"checks_{key.replace('/', '_')}")
    assert not problems, "\n".join(problems)


def test_failing_blocking_check_is_shown_and_blocks_downstream(dev, page, shots, infos, ui_runs):
    """A day whose payments break a blocking check: the check is failed with its message, and
    nothing downstream of the payments snapshot is materialized for that day."""
    assert BROKEN_CHECK in infos[BROKEN_ASSET].blocking_checks, f"{BROKEN_ASSET}.{BROKEN_CHECK} is not a blocking check"
    run = ui_runs.bad_day_run
    # the failed blocking check fails its step, so the run fails (its downstream steps are skipped)
    assert ui_runs.status[run] == "FAILURE", (
        f"run {run} of {BAD_DAY} ended {ui_runs.status[run]}, not FAILURE:\n  {ui_runs.why(run)}")

    execs = [e for e in ui.check_executions(dev, BROKEN_ASSET, BROKEN_CHECK) if e["partition"] == BAD_DAY]
    assert execs and execs[0]["status"] == "FAILED", (
        f"{BROKEN_CHECK} on {BAD_DAY}: {execs[:1]}; the run's problems:\n  {ui_runs.why(run)}")
    message = execs[0]["evaluation"]["description"]
    assert message and "wrong sign" in message, message

    downstream = ui.all_downstream(infos, BROKEN_ASSET)
    assert downstream, f"nothing downstream of {BROKEN_ASSET}"
    published = sorted(k for k in downstream if BAD_DAY in ui.materialized_partitions(dev, k))
    assert not published, f"materialized for {BAD_DAY} although {BROKEN_CHECK} failed: {published}"
    # the other assets of that run did run (the run was not simply broken)
    assert BAD_DAY in ui.materialized_partitions(dev, BROKEN_ASSET)

    # in the UI: the check's execution history lists the failure with its message
    row = ui.check_history_row(page, dev.url, BROKEN_ASSET, BROKEN_CHECK, BAD_DAY)
    assert row.startswith("Failed") and message in row, row
    shots.take(page, "failed_check_history")

    # the run's page: the check's step errored with the failed check, the downstream steps did not run
    page.goto(f"{dev.url}/runs/{run}", wait_until="domcontentloaded")
    page.get_by_text(f"partition: {BAD_DAY}").first.wait_for()
    step = f"{BROKEN_ASSET.replace('/', '__')}_{BROKEN_CHECK}"
    page.get_by_text(re.compile(r"^Errored \(\d+\)$")).wait_for()
    page.get_by_text(step, exact=True).filter(visible=True).first.click()  # filters the log to that step
    page.get_by_text(f"Check {BROKEN_CHECK} failed").filter(visible=True).first.wait_for()
    page.get_by_text("blocking asset check failed").filter(visible=True).first.wait_for()
    page.get_by_text(re.compile(r"^Not executed \([1-9]\d*\)$")).click()  # unfold: the skipped steps
    shots.take(page, "failed_check_run")

    # a downstream asset's page, that day: the run failed and did not materialize it
    child = sorted(downstream & set(infos[BROKEN_ASSET].downstream))[0]
    page.goto(ui.asset_url(dev.url, child, view="partitions", partition=BAD_DAY), wait_until="domcontentloaded")
    page.get_by_text(re.compile(r"^Missing \(\d+\)$")).wait_for()
    page.get_by_text(f"Run {run[:8]} failed, and did not materialize this asset").wait_for()
    shots.take(page, f"blocked_{child.replace('/', '_')}")
