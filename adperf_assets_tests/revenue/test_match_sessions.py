"""match_sessions: DuckDB SQL over the raw match logs against a pandas recount of the same events."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adperf_assets.defs.revenue.assets import match_sessions
from adperf_assets.normalize.match_sessions import SESSION_COLUMNS, MatchLogError, build_match_sessions
from adperf_assets.normalize.payments import report_day_bounds
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.event_logs import EventLogs, MissingLogError
from adperf_assets_tests.revenue.runs import materialize, table

DAY = "2025-07-15"
TZ = "Asia/Seoul"


def _matches_dir(world: Path) -> Path:
    return world / "events" / "matches"


def pandas_sessions(files: list[Path], days: list[str], tz: str = TZ) -> pd.DataFrame:
    """The sessions recounted event by event with pandas (the oracle)."""
    ev = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    ev["t"] = ev["event_time"].dt.tz_convert("UTC").dt.tz_localize(None)
    start = ev[ev["event"] == "match_started"].groupby("match_id").agg(
        started_at=("t", "min"), request_id=("request_id", "first"), user_id=("user_id", "first"),
        partner_id=("partner_id", "first"), partner_gender=("partner_gender", "first"), is_paid=("is_paid", "any"))
    end = ev[ev["event"] == "match_ended"].groupby("match_id")["t"].max().rename("ended_at")
    req = ev[ev["event"] == "match_requested"].groupby("request_id")["wanted_gender"].first()
    s = start.join(end, how="inner").reset_index()
    s["wanted_gender"] = s["request_id"].map(req)
    s["report_date"] = (s["started_at"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
                        .dt.normalize())
    s = s[s["report_date"].isin(pd.to_datetime(days))]
    out = pd.DataFrame({
        "report_date": s["report_date"].astype("datetime64[ns]"),
        "session_id": s["match_id"].astype("int64"),
        "user_id": s["user_id"].astype("int64"),
        "partner_id": s["partner_id"].astype("int64"),
        "started_at": s["started_at"].astype("datetime64[ns]"),
        "ended_at": s["ended_at"].astype("datetime64[ns]"),
        "duration_s": (s["ended_at"] - s["started_at"]).dt.total_seconds(),
        "is_wanted": ((s["wanted_gender"] == "any") | (s["wanted_gender"] == s["partner_gender"])).astype(bool),
        "is_paid": s["is_paid"].astype(bool),
    })
    return out.sort_values("session_id", ignore_index=True)


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df[SESSION_COLUMNS].sort_values("session_id", ignore_index=True)


def test_asset_equals_a_pandas_recount_of_the_raw_events(fresh_home):
    result = materialize(build_resources(fresh_home), [match_sessions], DAY)
    got = table(fresh_home, "match_sessions")
    all_files = sorted(_matches_dir(fresh_home.world_path).glob("*.parquet"))
    expected = pandas_sessions(all_files, [DAY])
    assert len(expected) > 150
    pd.testing.assert_frame_equal(_by_id(got), expected)
    md = result.asset_materializations_for_node("match_sessions")[0].metadata
    assert md["dagster/row_count"].value == len(expected)
    assert md["paid_sessions"].value == int(expected["is_paid"].sum()) > 0
    # a Seoul day is UTC 15:00 .. 15:00: exactly the two UTC files of the 14th and 15th
    assert md["files"].value.count(".parquet") == 2


def test_a_window_in_one_query_equals_day_by_day(small_world):
    logs = EventLogs(root=str(small_world / "events"))
    days = ["2025-07-01", "2025-07-02", "2025-07-03"]
    bounds = report_day_bounds(days, TZ)
    start, end = bounds["start_utc"].min().to_pydatetime(), bounds["end_utc"].max().to_pydatetime()
    together = build_match_sessions(logs.match_files(start, end), bounds).sessions
    apart = []
    for d in days:
        b = report_day_bounds([d], TZ)
        apart.append(build_match_sessions(logs.match_files(b["start_utc"][0].to_pydatetime(),
                                                           b["end_utc"][0].to_pydatetime()), b).sessions)
    pd.testing.assert_frame_equal(_by_id(together), _by_id(pd.concat(apart)))
    assert set(together["report_date"].dt.strftime("%Y-%m-%d")) == set(days)


def test_small_memory_limit_and_one_thread_give_the_same_sessions(small_world):
    b = report_day_bounds([DAY], TZ)
    files = EventLogs(root=str(small_world / "events")).match_files(b["start_utc"][0].to_pydatetime(),
                                                                      b["end_utc"][0].to_pydatetime())
    big = build_match_sessions(files, b, memory_limit="1GB", threads=2).sessions
    small = build_match_sessions(files, b, memory_limit="64MB", threads=1).sessions
    pd.testing.assert_frame_equal(_by_id(big), _by_id(small))


def test_file_selection_needs_the_core_days_and_adds_margins_that_exist(small_world, tmp_path):
    logs = EventLogs(root=str(small_world / "events"))
    m = _matches_dir(small_world)
    # Seoul day: two UTC files (the request margin and the session-end margin stay inside them)
    assert logs.match_files(datetime(2025, 7, 14, 15), datetime(2025, 7, 15, 15)) == [
        str(m / "2025-07-14.parquet"), str(m / "2025-07-15.parquet")]
    # a UTC report day: the day itself plus the day before (requests) and after (session ends)
    assert logs.match_files(datetime(2025, 7, 15), datetime(2025, 7, 16)) == [
        str(m / f"2025-07-{d}.parquet") for d in (14, 15, 16)]
    # a missing core day is an error naming it; a missing margin day is not
    root = tmp_path / "events"
    (root / "matches").mkdir(parents=True)
    for d in ("2025-07-15",):
        shutil.copy(m / f"{d}.parquet", root / "matches" / f"{d}.parquet")
    partial = EventLogs(root=str(root))
    assert partial.match_files(datetime(2025, 7, 15), datetime(2025, 7, 16)) == [str(root / "matches" / "2025-07-15.parquet")]
    with pytest.raises(MissingLogError, match="2025-07-14"):
        partial.match_files(datetime(2025, 7, 14, 15), datetime(2025, 7, 15, 15))


def test_a_glob_without_days_reads_everything_and_filters_by_time(small_world):
    b = report_day_bounds([DAY], TZ)
    start, end = b["start_utc"][0].to_pydatetime(), b["end_utc"][0].to_pydatetime()
    per_day = EventLogs(root=str(small_world / "events"))
    globbed = EventLogs(root=str(small_world / "events"), matches="matches/*.parquet")
    files = globbed.match_files(start, end)
    assert len(files) > 70
    pd.testing.assert_frame_equal(_by_id(build_match_sessions(files, b).sessions),
                                  _by_id(build_match_sessions(per_day.match_files(start, end), b).sessions))


def _copy_day(small_world: Path, tmp_path: Path, edit) -> EventLogs:
    """The Seoul day's two UTC files under a new root, the second one edited."""
    root = tmp_path / "events"
    (root / "matches").mkdir(parents=True)
    m = _matches_dir(small_world)
    shutil.copy(m / "2025-07-14.parquet", root / "matches" / "2025-07-14.parquet")
    df = pd.read_parquet(m / "2025-07-15.parquet")
    pq.write_table(pa.Table.from_pandas(edit(df), preserve_index=False), root / "matches" / "2025-07-15.parquet")
    return EventLogs(root=str(root))


def _build(logs: EventLogs):
    b = report_day_bounds([DAY], TZ)
    return build_match_sessions(logs.match_files(b["start_utc"][0].to_pydatetime(), b["end_utc"][0].to_pydatetime()), b)


def test_repeated_events_collapse_into_one_session(small_world, tmp_path):
    clean = _build(_copy_day(small_world, tmp_path / "a", lambda df: df)).sessions
    doubled = _build(_copy_day(small_world, tmp_path / "b", lambda df: pd.concat([df, df.iloc[::3]]))).sessions
    pd.testing.assert_frame_equal(_by_id(doubled), _by_id(clean))


def test_sessions_without_an_end_are_left_out_and_counted(small_world, tmp_path):
    clean = _build(_copy_day(small_world, tmp_path / "a", lambda df: df)).sessions
    drop = set(clean["session_id"].iloc[-5:])  # late in the day: their ends are in the edited file
    build = _build(_copy_day(small_world, tmp_path / "b",
                             lambda df: df[~((df["event"] == "match_ended") & df["match_id"].isin(drop))]))
    assert build.open_sessions == 5
    assert set(clean["session_id"]) - set(build.sessions["session_id"]) == drop


def test_a_self_match_stops_with_the_file_named(small_world, tmp_path):
    def self_match(df):
        i = df.index[df["event"] == "match_started"][0]
        df.loc[i, "partner_id"] = df.loc[i, "user_id"]
        return df

    with pytest.raises(MatchLogError, match=r"2025-07-15\.parquet: user matched with themselves"):
        _build(_copy_day(small_world, tmp_path, self_match))
