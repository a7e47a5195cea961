"""Cost import: CSV files of networks without an API → ``raw/cost_import_spend`` → ``ad_spend``;
every bad value named by file, row and field; a re-imported file replaces its days; the sample's
trial."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.spend.cost_import import CostImportFolder, SampleCostImport
from adperf_assets.normalize import cost_import as ci
from adperf_assets.normalize.fx import parse_ecb_csv
from adperf_assets.normalize.spend import unify_daily, unified_columns
from adperf_assets_tests.spend.world_fakes import SPEND, SPEND_CHECKS, run, table

HEADER = ",".join(ci.HEADER)
ECB = "Date,USD,JPY,\n2026-03-09,1.0850,160.00,\n2026-03-06,1.0800,160.00,\n"
DAY = "2025-07-10"


def row(day="2026-03-09", network="moloco", ad="m-1", cost="12.50", currency="JPY", **kw) -> str:
    values = {"report_date": day, "network": network, "account_id": "acc-1", "account_name": "Moloco JP",
              "account_timezone": "Asia/Tokyo", "account_currency": currency, "objective": "", "campaign_id": "c-1",
              "campaign_name": "Camp", "ad_group_id": "g-1", "ad_group_name": "", "ad_id": ad, "ad_name": "",
              "impressions": "1000", "clicks": "20", "installs": "3", "cost_local": cost, **kw}
    return ",".join(values[c] for c in ci.HEADER)


def write(folder: Path, name: str, *rows: str, header: str = HEADER, age_s: float = 0.0) -> Path:
    """A cost file; ``age_s`` back-dates its import (modification time) so the order is explicit."""
    p = folder / name
    p.write_text("\n".join([header, *rows]) + "\n")
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


# -- the plain reader ---------------------------------------------------------------------------
def test_files_become_unified_rows_in_the_report_currency(tmp_path):
    write(tmp_path, "moloco_2026-03-09.csv", row(), row(ad="m-2", cost="1000"))
    rows, notes = ci.read_days(tmp_path, date(2026, 3, 9), date(2026, 3, 9))
    assert notes == [] and [r[ci.SOURCE_ROW] for r in rows] == [1, 2]
    out = unify_daily(ci.cost_import_daily(rows), fx=parse_ecb_csv(ECB), report_currency="USD").table
    assert list(out.columns) == unified_columns("USD")
    assert out["network"].tolist() == ["moloco", "moloco"] and out["cost_local"].tolist() == [12.5, 1000.0]
    assert out["cost_usd"].tolist() == [round(12.5 * 1.085 / 160, 2), round(1000 * 1.085 / 160, 2)]
    assert out["impressions"].dtype == "int64" and out["installs"].tolist() == [3.0, 3.0]


@pytest.mark.parametrize("name, lines, message", [
    ("moloco_2026-03-09.csv", [row(cost="1e3")],
     "moloco_2026-03-09.csv, row 1, field 'cost_local': is not a number >= 0 with at most 6 decimals (got '1e3')"),
    ("moloco_2026-03-09.csv", [row(), row(cost="-3")], "moloco_2026-03-09.csv, row 2, field 'cost_local'"),
    ("moloco_2026-03-09.csv", [row(), row(clicks="2.5")], "row 2, field 'clicks': is not a whole number >= 0"),
    ("moloco_2026-03-09.csv", [row(currency="yen")], "row 1, field 'account_currency'"),
    ("moloco_2026-03-09.csv", [row(account_timezone="Mars/Base")], "row 1, field 'account_timezone'"),
    ("moloco_2026-03-09.csv", [row(ad="")], "row 1, field 'ad_id': is empty"),
    ("moloco_2026-03-09.csv", [row(day="2026-03-10")], "row 1, field 'report_date': is outside the file's days"),
    ("moloco_2026-03-09.csv", [row(network="vungle")], "row 1, field 'network': is not the file's network 'moloco'"),
    ("moloco_2026-03-09.csv", [row(), row()], "row 2, field 'ad_id': the ad is already listed for 2026-03-09 (row 1)"),
    ("moloco_2026-03-09.csv", [row() + ",extra"], "row 1: 18 values, the header has 17"),
    ("moloco-2026-03-09.csv", [row()], "moloco-2026-03-09.csv: the name must be <network>_<YYYY-MM-DD>"),
    ("facebook_2026-03-09.csv", [row(network="facebook")], "network 'facebook' is pulled through its API"),
])
def test_a_bad_file_is_named_by_file_row_and_field(tmp_path, name, lines, message):
    write(tmp_path, name, *lines)
    with pytest.raises(ci.CostImportError) as err:
        ci.read_days(tmp_path, date(2026, 3, 9), date(2026, 3, 9), reserved=frozenset({"facebook"}))
    assert message in str(err.value)


def test_a_bad_header_names_the_missing_column(tmp_path):
    write(tmp_path, "moloco_2026-03-09.csv", header=HEADER.replace(",cost_local", ",cost"))
    with pytest.raises(ci.CostImportError, match=r"moloco_2026-03-09.csv: the header must be .*; missing \['cost_local'\];"
                                                 r" unknown \['cost'\]"):
        ci.read_days(tmp_path, date(2026, 3, 9), date(2026, 3, 9))


def test_a_reimported_file_replaces_its_days_and_nothing_else(tmp_path):
    write(tmp_path, "moloco_2026-03-06_2026-03-09.csv", row(day="2026-03-06", cost="5"), row(day="2026-03-09", cost="5"),
          age_s=3600)
    write(tmp_path, "moloco_2026-03-09.csv", row(day="2026-03-09", cost="7"), row(day="2026-03-09", ad="m-9", cost="1"))
    rows, notes = ci.read_days(tmp_path, date(2026, 3, 6), date(2026, 3, 9))
    got = {(r["report_date"], r["ad_id"]): r["cost_local"] for r in rows}
    assert got == {("2026-03-06", "m-1"): "5", ("2026-03-09", "m-1"): "7", ("2026-03-09", "m-9"): "1"}
    assert notes == ["2026-03-09 moloco: moloco_2026-03-09.csv replaces moloco_2026-03-06_2026-03-09.csv"]
    # a broken file whose days are not asked for is not read; asked for, it fails the pull
    write(tmp_path, "vungle_2026-03-10.csv", "not,a,row")
    assert len(ci.read_days(tmp_path, date(2026, 3, 6), date(2026, 3, 9))[0]) == 3
    with pytest.raises(ci.CostImportError, match="vungle_2026-03-10.csv, row 1: 3 values"):
        ci.read_days(tmp_path, date(2026, 3, 10), date(2026, 3, 10))


# -- through the assets --------------------------------------------------------------------------
def test_the_folder_feeds_ad_spend_and_a_reimport_replaces_the_day(fresh_home, tmp_path):
    folder = tmp_path / "costs"
    folder.mkdir()
    write(folder, f"moloco_{DAY}.csv", row(day=DAY, currency="USD"), age_s=60)
    res = {**build_resources(fresh_home), "cost_import": CostImportFolder(directory=str(folder))}
    with dg.instance_for_test() as instance:
        first = run(res, DAY, assets=[*SPEND, *SPEND_CHECKS], instance=instance)
        # the world's networks claim a few installs beyond their clicks: only that warning may flag
        assert all(c.passed for c in first.get_asset_check_evaluations() if c.check_name != "ad_spend_installs_within_clicks")
        moloco = table(fresh_home)[lambda t: t.network == "moloco"]
        assert moloco[["ad_id", "cost_local", "cost_usd"]].values.tolist() == [["m-1", 12.5, 12.5]]
        assert {"facebook", "google_ads", "moloco"} <= set(table(fresh_home)["network"])

        # the network sends the day again, corrected, with a second ad: the day is replaced
        write(folder, f"moloco_{DAY}_{DAY}.csv", row(day=DAY, currency="USD", cost="20"),
              row(day=DAY, currency="USD", ad="m-2", cost="1.25"))
        again = run(res, DAY, instance=instance)
        moloco = table(fresh_home)[lambda t: t.network == "moloco"]
        assert moloco[["ad_id", "cost_local"]].values.tolist() == [["m-1", 20.0], ["m-2", 1.25]]
        md = {e.asset_key.to_user_string(): e.materialization.metadata for e in again.get_asset_materialization_events()}
        assert "replaces" in md["raw/cost_import_spend"]["notes"].value

        # a bad value fails the run naming file, row and field; the stored day stays as it was
        before = table(fresh_home)
        write(folder, f"moloco_{DAY}.csv", row(day=DAY, currency="USD", impressions="many"))
        failed = run(res, DAY, instance=instance, raise_on_error=False)
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert f"moloco_{DAY}.csv, row 1, field 'impressions': is not a whole number >= 0 (got 'many')" in message
    pd.testing.assert_frame_equal(table(fresh_home), before)


def test_the_sample_files_do_not_wait_for_the_world(tmp_path, small_world):
    """The sensor's 60-second tick reads the folder: its first tick on a fresh home must not generate the world."""
    from adperf_assets.defs.common.world import SampleWorld
    from adperf_assets.sample import load_manifest, world_config

    unborn = SampleWorld(path=str(tmp_path / "world"), start="2025-06-01")
    folder = SampleCostImport(directory=str(tmp_path / "cost"), world=unborn).folder()
    assert len(list(folder.glob("*.csv"))) == 3 and not (tmp_path / "world").exists()
    # why the configured start may stand for the generated world's first day
    assert world_config(small_world).start.isoformat() == load_manifest(small_world)["first_day"]


def test_the_sample_is_a_trial_with_a_corrected_day(fresh_home):
    res = build_resources(fresh_home)
    source = res["cost_import"]
    assert isinstance(source, SampleCostImport)
    assert sorted(p.name for p in source.folder().glob("*.csv")) == [
        "applovin_int_2025-06-02_2025-06-08.csv", "applovin_int_2025-06-05.csv", "applovin_int_2025-06-09_2025-06-14.csv"]
    assert source.accounts() == [{"account_id": "al-1", "name": "Matcha AppLovin trial", "currency": "JPY",
                                  "timezone_name": "Asia/Tokyo"}]
    result = run(res, "2025-06-04", "2025-06-05", assets=[*SPEND, *SPEND_CHECKS])
    assert all(c.passed for c in result.get_asset_check_evaluations())
    got = table(fresh_home)[lambda t: t.network == "applovin_int"]
    assert got["report_date"].dt.date.astype(str).tolist() == ["2025-06-04"] * 2 + ["2025-06-05"] * 2
    # trial days 3 and 4; the corrected file replaced the weekly file's 2025-06-05: +5 % on the same delivery
    assert got["impressions"].tolist() == [4700, 5600, 5050, 5950]
    assert got["cost_local"].tolist() == [5170.0, 6720.0, round(5050 * 1.1 * 1.05), round(5950 * 1.2 * 1.05)]
    assert (got["cost_usd"] > 0).all() and set(got["account_currency"]) == {"JPY"}

