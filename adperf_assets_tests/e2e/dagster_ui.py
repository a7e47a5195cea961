"""Drive a real ``dagster dev`` through its UI in Debian's headless Chromium.

Launching is always done by clicking in the UI (as a user does); waiting for runs and backfills
polls the webserver's GraphQL API, every wait bounded and failing with a message that says what
was being waited for and where the server log is.

Selectors use roles and visible text: the UI's CSS class names are generated per build.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

CHROMIUM = Path(os.environ.get("ADPERF_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The instance of the test: no telemetry, no automatic materializations (only what the test
#: clicks runs), one run at a time (the runs share one DuckDB file, which takes one writer).
DAGSTER_YAML = """\
telemetry:
  enabled: false
auto_materialize:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
"""
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class E2EError(AssertionError):
    """Something the end-to-end test waited for did not happen (message says what and where)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class DagsterDev:
    """A running ``dagster dev`` (webserver + daemon) in its own process group."""

    url: str
    proc: subprocess.Popen
    log_path: Path
    dagster_home: Path
    env: dict = field(repr=False, default_factory=dict)

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        r = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                          timeout=timeout)
        r.raise_for_status()
        body = r.json()
        if body.get("errors"):
            raise E2EError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 30) -> None:
        """Ctrl-C the whole group (dev server, webserver, daemon, code servers, runs), then kill."""
        if self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        for sig, wait in ((signal.SIGINT, grace_s), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGINT:  # children may outlive the parent by a moment
                time.sleep(1)
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return


def _dagster_cli() -> list[str]:
    script = Path(sys.executable).with_name("dagster")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dagster"]


def start_dagster_dev(repo: Path, workdir: Path, env: dict[str, str], timeout_s: float = 300) -> DagsterDev:
    """Start ``dagster dev -m adperf_assets.definitions`` on 127.0.0.1 and wait until the code
    location has loaded (a load error fails at once, with Dagster's message)."""
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    port = free_port()
    log_path = workdir / "dagster_dev.log"
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1"}
    cmd = [*_dagster_cli(), "dev", "-m", "adperf_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=repo, env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
            # SIGINT may be ignored when pytest itself runs in the background; dagster dev maps
            # SIGTERM to the SIGINT handler, so both need the default for a clean shutdown.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    dev = DagsterDev(url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path, dagster_home=dagster_home,
                     env=full_env)
    try:
        _wait_loaded(dev, timeout_s)
    except BaseException:
        dev.stop(grace_s=10)
        raise
    return dev


def _wait_loaded(dev: DagsterDev, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } } } }"""
    state = "webserver not answering"
    while time.monotonic() < deadline:
        if not dev.alive():
            raise E2EError(f"dagster dev exited with {dev.proc.returncode}; log {dev.log_path}:\n{log_tail(dev.log_path)}")
        try:
            requests.get(f"{dev.url}/server_info", timeout=5).raise_for_status()
            entries = dev.graphql(query, timeout=10)["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, E2EError, KeyError, TypeError):
            time.sleep(1)
            continue
        state = ", ".join(f"{e['name']}: {e['loadStatus']}" for e in entries) or "no code location yet"
        for e in entries:
            err = e["locationOrLoadError"]
            if e["loadStatus"] == "LOADED" and err and err["__typename"] == "PythonError":
                raise E2EError(f"code location {e['name']} failed to load:\n{err['message']}\n{''.join(err['stack'][-5:])}")
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        time.sleep(1)
    raise E2EError(f"dagster dev at {dev.url} not ready after {timeout_s:.0f}s ({state}); "
                   f"log {dev.log_path}:\n{log_tail(dev.log_path)}")


def stop_automations(dev: DagsterDev) -> list[str]:
    """Stop the sensors and schedules that run by default (the sources' schedules; Dagster's automation
    condition sensor, which runs the report job, starts stopped), so only the runs
    the test launches happen; returns their names."""
    data = dev.graphql("""{ repositoriesOrError { ... on RepositoryConnection { nodes {
        sensors { id name sensorState { status } } schedules { id name scheduleState { status } } } } } }""")
    stopped = []
    for repo in data["repositoriesOrError"]["nodes"]:
        for s in repo["sensors"]:
            if s["sensorState"]["status"] == "RUNNING":
                r = dev.graphql("mutation($id: String) { stopSensor(id: $id) { __typename ... on PythonError { message } } }",
                                {"id": s["id"]})["stopSensor"]
                if r["__typename"] != "StopSensorMutationResult":
                    raise E2EError(f"could not stop sensor {s['name']}: {r}")
                stopped.append(s["name"])
        for s in repo["schedules"]:
            if s["scheduleState"]["status"] == "RUNNING":
                r = dev.graphql("mutation($id: String) { stopRunningSchedule(id: $id) { __typename "
                                "... on PythonError { message } } }", {"id": s["id"]})["stopRunningSchedule"]
                if r["__typename"] != "ScheduleStateResult":
                    raise E2EError(f"could not stop schedule {s['name']}: {r}")
                stopped.append(s["name"])
    return stopped


# -- definitions as the server sees them -----------------------------------------------------------

@dataclass(frozen=True)
class AssetInfo:
    key: str  # "raw/fx_rates"
    group: str
    checks: tuple[str, ...]
    blocking_checks: tuple[str, ...]
    downstream: tuple[str, ...]  # direct children

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def asset_infos(dev: DagsterDev) -> dict[str, AssetInfo]:
    data = dev.graphql("""{ assetNodes { assetKey { path } groupName dependedByKeys { path }
        assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }""")
    out = {}
    for n in data["assetNodes"]:
        checks = n["assetChecksOrError"].get("checks") or []
        key = "/".join(n["assetKey"]["path"])
        out[key] = AssetInfo(key=key, group=n["groupName"], checks=tuple(sorted(c["name"] for c in checks)),
                             blocking_checks=tuple(sorted(c["name"] for c in checks if c["blocking"])),
                             downstream=tuple(sorted("/".join(d["path"]) for d in n["dependedByKeys"])))
    return out


def all_downstream(infos: dict[str, AssetInfo], key: str) -> set[str]:
    seen: set[str] = set()
    todo = list(infos[key].downstream)
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo.extend(infos[k].downstream if k in infos else ())
    return seen


def materialized_partitions(dev: DagsterDev, key: str) -> set[str]:
    data = dev.graphql("""query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) {
        ... on AssetNode { assetPartitionStatuses { __typename
          ... on TimePartitionStatuses { ranges { status startKey endKey } }
          ... on DefaultPartitionStatuses { materializedPartitions } } } } }""",
                       {"k": {"path": key.split("/")}})
    st = data["assetNodeOrError"]["assetPartitionStatuses"]
    if "materializedPartitions" in st:
        return set(st["materializedPartitions"])
    import pandas as pd  # only to expand the ranges of daily keys

    days: set[str] = set()
    for r in st.get("ranges") or []:
        if r["status"] == "MATERIALIZED":
            days |= {d.date().isoformat() for d in pd.date_range(r["startKey"], r["endKey"], freq="D")}
    return days


def check_executions(dev: DagsterDev, key: str, check: str, limit: int = 50) -> list[dict]:
    data = dev.graphql("""query($k: AssetKeyInput!, $c: String!, $n: Int!) {
        assetCheckExecutions(assetKey: $k, checkName: $c, limit: $n) {
          runId status partition evaluation { success severity description } } }""",
                       {"k": {"path": key.split("/")}, "c": check, "n": limit})
    return data["assetCheckExecutions"]


def run_problems(dev: DagsterDev, run_id: str) -> list[str]:
    """Why a run failed, one line each: failed steps (error and its first cause) and failed checks."""
    query = """query($id: ID!, $after: String) { logsForRun(runId: $id, afterCursor: $after, limit: 2000) {
        __typename ... on EventConnection { cursor hasMore events { __typename
          ... on ExecutionStepFailureEvent { stepKey error { message cause { message } } }
          ... on RunFailureEvent { message }
          ... on AssetCheckEvaluationEvent { stepKey evaluation { success checkName description } } } } } }"""
    out, after = [], None
    while True:
        conn = dev.graphql(query, {"id": run_id, "after": after})["logsForRun"]
        if conn["__typename"] != "EventConnection":
            return [f"no logs for run {run_id}: {conn['__typename']}"]
        for e in conn["events"]:
            if e["__typename"] == "ExecutionStepFailureEvent":
                err = e.get("error") or {}
                cause = (err.get("cause") or {}).get("message", "")
                first = (err.get("message") or "").strip().splitlines()[:1]
                out.append(f"step {e['stepKey']} failed: {' '.join(first)}"
                           + (f" | cause: {cause.strip().splitlines()[0]}" if cause.strip() else ""))
            elif e["__typename"] == "AssetCheckEvaluationEvent" and not e["evaluation"]["success"]:
                out.append(f"check {e['evaluation']['checkName']} did not pass: {e['evaluation']['description']}")
        if not conn["hasMore"]:
            return out
        after = conn["cursor"]


# -- waiting ----------------------------------------------------------------------------------------

def wait_run(dev: DagsterDev, run_id: str, timeout_s: float) -> dict:
    """Poll until the run is SUCCESS/FAILURE/CANCELED; returns its status and step stats."""
    query = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status
        stepStats { stepKey status startTime endTime } } } }"""
    deadline = time.monotonic() + timeout_s
    status = "?"
    while time.monotonic() < deadline:
        run = dev.graphql(query, {"id": run_id})["runOrError"]
        status = run.get("status", run["__typename"])
        if status in RUN_DONE:
            return run
        if not dev.alive():
            break
        time.sleep(3)
    raise E2EError(f"run {run_id} still {status} after {timeout_s:.0f}s; dagster dev log {dev.log_path}:\n"
                   f"{log_tail(dev.log_path)}")


def wait_backfill(dev: DagsterDev, backfill_id: str, timeout_s: float) -> dict:
    query = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
        ... on PartitionBackfill { status runs(limit: 50) { runId status } } } }"""
    deadline = time.monotonic() + timeout_s
    status = "?"
    while time.monotonic() < deadline:
        bf = dev.graphql(query, {"id": backfill_id})["partitionBackfillOrError"]
        status = bf.get("status", bf["__typename"])
        if status in BACKFILL_DONE and all(r["status"] in RUN_DONE for r in bf.get("runs") or []):
            return bf
        if not dev.alive():
            break
        time.sleep(3)
    raise E2EError(f"backfill {backfill_id} still {status} after {timeout_s:.0f}s; dagster dev log "
                   f"{dev.log_path}:\n{log_tail(dev.log_path)}")


# -- the UI -----------------------------------------------------------------------------------------

class Shots:
    """Numbered screenshots of the steps in one folder (and copies for the docs on request)."""

    def __init__(self, folder: Path, docs: Path | None = None):
        self.folder, self.docs, self.n = folder, docs, 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, *, docs_name: str | None = None, **kw) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}_{name}.png"
        page.screenshot(path=str(path), **kw)
        if docs_name and self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.docs / docs_name)
        return path


def asset_url(base: str, key: str, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base}/assets/{key}" + (f"?{q}" if q else "")


def node_label(name: str):
    """The graph node's text: long names are shortened in the middle (``btyd_…_predictions``)."""
    return re.compile(rf"^{re.escape(name)}$|^{re.escape(name[:4])}.*\u2026.*{re.escape(name[-4:])}$"
                      rf"|^{re.escape(name[:4])}.*\.\.\..*{re.escape(name[-4:])}$")


def labeled_value(page, label: str, timeout_ms: float = 60_000) -> str:
    """The value shown under a label in a details block (e.g. a backfill's "Status")."""
    block = page.get_by_text(label, exact=True).first.locator("xpath=..")
    block.wait_for(timeout=timeout_ms)
    text = block.inner_text().strip()
    return text[len(label):].strip() if text.startswith(label) else text


def find_table(page, words: tuple[str, ...], timeout_ms: float = 60_000):
    """A table on the page whose column headers contain every word (case-insensitive): inline
    markdown tables first (innermost first), then those behind "[Show Markdown]" (the dialog is
    left open). Returns (table locator, headers) or (None, every table's headers seen)."""
    def matches(headers):
        return all(any(w in h for h in headers) for w in words)

    seen = []
    tables = page.get_by_role("table")
    for i in reversed(range(tables.count())):
        headers = [h.strip().lower() for h in tables.nth(i).get_by_role("columnheader").all_inner_texts()]
        seen.append(headers)
        if matches(headers):
            return tables.nth(i), headers
    buttons = page.get_by_role("row").get_by_text("[Show Markdown]")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=timeout_ms)
        table = dialog.get_by_role("table").first
        try:
            table.wait_for(timeout=2_000)
        except Exception:
            pass
        headers = [h.strip().lower() for h in dialog.get_by_role("columnheader").all_inner_texts()]
        seen.append(headers)
        if headers and matches(headers):
            return table, headers
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=timeout_ms)
    return None, seen


def find_image(page, timeout_ms: float = 60_000):
    """An image that has loaded (natural width > 0) inline in the metadata or behind one of its
    "[Show Markdown]" buttons (the dialog is left open); None if there is none."""
    def loaded(scope):
        for img in scope.locator("img").all():
            if img.evaluate("i => i.complete && i.naturalWidth > 0"):
                return img
        return None

    img = loaded(page)
    if img is not None:
        return img
    buttons = page.get_by_role("row").get_by_text("[Show Markdown]")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=timeout_ms)
        page.wait_for_timeout(500)
        img = loaded(dialog)
        if img is not None:
            return img
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=timeout_ms)
    return None


def open_lineage(page, base: str, timeout_ms: float = 60_000) -> None:
    page.goto(f"{base}/asset-groups", wait_until="domcontentloaded")
    page.get_by_role("button", name="Materialize all…").wait_for(timeout=timeout_ms)


def graph_setting(page, item: str) -> None:
    """The lineage graph's settings menu (the gear by the zoom slider) -> ``item``."""
    page.get_by_role("button", name="settings", exact=True).click()
    page.get_by_role("menuitem", name=item).click()
    page.keyboard.press("Escape")  # the menu stays open after a choice
    page.get_by_role("menuitem", name=item).wait_for(state="detached")


def launch_materialize_all(page, base: str, partitions: str, button: str, shots: Shots, name: str,
                           timeout_ms: float = 60_000) -> str:
    """Global asset lineage -> "Materialize all…" -> type the partition selection -> launch.

    ``partitions`` is the dialog's syntax (``2025-08-10`` or ``[2025-08-11...2025-08-13]``),
    ``button`` the launch button's text ("Launch 1 run" / "Launch backfill"). Returns the link
    of the toast's "View" button (``/runs/<run id>`` or ``/runs/b/<backfill id>``).
    """
    open_lineage(page, base, timeout_ms)
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").wait_for(timeout=timeout_ms)
    field_ = dialog.get_by_placeholder(re.compile(r"^ex: "))
    field_.fill(partitions)
    field_.press("Enter")
    launch = dialog.get_by_role("button", name=button, exact=True)
    try:
        launch.wait_for(timeout=timeout_ms)
    except Exception as exc:
        shots.take(page, f"{name}_dialog_unexpected")
        buttons = dialog.get_by_role("button").all_inner_texts()
        raise E2EError(f"'{button}' not in the Materialize dialog after selecting {partitions}; "
                       f"buttons: {buttons}") from exc
    loading = dialog.get_by_text("Loading pipeline and partition sets")
    try:  # the dialog fills in its partition sets; launching before is allowed but racy
        loading.first.wait_for(state="hidden", timeout=timeout_ms)
    except Exception:
        pass
    shots.take(page, f"{name}_dialog")
    launch.click()
    toast = page.get_by_text(re.compile(r"^(Launched run|Created backfill)\b"))
    toast.first.wait_for(timeout=timeout_ms)
    view = page.get_by_role("link", name="View", exact=True)
    href = view.first.get_attribute("href")
    page.wait_for_timeout(500)  # the toast slides in
    shots.take(page, f"{name}_launched")
    if not href:
        raise E2EError(f"no 'View' link in the launch toast ({toast.first.inner_text()!r})")
    return href


def check_history_row(page, base: str, key: str, check: str, partition: str, timeout_ms: float = 60_000) -> str:
    """Open the check in the asset's Checks tab -> "Execution history"; the text of the latest
    row of ``partition`` (evaluation result, timestamps, partition, description)."""
    page.goto(asset_url(base, key, view="checks", checkDetail=check), wait_until="domcontentloaded")
    page.get_by_role("tab", name="Execution history").click(timeout=timeout_ms)
    page.get_by_role("columnheader", name="Evaluation result").wait_for(timeout=timeout_ms)
    row = page.get_by_role("row").filter(has_text=partition).first
    try:
        row.wait_for(timeout=timeout_ms)
    except Exception as exc:
        rows = page.get_by_role("row").all_inner_texts()[:10]
        raise E2EError(f"{key}.{check}: no execution of {partition} in the execution history; rows: {rows}") from exc
    return row.inner_text()
