"""Money columns say their currency: with ADPERF_REPORT_CURRENCY=EUR every stored money column is
``*_eur`` (none ``*_usd``), and the messages show euros."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from adperf_assets.defs.common.money import stored_name, to_canonical, to_stored
from adperf_assets.report.tables import money

HERE = Path(__file__).resolve().parent


def test_money_names_round_trip():
    frame = pd.DataFrame({"user_id": [1], "net_usd": [2.0], "cost_local": [3.0]})
    stored = to_stored(frame, "EUR")
    assert list(stored.columns) == ["user_id", "net_eur", "cost_local"]
    assert list(to_canonical(stored, "EUR").columns) == list(frame.columns)
    assert to_stored(frame, "USD") is frame and stored_name("ltv_30d_usd", "KRW") == "ltv_30d_krw"
    assert (money(1234.5), money(1234.5, 2, "EUR"), money(7, 0, "CHF")) == ("$1,234", "€1,234.50", "7 CHF")


def test_an_eur_deployment_stores_and_shows_euros(small_settings, tmp_path):
    env = {**os.environ, "ADPERF_REPORT_CURRENCY": "EUR", "ADPERF_HOME": str(tmp_path / "home"),
           "ADPERF_WORLD": str(small_settings.world_path), "ADPERF_SAMPLE_DAYS": str(small_settings.sample_days),
           "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(small_settings.sample_installs_per_day),
           "DAGSTER_HOME": str(tmp_path / "dagster")}
    proc = subprocess.run([sys.executable, str(HERE / "currency_run.py"), "2025-06-01", "2025-06-05"], env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("__RESULT__ ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    got = json.loads(lines[-1][len("__RESULT__ "):])
    assert got["success"] and got["failed_checks"] == []
    columns = {(t, c) for t, c in got["columns"]}
    assert [tc for tc in columns if tc[1].endswith("_usd")] == []
    assert {("ad_spend", "cost_eur"), ("payments_snapshot", "net_eur"), ("behavior_value", "credited_eur"),
            ("cohort_ltv", "ltv_per_user_eur"), ("ltv_estimates", "ltv_per_user_eur"),
            ("roas_report", "cost_to_date_eur"), ("roas_report", "estimated_return_eur")} <= columns
    report = [m for m in got["outbox"] if "ROAS report" in m]
    assert report and all("€" in m and "$" not in m for m in report)
