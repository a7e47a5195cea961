"""The one Definitions object loads, and `dagster definitions validate` accepts the workspace."""

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_every_asset_on_the_daily_partitions():
    from adperf_assets.definitions import defs
    from adperf_assets.partitions import daily_partitions

    repo = defs.get_repository_def()
    keys = defs.resolve_all_asset_keys()
    assert keys, "no assets defined"
    for key in keys:
        node = repo.asset_graph.get(key)
        if node.partitions_def is not None:
            assert node.partitions_def == daily_partitions, key


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ADPERF_HOME": str(tmp_path / "adperf")}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def _readme_automation_table() -> dict[str, tuple[str, str]]:
    """name -> (kind, starts) from the README's automation table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- automation-status", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_every_schedule_and_sensor_starts_as_the_readme_says():
    from adperf_assets.definitions import defs

    repo = defs.get_repository_def()  # with the sensors Dagster adds (the automation-condition sensor)
    actual = {s.name: ("schedule", s.default_status.value) for s in repo.schedule_defs}
    actual |= {s.name: ("sensor", s.default_status.value) for s in repo.sensor_defs}
    assert actual == _readme_automation_table()


def test_every_env_setting_is_in_the_readme():
    """Each ADPERF_* variable the settings read is documented in the README."""
    import re

    source = (ROOT / "adperf_assets" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = sorted(set(re.findall(r'"(ADPERF_[A-Z_]+)"', source)))
    assert names, "settings.py reads no ADPERF_* variables?"
    assert [n for n in names if f"`{n}`" not in readme] == []


def test_dg_checks_and_lists_the_definitions(tmp_path):
    """Dagster's project CLI (`dg`) loads the project: `dg check defs` passes and `dg list defs` lists
    exactly the assets, checks, jobs, schedules and sensors of the Definitions."""
    import json

    from adperf_assets.definitions import defs

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ADPERF_HOME": str(tmp_path / "adperf")}
    dg_cli = str(Path(sys.executable).with_name("dg"))
    check = subprocess.run([dg_cli, "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0, listed.stderr
    got = json.loads(listed.stdout)
    assert {a["asset_key"] for a in got["assets"]} == {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {s["name"] for s in got["schedules"]} == {s.name for s in defs.schedules}
    assert {s["name"] for s in got["sensors"]} == {s.name for s in defs.get_repository_def().sensor_defs}
    assert {j["name"] for j in got["jobs"]} >= {j.name for j in defs.jobs}
    assert {c["key"] for c in got["asset_checks"]} == {c.to_user_string() for c in defs.resolve_asset_graph().asset_check_keys}
