"""ADPERF_WINDOW_CAP_DAYS (a benchmarking knob) shortens every trailing input window and nothing else;
unset, the product's windows are unchanged."""

import json
import os
import subprocess
import sys

import pytest

from adperf_assets.partitions import capped
from adperf_assets.settings import load_settings

# every input window of the graph, as (asset, input, its first day relative to the partition)
_PROBE = """
import json
import dagster as dg
from adperf_assets.definitions import defs
out = {}
for a in defs.assets or []:
    for key in a.keys:
        for dep in a.get_asset_spec(key).deps:
            m = dep.partition_mapping
            if isinstance(m, dg.TimeWindowPartitionMapping):
                out[f"{key.to_user_string()}<-{dep.asset_key.to_user_string()}"] = m.start_offset
print("__OFFSETS__" + json.dumps(out))
"""


def _offsets(cap: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ADPERF_WINDOW_CAP_DAYS"}
    if cap is not None:
        env["ADPERF_WINDOW_CAP_DAYS"] = cap
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("__OFFSETS__"))
    return json.loads(line[len("__OFFSETS__"):])


def test_capped():
    assert capped(365, 0) == 365
    assert capped(365, 28) == 28
    assert capped(7, 28) == 7


def test_setting(monkeypatch):
    monkeypatch.delenv("ADPERF_WINDOW_CAP_DAYS", raising=False)
    assert load_settings().window_cap_days == 0
    monkeypatch.setenv("ADPERF_WINDOW_CAP_DAYS", "28")
    assert load_settings().window_cap_days == 28
    monkeypatch.setenv("ADPERF_WINDOW_CAP_DAYS", "-1")
    with pytest.raises(ValueError, match="ADPERF_WINDOW_CAP_DAYS"):
        load_settings()


def test_cap_shortens_the_long_windows_only():
    default, cut = _offsets(None), _offsets("28")
    assert default.keys() == cut.keys()
    # the product's windows, unset: the per-user tables read 365 days, the report 400
    assert default["user_rfm<-user_segments"] == -364
    assert default["cohort_activity<-user_segments"] == -364
    assert default["roas_report<-installs"] == -399
    longer = {k for k, v in default.items() if v < -27}
    assert {"user_rfm<-payments_snapshot", "retention_fit<-cohort_activity", "cohort_ltv_backtest<-cohort_activity",
            "ltv_backtest<-btyd_ltv_predictions"} <= longer
    for k, v in default.items():
        # the longer windows end at the cap; those already within it are left as they are
        assert cut[k] == (-27 if k in longer else v), k
