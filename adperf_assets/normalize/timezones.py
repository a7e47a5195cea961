"""Re-bucket hourly rows from an account's own time zone into report-time-zone days.

Each account hour goes to the report day containing its start instant; a missing spring-forward hour
is kept, and the merged fall-back hour is split (exactly, for integers) or put on one instant.
The rules, stated once: docs/normalization.md ("Time zones").
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Iterable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

FallBack = Literal["split", "first", "second"]


def zone(name: str) -> ZoneInfo:
    """An IANA zone, or a ValueError naming the bad name."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _plain(value):
    """numpy scalars print as np.int64(24); show the plain value in messages."""
    return value.item() if hasattr(value, "item") else value


def account_days_for_report_day(report_day: date, report_tz: str, account_tz: str) -> list[date]:
    """Account-local days that must be pulled to cover ``report_day`` in ``report_tz``.

    Usually two; one when the zones share midnight; (rarely) three when a 25 h
    report day meets a non-whole-hour offset.
    """
    first, last = account_day_range_for_report_days(report_day, report_day, report_tz, account_tz)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def account_day_range_for_report_days(
    first_report_day: date, last_report_day: date, report_tz: str, account_tz: str
) -> tuple[date, date]:
    """(since, until) account-local days whose hours start inside the report days."""
    if last_report_day < first_report_day:
        raise ValueError(f"last_report_day {last_report_day} is before first_report_day {first_report_day}")
    rz, az = zone(report_tz), zone(account_tz)
    start = datetime.combine(first_report_day, time(0), tzinfo=rz)
    end = datetime.combine(last_report_day + timedelta(days=1), time(0), tzinfo=rz)
    # Hour buckets are placed by their start instant, so the last bucket that
    # belongs here starts strictly before `end`.
    start_local = start.astimezone(az)
    last_local = (end - timedelta(microseconds=1)).astimezone(az)
    return start_local.date(), last_local.date()


def hour_start_utc(
    frame: pd.DataFrame,
    *,
    date_col: str = "local_date",
    hour_col: str = "local_hour",
    tz_col: str = "account_timezone",
) -> pd.DataFrame:
    """Localise (local date, local hour, zone) rows to UTC hour starts.

    Returns ``frame`` with ``hour_start_utc`` added, the fall-back hour listed
    twice (``dst_repeat`` 1 = first/DST instant, 2 = second/standard instant,
    0 = an ordinary hour). Index is reset.
    """
    for col in (date_col, hour_col, tz_col):
        if col not in frame.columns:
            raise ValueError(f"hourly rows have no column {col!r}")
    df = frame.reset_index(drop=True)
    local_day = pd.to_datetime(df[date_col], errors="coerce")
    bad = local_day.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"row {i}: field {date_col!r} is not a date: {_plain(df[date_col].iloc[i])!r}")
    hours = pd.to_numeric(df[hour_col], errors="coerce")
    bad = hours.isna() | (hours % 1 != 0) | (hours < 0) | (hours > 23)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"row {i}: field {hour_col!r} must be an hour 0-23, got {_plain(df[hour_col].iloc[i])!r}")
    naive = local_day.dt.normalize() + pd.to_timedelta(hours.astype("int64"), unit="h")

    utc = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    repeat = pd.Series(0, index=df.index, dtype="int8")
    extra_idx: list[np.ndarray] = []
    extra_utc: list[pd.Series] = []
    for tz_name, idx in df.groupby(tz_col, sort=False).groups.items():
        zone(tz_name)  # a clear error for a bad name
        tz = str(tz_name)  # by name: pandas' vectorised path (a ZoneInfo object localises row by row)
        local = naive.loc[idx]
        loc = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        ambiguous = loc.isna()
        if ambiguous.any():
            amb_local = local[ambiguous]
            n = len(amb_local)
            first = amb_local.dt.tz_localize(tz, ambiguous=np.ones(n, dtype=bool))
            second = amb_local.dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool))
            loc = loc.where(~ambiguous, first)
            repeat.loc[amb_local.index] = 1
            extra_idx.append(amb_local.index.to_numpy())
            extra_utc.append(second.dt.tz_convert("UTC"))
        utc.loc[idx] = loc.dt.tz_convert("UTC")

    out = df.assign(hour_start_utc=utc, dst_repeat=repeat)
    if extra_idx:
        idx = np.concatenate(extra_idx)
        second_rows = df.loc[idx].assign(
            hour_start_utc=pd.concat(extra_utc), dst_repeat=np.int8(2)
        )
        out = pd.concat([out, second_rows]).sort_index(kind="stable").reset_index(drop=True)
    return out


def rebucket_to_report_days(
    frame: pd.DataFrame,
    report_tz: str,
    value_columns: Iterable[str],
    *,
    fall_back: FallBack = "split",
    **columns: str,
) -> pd.DataFrame:
    """Hourly rows (account-local date + hour) → the same rows with ``report_date``.

    Keeps every input column, adds ``hour_start_utc`` (tz-aware UTC) and
    ``report_date`` (datetime64, midnight, naive: the report-zone calendar
    day). The repeated fall-back hour yields two rows under ``"split"``; the
    value columns are split as docs/normalization.md says. Rows are not
    aggregated here — callers group by ``report_date`` and their keys.
    ``columns`` (``date_col``, ``hour_col``, ``tz_col``) name them as in :func:`hour_start_utc`.
    """
    if fall_back not in ("split", "first", "second"):
        raise ValueError(f"fall_back must be 'split', 'first' or 'second', got {fall_back!r}")
    zone(report_tz)
    values = list(value_columns)
    missing = [c for c in values if c not in frame.columns]
    if missing:
        raise ValueError(f"hourly rows have no value column(s) {missing}")
    out = hour_start_utc(frame, **columns)

    repeat = out["dst_repeat"].to_numpy()
    if fall_back == "first":
        out = out[repeat != 2]
    elif fall_back == "second":
        out = out[repeat != 1]
    elif (repeat != 0).any():
        out = out.copy()
        first, second = repeat == 1, repeat == 2
        for col in values:
            v = out[col]
            if pd.api.types.is_integer_dtype(v):
                half_down = v // 2
                out[col] = v.where(~first, v - half_down).where(~second, half_down)
            elif pd.api.types.is_float_dtype(v):
                out[col] = v.where(repeat == 0, v / 2)
            else:
                raise TypeError(f"value column {col!r} must be integer or float to split the fall-back hour, is {v.dtype}")
    out = out.reset_index(drop=True)
    out["report_date"] = out["hour_start_utc"].dt.tz_convert(str(report_tz)).dt.tz_localize(None).dt.normalize()
    return out
