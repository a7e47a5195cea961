"""Re-bucketing account-local hours into report-zone days, across DST changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adperf_assets.normalize.timezones import (
    account_day_range_for_report_days,
    account_days_for_report_day,
    hour_start_utc,
    rebucket_to_report_days,
)

LA, SEOUL, BERLIN, CAPE_VERDE = "America/Los_Angeles", "Asia/Seoul", "Europe/Berlin", "Atlantic/Cape_Verde"
SPRING_LA, FALL_LA = date(2026, 3, 8), date(2026, 11, 1)  # US DST changes in 2026
SPRING_EU, FALL_EU = date(2026, 3, 29), date(2026, 10, 25)


def hourly(days: list[date], tz: str, *, skip: set[tuple[date, int]] = frozenset(), cost=lambda d, h: 1000 + h) -> pd.DataFrame:
    """One row per local hour as the APIs send them (no row for the missing spring hour)."""
    rows = [
        {"local_date": d.isoformat(), "local_hour": h, "account_timezone": tz, "cost": cost(d, h), "imps": float(h)}
        for d in days for h in range(24) if (d, h) not in skip
    ]
    return pd.DataFrame(rows)


def oracle_report_day(local_date: str, hour: int, tz: str, report_tz: str, fold: int) -> date:
    """Independent per-row placement with zoneinfo (fold=0: first occurrence of a repeated hour)."""
    start = datetime.fromisoformat(local_date).replace(hour=hour, tzinfo=ZoneInfo(tz), fold=fold)
    return start.astimezone(ZoneInfo(report_tz)).date()


# -- which account days to pull -------------------------------------------------------
def test_seoul_report_day_needs_two_la_days_around_spring_forward():
    # Seoul is 17 h ahead of LA in winter (PST) and 16 h in summer (PDT).
    assert account_days_for_report_day(date(2026, 3, 8), SEOUL, LA) == [date(2026, 3, 7), date(2026, 3, 8)]
    assert account_days_for_report_day(date(2026, 3, 9), SEOUL, LA) == [date(2026, 3, 8), date(2026, 3, 9)]
    assert account_days_for_report_day(date(2026, 11, 2), SEOUL, LA) == [date(2026, 11, 1), date(2026, 11, 2)]


def test_la_report_day_needs_two_seoul_days():
    assert account_days_for_report_day(SPRING_LA, LA, SEOUL) == [date(2026, 3, 8), date(2026, 3, 9)]


def test_same_zone_needs_one_day_and_berlin_utc_needs_two():
    assert account_days_for_report_day(SPRING_EU, BERLIN, BERLIN) == [SPRING_EU]
    assert account_days_for_report_day(date(2026, 6, 1), "UTC", BERLIN) == [date(2026, 6, 1), date(2026, 6, 2)]
    assert account_days_for_report_day(date(2026, 6, 1), SEOUL, BERLIN) == [date(2026, 5, 31), date(2026, 6, 1)]


def test_range_of_report_days():
    assert account_day_range_for_report_days(date(2026, 3, 1), date(2026, 3, 28), SEOUL, LA) == (
        date(2026, 2, 28), date(2026, 3, 28))
    with pytest.raises(ValueError, match="before"):
        account_day_range_for_report_days(date(2026, 3, 2), date(2026, 3, 1), SEOUL, LA)


# -- spring forward ---------------------------------------------------------------------
def test_spring_forward_la_account_seoul_report():
    days = [date(2026, 3, 7), SPRING_LA, date(2026, 3, 9)]
    df = hourly(days, LA, skip={(SPRING_LA, 2)})  # 02:00 does not exist on 8 March in LA
    out = rebucket_to_report_days(df, SEOUL, ["cost", "imps"])

    assert len(out) == len(df)  # nothing repeated, nothing dropped
    assert out["cost"].sum() == df["cost"].sum()
    seoul_8 = out[out["report_date"] == "2026-03-08"]
    # 00:00 KST 8 March = 07:00 PST 7 March; 00:00 KST 9 March = 08:00 PDT 8 March.
    assert len(seoul_8) == 24
    got = sorted(zip(seoul_8["local_date"], seoul_8["local_hour"]))
    assert got == [("2026-03-07", h) for h in range(7, 24)] + [("2026-03-08", h) for h in (0, 1, 3, 4, 5, 6, 7)]
    # LA hour 07 of 8 March is already PDT: 14:00 UTC, 23:00 KST, still 8 March in Seoul.
    row = out[(out["local_date"] == "2026-03-08") & (out["local_hour"] == 7)].iloc[0]
    assert row["hour_start_utc"] == pd.Timestamp("2026-03-08 14:00", tz="UTC")
    # The days pulled for the report day are exactly the ones its hours come from.
    assert set(seoul_8["local_date"]) == {d.isoformat() for d in account_days_for_report_day(date(2026, 3, 8), SEOUL, LA)}


def test_row_for_missing_spring_hour_is_kept_at_the_next_instant():
    df = hourly([SPRING_LA], LA)  # includes a (non-existent) 02:00 row
    out = hour_start_utc(df)
    two, three = out[out["local_hour"] == 2].iloc[0], out[out["local_hour"] == 3].iloc[0]
    assert two["hour_start_utc"] == three["hour_start_utc"] == pd.Timestamp("2026-03-08 10:00", tz="UTC")
    assert rebucket_to_report_days(df, SEOUL, ["cost"])["cost"].sum() == df["cost"].sum()


# -- fall back ------------------------------------------------------------------------------
def test_fall_back_la_account_seoul_report_splits_merged_hour():
    days = [date(2026, 10, 31), FALL_LA, date(2026, 11, 2)]
    df = hourly(days, LA, cost=lambda d, h: 1001 if h == 1 else 1000)  # odd micros in the merged hour
    out = rebucket_to_report_days(df, SEOUL, ["cost", "imps"])

    assert len(out) == len(df) + 1  # the repeated 01:00 is two real hours
    merged = out[(out["local_date"] == "2026-11-01") & (out["local_hour"] == 1)]
    assert list(merged["hour_start_utc"]) == [pd.Timestamp("2026-11-01 08:00", tz="UTC"),
                                              pd.Timestamp("2026-11-01 09:00", tz="UTC")]
    assert list(merged["cost"]) == [501, 500]  # exact integer split, first hour gets the odd unit
    assert list(merged["imps"]) == [0.5, 0.5]
    assert out["cost"].sum() == df["cost"].sum()
    assert out["imps"].sum() == pytest.approx(df["imps"].sum())

    # Seoul 1 November = LA 31 Oct 08:00 PDT .. 1 Nov 07:00 PST: 24 real hours.
    seoul_1 = out[out["report_date"] == "2026-11-01"]
    assert len(seoul_1) == 24
    assert sorted(set(seoul_1["local_date"])) == ["2026-10-31", "2026-11-01"]
    assert seoul_1[seoul_1["local_date"] == "2026-11-01"]["local_hour"].max() == 6
    # LA 07:00 PST on 1 Nov is 15:00 UTC = midnight in Seoul: next report day.
    seven = out[(out["local_date"] == "2026-11-01") & (out["local_hour"] == 7)].iloc[0]
    assert seven["report_date"] == pd.Timestamp("2026-11-02")


def test_fall_back_hour_straddling_report_midnight_is_split_between_days():
    # Berlin 02:00 on 25 Oct happens at 00:00 UTC (CEST) and 01:00 UTC (CET);
    # Cape Verde (UTC-1) puts those instants on 24 Oct 23:00 and 25 Oct 00:00.
    df = hourly([date(2026, 10, 24), FALL_EU, date(2026, 10, 26)], BERLIN, cost=lambda d, h: 10 if (d, h) == (FALL_EU, 2) else 0)
    split = rebucket_to_report_days(df, CAPE_VERDE, ["cost"]).groupby("report_date")["cost"].sum()
    assert split[pd.Timestamp("2026-10-24")] == 5 and split[pd.Timestamp("2026-10-25")] == 5
    first = rebucket_to_report_days(df, CAPE_VERDE, ["cost"], fall_back="first").groupby("report_date")["cost"].sum()
    assert first[pd.Timestamp("2026-10-24")] == 10 and first.get(pd.Timestamp("2026-10-25"), 0) == 0
    second = rebucket_to_report_days(df, CAPE_VERDE, ["cost"], fall_back="second").groupby("report_date")["cost"].sum()
    assert second.get(pd.Timestamp("2026-10-24"), 0) == 0 and second[pd.Timestamp("2026-10-25")] == 10


def test_berlin_spring_and_fall_totals_conserved_against_oracle():
    days = [SPRING_EU - timedelta(days=1), SPRING_EU, FALL_EU - timedelta(days=1), FALL_EU]
    df = hourly(days, BERLIN, skip={(SPRING_EU, 2)}, cost=lambda d, h: 7 * h + d.day)
    out = rebucket_to_report_days(df, "UTC", ["cost"], fall_back="first")
    assert out["cost"].sum() == df["cost"].sum()
    expected = {}
    for r in df.itertuples():
        day = oracle_report_day(r.local_date, r.local_hour, BERLIN, "UTC", fold=0)
        expected[day] = expected.get(day, 0) + r.cost
    got = out.groupby(out["report_date"].dt.date)["cost"].sum().to_dict()
    assert got == expected


# -- property: every report day is covered by exactly the account days named for it ----------
WHOLE_HOUR_ZONES = [LA, SEOUL, BERLIN, CAPE_VERDE, "UTC", "America/New_York", "Australia/Sydney", "Pacific/Auckland"]
# 2026 DST changes of those zones (US, EU, Sydney, Auckland) and the days next to them.
DST_DAYS = [d + timedelta(days=k) for d in (SPRING_LA, FALL_LA, SPRING_EU, FALL_EU, date(2026, 4, 5), date(2026, 10, 4),
                                            date(2026, 9, 27)) for k in (-1, 0, 1)]


@settings(max_examples=60, deadline=None)
@given(
    day=st.one_of(st.sampled_from(DST_DAYS), st.dates(min_value=date(2025, 1, 3), max_value=date(2027, 12, 28))),
    report_tz=st.sampled_from(WHOLE_HOUR_ZONES + ["Asia/Kolkata"]),
    account_tz=st.sampled_from(WHOLE_HOUR_ZONES + ["Asia/Kathmandu"]),
)
def test_report_day_hours_come_from_named_account_days(day, report_tz, account_tz):
    account_days = [day + timedelta(days=k) for k in range(-2, 3)]
    df = hourly(account_days, account_tz, cost=lambda d, h: 1)
    # "split" keeps both instants of a repeated hour, so every real hour is present once.
    out = rebucket_to_report_days(df, report_tz, ["cost"], fall_back="split")
    on_day = out[out["report_date"] == pd.Timestamp(day)]
    named = {d.isoformat() for d in account_days_for_report_day(day, report_tz, account_tz)}
    assert set(on_day["local_date"]) <= named
    start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(report_tz))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(report_tz))
    hours_in_day = (end.astimezone(timezone.utc) - start.astimezone(timezone.utc)) / timedelta(hours=1)
    if hours_in_day == int(hours_in_day) and report_tz != "Asia/Kolkata" and account_tz != "Asia/Kathmandu":
        # Whole-hour offsets: a report day holds exactly its 23/24/25 real hours.
        assert on_day["hour_start_utc"].nunique() == int(hours_in_day)


# -- bad input ----------------------------------------------------------------------------------
def test_bad_hour_is_named():
    df = pd.DataFrame({"local_date": ["2026-01-01", "2026-01-01"], "local_hour": [3, 24], "account_timezone": LA, "cost": [1, 2]})
    with pytest.raises(ValueError, match=r"row 1: field 'local_hour' must be an hour 0-23, got 24"):
        rebucket_to_report_days(df, SEOUL, ["cost"])


def test_bad_date_and_zone_are_named():
    df = pd.DataFrame({"local_date": ["2026-13-01"], "local_hour": [3], "account_timezone": LA, "cost": [1]})
    with pytest.raises(ValueError, match=r"row 0: field 'local_date' is not a date"):
        rebucket_to_report_days(df, SEOUL, ["cost"])
    df = pd.DataFrame({"local_date": ["2026-01-01"], "local_hour": [3], "account_timezone": "Mars/Olympus", "cost": [1]})
    with pytest.raises(ValueError, match=r"unknown time zone 'Mars/Olympus'"):
        rebucket_to_report_days(df, SEOUL, ["cost"])


def test_several_accounts_in_one_frame():
    df = pd.concat([hourly([FALL_LA], LA), hourly([FALL_EU], BERLIN)], ignore_index=True)
    out = rebucket_to_report_days(df, "UTC", ["cost"])
    assert len(out) == 50  # each zone's repeated hour became two rows
    for tz in (LA, BERLIN):
        assert out[out["account_timezone"] == tz]["cost"].sum() == df[df["account_timezone"] == tz]["cost"].sum()
