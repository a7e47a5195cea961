"""Fixtures of the end-to-end UI test: a ``dagster dev`` on the session's small world (with one bad
day), headless Chromium driven by Playwright, and the runs launched by clicking in the UI.

Screenshots go to ``test-output/e2e/`` (or ``$ADPERF_E2E_OUTPUT``); with
``ADPERF_UPDATE_SCREENSHOTS=1`` the graph and report pictures are also copied to ``docs/img/``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adperf_assets.sample import layout
from adperf_assets_tests.conftest import SMALL
from adperf_assets_tests.e2e import dagster_ui as ui

REPO = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("ADPERF_E2E_OUTPUT") or REPO / "test-output" / "e2e")
DOCS_IMG = REPO / "docs" / "img"

#: Days of the small world (2025-06-01 .. 2025-08-14; the last daily partition is 2025-08-13).
END_DATE = "2025-08-14"
#: Written before the UI starts (one in-process run into the same instance and DuckDB), so the
#: report's trailing windows have history: fitted retention, LTV estimates with intervals.
HISTORY = ("2025-06-01", "2025-08-07")
BACKFILL = ("2025-08-08", "2025-08-10")  # "Materialize all" of three partitions: a backfill, run first
GOOD_DAY = "2025-08-11"  # "Materialize all" of one partition, the day after (its trailing windows see the backfill)
#: One purchase of this day gets a negative amount: a blocking payments check fails. It is the last
#: day run, so no other day's trailing window (LTV fits, report) reads its blocked downstream.
BAD_DAY = "2025-08-13"

REPORT = "roas_report"
#: The report's per-ad table (in its summary) must show ads, cost and estimated ROAS (header words,
#: case-insensitive; "days" and "est. roas" are in no other table of the page).
REPORT_COLUMNS = ("ad", "days", "cost", "est. roas")

BROKEN_ASSET = "payments_snapshot"
BROKEN_CHECK = "payments_amount_signs"

RUN_TIMEOUT_S = float(os.environ.get("ADPERF_E2E_RUN_TIMEOUT_S", "1500"))
UI_TIMEOUT_MS = float(os.environ.get("ADPERF_E2E_UI_TIMEOUT_MS", "60000"))


def _need_browser():
    """Playwright and Debian's Chromium; missing -> skip locally, fail in CI (``.ci/run`` installs them)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright for Python is not installed (pip install -e '.[e2e]')"
    if problem is None and not ui.CHROMIUM.exists():
        problem = f"{ui.CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def break_one_purchase(world: Path, day: str, report_tz: str) -> int:
    """Give one purchase made on report day ``day`` a negative amount; returns its payment id."""
    tz = ZoneInfo(report_tz)
    start = datetime.combine(date.fromisoformat(day), dtime(), tz).astimezone(ZoneInfo("UTC"))
    end = start + timedelta(days=1)
    fmt = "%Y-%m-%d %H:%M:%S"
    con = sqlite3.connect(layout.app_db(world))
    try:
        row = con.execute(
            "SELECT id FROM payments WHERE kind = 'purchase' AND amount > 0 AND created_at >= ? AND created_at < ? "
            "ORDER BY created_at LIMIT 1 OFFSET 1", (start.strftime(fmt), end.strftime(fmt))).fetchone()
        assert row, f"no purchase on {day} in {world} to break"
        con.execute("UPDATE payments SET amount = -amount WHERE id = ?", (row[0],))
        con.commit()
    finally:
        con.close()
    return int(row[0])


_HISTORY_RUN = """
import sys
import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from adperf_assets.definitions import defs
from adperf_assets.defs.resources import build_resources
from adperf_assets.settings import load_settings

with dg.DagsterInstance.get() as instance:
    result = dg.materialize([*defs.assets, *defs.asset_checks], instance=instance, resources=build_resources(load_settings()),
                            tags={ASSET_PARTITION_RANGE_START_TAG: sys.argv[1], ASSET_PARTITION_RANGE_END_TAG: sys.argv[2]},
                            raise_on_error=False)
failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
sys.exit(f"history run {result.run_id} failed: {failed}" if failed or not result.success else 0)
"""


def materialize_history(dagster_home: Path, env: dict[str, str], first: str, last: str) -> None:
    """Every asset and check over days [first, last] in one run of a child process with the dev
    server's environment, recorded in its instance (the UI shows those days materialized)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(ui.DAGSTER_YAML)
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home)}
    proc = subprocess.run([sys.executable, "-c", _HISTORY_RUN, first, last], cwd=REPO, env=full_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"history {first}..{last} before the UI: exit {proc.returncode}\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="module")
def shots() -> ui.Shots:
    folder = OUTPUT
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    docs = DOCS_IMG if os.environ.get("ADPERF_UPDATE_SCREENSHOTS") == "1" else None
    return ui.Shots(folder, docs)


@pytest.fixture(scope="module")
def e2e_world(small_settings, tmp_path_factory) -> Path:
    """A copy of the session's small world whose ``BAD_DAY`` has one negative purchase."""
    world = tmp_path_factory.mktemp("e2e") / "world"
    shutil.copytree(small_settings.world_path, world)
    break_one_purchase(world, BAD_DAY, small_settings.report_timezone)
    return world


@pytest.fixture(scope="module")
def dev(e2e_world, small_settings, tmp_path_factory):
    _need_browser()
    work = tmp_path_factory.mktemp("e2e_dagster")
    env = {
        "ADPERF_HOME": str(work / "adperf_home"),
        "ADPERF_WORLD": str(e2e_world),
        "ADPERF_SAMPLE_DAYS": str(SMALL["days"]),
        "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(SMALL["installs_per_day"]),
        "ADPERF_SAMPLE_SEED": str(small_settings.sample_seed),
        "ADPERF_START_DATE": small_settings.start_date.isoformat(),
        "ADPERF_END_DATE": END_DATE,
        "ADPERF_REAL_SOURCES": "",
        # steps in the run process: on a 2-core machine a process per step costs ~10-25 s each
        "ADPERF_EXECUTOR": os.environ.get("ADPERF_E2E_EXECUTOR", "in_process"),
    }
    t0 = time.monotonic()
    materialize_history(work / "dagster_home", env, *HISTORY)
    print(f"\ne2e: history {HISTORY[0]}..{HISTORY[1]} materialized in {time.monotonic() - t0:.0f}s")
    t0 = time.monotonic()
    server = ui.start_dagster_dev(REPO, work, env)
    print(f"\ne2e: dagster dev ready at {server.url} in {time.monotonic() - t0:.0f}s (log {server.log_path})")
    # the "join the community" pop-up would cover the page: mark it seen, as clicking "Skip" does
    server.graphql("mutation { setNuxSeen }")
    stopped = ui.stop_automations(server)
    if stopped:
        print(f"e2e: stopped {', '.join(stopped)} (only the runs the test launches happen)")
    try:
        yield server
    finally:
        server.stop()
        if OUTPUT.exists():
            shutil.copyfile(server.log_path, OUTPUT / "dagster_dev.log")


@pytest.fixture(scope="module")
def infos(dev) -> dict[str, ui.AssetInfo]:
    return ui.asset_infos(dev)


@pytest.fixture(scope="module")
def page(dev):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ui.CHROMIUM), args=ui.CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


@dataclass
class UiRuns:
    """What the UI launched and how it ended."""

    one_partition_run: str = ""
    backfill: str = ""
    bad_day_run: str = ""
    status: dict[str, str] = field(default_factory=dict)  # id -> final status
    seconds: dict[str, float] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # run id -> why it failed

    def why(self, ident: str) -> str:
        return "\n  ".join(self.problems.get(ident) or ["(no failed step or check)"])


@pytest.fixture(scope="module")
def ui_runs(dev, page, shots) -> UiRuns:
    """Launch, by clicking in the UI, a backfill of ``BACKFILL``, then one run of ``GOOD_DAY``, then one
    of ``BAD_DAY``, each waited for in turn (the instance runs one at a time anyway)."""
    out = UiRuns()

    t0 = time.monotonic()
    href = ui.launch_materialize_all(page, dev.url, f"[{BACKFILL[0]}...{BACKFILL[1]}]", "Launch backfill", shots,
                                     "launch_backfill", UI_TIMEOUT_MS)
    assert href.startswith("/runs/b/"), href
    out.backfill = href.rsplit("/", 1)[-1]
    backfill = ui.wait_backfill(dev, out.backfill, RUN_TIMEOUT_S)
    out.status[out.backfill] = backfill["status"]
    out.problems[out.backfill] = [p for r in backfill["runs"] for p in ui.run_problems(dev, r["runId"])]
    out.seconds[out.backfill] = time.monotonic() - t0

    for day, attr in ((GOOD_DAY, "one_partition_run"), (BAD_DAY, "bad_day_run")):
        t0 = time.monotonic()
        href = ui.launch_materialize_all(page, dev.url, day, "Launch 1 run", shots, f"launch_{day}", UI_TIMEOUT_MS)
        assert href.startswith("/runs/"), href
        run_id = href.rsplit("/", 1)[-1]
        setattr(out, attr, run_id)
        out.status[run_id] = ui.wait_run(dev, run_id, RUN_TIMEOUT_S)["status"]
        out.problems[run_id] = ui.run_problems(dev, run_id)
        out.seconds[run_id] = time.monotonic() - t0
    print("\ne2e: launched and waited: " + ", ".join(f"{k} {out.status[k]} in {v:.0f}s" for k, v in out.seconds.items()))
    return out
