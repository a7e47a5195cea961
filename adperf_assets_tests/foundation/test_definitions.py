"""The one Definitions object loads, and `dagster definitions validate` accepts the workspace."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

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
