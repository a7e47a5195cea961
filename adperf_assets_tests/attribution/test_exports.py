"""Export files: UTC day files read by instant, gaps are errors, bad rows name file/row/field."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from adperf_assets.normalize.attribution import AttributionInputError, parse_adjust, parse_appsflyer
from adperf_assets.normalize.devices import emulator_reason, is_emulator
from adperf_assets.defs.attribution.mmp import AdjustCsvExport, appsflyer_times, read_day_files
from adperf_assets_tests.attribution.conftest import af_rows

KST_DAY = (pd.Timestamp("2025-06-10", tz="Asia/Seoul"), pd.Timestamp("2025-06-11", tz="Asia/Seoul"))


def write_days(folder: Path, frames: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for day, df in frames.items():
        df.to_csv(folder / f"{day}.csv", index=False, lineterminator="\n")
    return folder


def hourly(day: str, first_user: int) -> pd.DataFrame:
    return af_rows(24, f"{day} 00:30:00", 3600, first_user=first_user)


def test_a_report_day_reads_both_utc_days_and_filters_by_instant(tmp_path):
    d = write_days(tmp_path / "af", {"2025-06-09": hourly("2025-06-09", 1000), "2025-06-10": hourly("2025-06-10", 2000),
                                     "2025-06-11": hourly("2025-06-11", 3000)})
    got = read_day_files(d, *KST_DAY, appsflyer_times)
    t = pd.to_datetime(got["Install Time"])
    assert len(got) == 24
    assert t.min() == pd.Timestamp("2025-06-09 15:30") and t.max() == pd.Timestamp("2025-06-10 14:30")
    assert got["_source_file"].str.endswith(("2025-06-09.csv", "2025-06-10.csv")).all()
    assert got.loc[got["_source_file"].str.endswith("2025-06-09.csv"), "_source_row"].tolist() == list(range(16, 25))


def test_missing_day_files(tmp_path):
    d = write_days(tmp_path / "af", {"2025-06-05": hourly("2025-06-05", 1), "2025-06-09": hourly("2025-06-09", 100)})
    # a required day is missing -> error naming the file
    with pytest.raises(FileNotFoundError, match=r"2025-06-10\.csv: export file for UTC day 2025-06-10 is missing"):
        read_day_files(d, *KST_DAY, appsflyer_times)
    # look-back before the first file is fine; a gap inside the export's span is not
    required = (pd.Timestamp("2025-06-09 00:00"), pd.Timestamp("2025-06-09 12:00"))
    ok = read_day_files(d, pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-05 12:00"), appsflyer_times,
                        required=(pd.Timestamp("2025-06-05"), pd.Timestamp("2025-06-05 12:00")))
    assert len(ok) == 12
    with pytest.raises(FileNotFoundError, match="a gap between 2025-06-05 and 2025-06-09"):
        read_day_files(d, pd.Timestamp("2025-06-01"), required[1], appsflyer_times, required=required)


def test_unreadable_times_are_kept_for_the_parser_to_name(tmp_path):
    rows = hourly("2025-06-10", 1)
    rows.loc[5, "Install Time"] = "10/06/2025 05:30"
    d = write_days(tmp_path / "af", {"2025-06-10": rows})
    raw = read_day_files(d, pd.Timestamp("2025-06-10"), pd.Timestamp("2025-06-10 03:00"), appsflyer_times)
    assert len(raw) == 4  # 00:30, 01:30, 02:30 and the unreadable one
    with pytest.raises(AttributionInputError) as e:
        parse_appsflyer(raw)
    assert str(e.value).startswith(f"{d / '2025-06-10.csv'}, row 6, field 'Install Time': not a")
    assert "'10/06/2025 05:30'" in str(e.value)


@pytest.mark.parametrize("column, value, problem", [
    ("Customer User ID", "user-17", "customer user id is not an integer"),
    ("Platform", "windows", "platform must be one of"),
    ("Media Source", "", "empty media source"),
    ("Is Reinstall", "maybe", "expected 'true' or 'false'"),
    ("Install Time", "", "not a"),
])
def test_bad_appsflyer_rows_name_file_row_and_field(tmp_path, column, value, problem):
    rows = hourly("2025-06-10", 1)
    rows.loc[7, column] = value
    d = write_days(tmp_path / "af", {"2025-06-10": rows})
    raw = read_day_files(d, pd.Timestamp("2025-06-10"), pd.Timestamp("2025-06-11"), appsflyer_times)
    with pytest.raises(AttributionInputError, match=f"row 8, field '{column}': {problem}") as e:
        parse_appsflyer(raw)
    assert e.value.file.endswith("2025-06-10.csv") and e.value.row == 8 and e.value.field == column


def test_missing_appsflyer_column_is_named():
    raw = hourly("2025-06-10", 1).drop(columns=["Ad ID"])
    with pytest.raises(AttributionInputError, match=r"row header, field 'Ad ID'"):
        parse_appsflyer(raw)


def adjust_file(tmp_path: Path, edit=None) -> AdjustCsvExport:
    t0 = int(pd.Timestamp("2025-06-10 00:10:00").timestamp())
    rows = pd.DataFrame([{
        "activity_kind": "install", "installed_at": str(t0 + 600 * i), "created_at": str(t0 + 600 * i), "adid": "a",
        "idfa": "", "gps_adid": "g", "user_id": str(900 + i), "tracker": "abc", "tracker_name": "x",
        "network_name": "Facebook Installs", "campaign_name": "UA (1)", "adgroup_name": "G (2)",
        "creative_name": f"Ad {i} ({30 + i})", "country": "us", "os_name": "android", "device_type": "phone",
        "app_version": "1"} for i in range(10)])
    if edit:
        edit(rows)
    write_days(tmp_path / "adjust", {"2025-06-10": rows})
    return AdjustCsvExport(directory=str(tmp_path / "adjust"))


@pytest.mark.parametrize("column, value, problem", [
    ("installed_at", "2025-06-10T00:10:00Z", "not unix seconds"),
    ("activity_kind", "session", "not an install activity"),
    ("creative_name", "Ad without id", r"label has no '\(id\)'"),
    ("os_name", "", "platform must be one of"),
    ("user_id", "12.5", "customer user id is not an integer"),
])
def test_bad_adjust_rows_name_file_row_and_field(tmp_path, column, value, problem):
    def edit(rows):
        rows.loc[3, column] = value
    src = adjust_file(tmp_path, edit)
    raw = src.raw_installs(pd.Timestamp("2025-06-10"), pd.Timestamp("2025-06-11"))
    assert len(raw) == 10  # nothing dropped on the way
    with pytest.raises(AttributionInputError, match=f"2025-06-10.csv, row 4, field '{column}': {problem}"):
        parse_adjust(raw)


def test_adjust_export_reads_by_instant(tmp_path):
    src = adjust_file(tmp_path)
    raw = src.raw_installs(pd.Timestamp("2025-06-10 00:30:00"), pd.Timestamp("2025-06-10 01:00:00"))
    assert raw["user_id"].tolist() == ["902", "903", "904"]
    e = parse_adjust(raw).events
    assert e["ad_id"].tolist() == ["32", "33", "34"] and (e["network"] == "facebook").all()
    with pytest.raises(ValueError, match="directory is not set"):
        AdjustCsvExport().raw_installs(pd.Timestamp("2025-06-10"), pd.Timestamp("2025-06-11"))


def test_emulator_rule():
    devices = pd.DataFrame([
        ("Google", "sdk_gphone64_x86_64", True), ("Google", "sdk_gphone_x86", True), ("unknown", "google_sdk", True),
        ("unknown", "Android SDK built for x86", True), ("Genymotion", "Custom Phone", True),
        ("Genymobile", "Custom Tablet - 10.0", True), ("unknown", "vbox86p", True), ("Apple", "x86_64", True),
        ("Apple", "arm64", True), ("unknown", "generic_x86", True), ("xyz", "My Emulator", True),
        ("Google", "Pixel 8", False), ("samsung", "SM-S911B", False), ("Apple", "iPhone15,2", False),
        ("Xiaomi", "Redmi Note 12", False), ("samsung", "SM-G996B_sdk", False), (None, None, False), ("", "", False),
    ], columns=["maker", "model", "emulator"])
    assert is_emulator(devices["maker"], devices["model"]).tolist() == devices["emulator"].tolist()
    assert emulator_reason(pd.Series(["Genymotion"]), pd.Series(["Custom Phone"])).tolist() == ["Genymotion virtual device"]
