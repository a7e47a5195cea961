"""MMP install exports: AppsFlyer raw installs (Pull API or the sample's CSVs) and Adjust CSV exports.

Every source answers one question, :meth:`MmpInstallsSource.raw_installs`: the vendor's own rows
(its own column names, every value a string) whose install instant lies in a UTC range, plus two
provenance columns (``_source_file``, ``_source_row``) so a bad value can be reported by file
and row. A report-time-zone day (Asia/Seoul 00:00-24:00 is 15:00-15:00 UTC) spans two UTC days,
so the file readers read every UTC day the range touches and filter by instant; rows whose time
cannot be read are kept (the normaliser then names them) — nothing is dropped here.

- :class:`AppsFlyerPullApi`: GET ``{base_url}/api/raw-data/export/app/{app_id}/{report}/v5`` for
  ``installs_report`` and ``organic_installs_report`` of every app id, ``Authorization: Bearer``
  token from ``dg.EnvVar("APPSFLYER_API_TOKEN")``, ``timezone=UTC``. A range longer than
  ``max_days_per_call`` is cut; a response that reaches ``maximum_rows`` (or a 400 saying the row
  limit was hit) is split in halves until each part fits; 429/5xx/timeouts are retried with
  backoff (``Retry-After`` honoured) up to ``max_retries``; anything else — bad token, unknown
  app, the daily quota — is an :class:`AppsFlyerPullError` saying what, for which app, report
  and range (never the token).
- :class:`SampleAppsFlyer`: the world's ``mmp/appsflyer/<report>/<UTC day>.csv``.
- :class:`AdjustCsvExport`: a directory of ``<UTC day>.csv`` files as Adjust's CSV export
  writes them (a real deployment points ``directory`` at the synced export location; that is
  all the real Adjust source needs). :class:`SampleAdjust` is the world's
  ``mmp/adjust/installs``.

Day files: a missing file for a day inside the *required* part of the range is an error (a
partial day is never returned); a missing file in the optional look-back/look-ahead is fine
only outside the span of files the export has (before its first day or after its last one).

App users: :func:`app_users` reads ``users`` through the app database resource
(:class:`adperf_assets.defs.revenue.app_db.AppDatabase`, any SQLAlchemy URL).
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import dagster as dg
import numpy as np
import pandas as pd
import requests
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.dialects import sqlite

from adperf_assets.normalize.attribution import ADJUST, APPSFLYER, SOURCE_FILE, SOURCE_ROW
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets.defs.common.throttle import Governor, NotRetryable, RetriesExhausted, unwrap
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout

APPSFLYER_URL = "https://hq1.appsflyer.com"
APPSFLYER_REPORTS = ("installs_report", "organic_installs_report")
#: Extra raw-data fields asked for (AppsFlyer's ``additional_fields`` names).
APPSFLYER_ADDITIONAL_FIELDS = "store_reinstall,device_model,conversion_type"
APPSFLYER_TIME = "Install Time"
_TS = "%Y-%m-%d %H:%M:%S"


def _utc_naive(t) -> datetime:
    t = pd.Timestamp(t)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.to_pydatetime()


def _utc_days(start: datetime, end: datetime) -> list[date]:
    """UTC calendar days touched by ``[start, end)``."""
    if end <= start:
        return []
    last = (end - timedelta(microseconds=1)).date()
    return [start.date() + timedelta(days=i) for i in range((last - start.date()).days + 1)]


def appsflyer_times(df: pd.DataFrame) -> pd.Series:
    if APPSFLYER_TIME not in df:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    return pd.to_datetime(df[APPSFLYER_TIME].str.strip(), format=_TS, errors="coerce")


def adjust_times(df: pd.DataFrame) -> pd.Series:
    if "installed_at" not in df:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    return pd.to_datetime(pd.to_numeric(df["installed_at"], errors="coerce"), unit="s")


def _in_range(df: pd.DataFrame, times: pd.Series, start: datetime, end: datetime) -> pd.DataFrame:
    """Rows in ``[start, end)``; rows whose time is unreadable are kept for the parser to name."""
    keep = times.isna() | ((times >= start) & (times < end))
    return df[keep.to_numpy()]


def _empty(columns: Iterable[str] = ()) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, SOURCE_FILE]} | {
        SOURCE_ROW: pd.Series(dtype=np.int64)})


def read_day_files(
    directory: Path,
    start: datetime,
    end: datetime,
    times: Callable[[pd.DataFrame], pd.Series],
    required: tuple[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """Rows of ``directory/<UTC day>.csv`` files with install instant in ``[start, end)``.

    ``required`` (default: the whole range) is the part that must be complete: a day file it
    touches must exist. Outside it a missing file is allowed before the first / after the last
    file of the directory (history the export does not have), never in between (a gap).
    """
    start, end = _utc_naive(start), _utc_naive(end)
    req_start, req_end = (start, end) if required is None else (_utc_naive(required[0]), _utc_naive(required[1]))
    req_days = set(_utc_days(max(start, req_start), min(end, req_end)))
    have = sorted(date.fromisoformat(p.stem) for p in directory.glob("*.csv")
                  if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.stem)) if directory.is_dir() else []
    frames = []
    for day in _utc_days(start, end):
        path = directory / f"{day.isoformat()}.csv"
        if not path.exists():
            if day in req_days:
                raise FileNotFoundError(f"{path}: export file for UTC day {day} is missing "
                                        f"(needed for {req_start}..{req_end} UTC; files present: "
                                        f"{have[0] if have else 'none'}..{have[-1] if have else 'none'})")
            if have and have[0] < day < have[-1]:
                raise FileNotFoundError(f"{path}: export file for UTC day {day} is missing "
                                        f"(a gap between {have[0]} and {have[-1]})")
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        df[SOURCE_FILE] = str(path)
        df[SOURCE_ROW] = np.arange(1, len(df) + 1, dtype=np.int64)
        frames.append(_in_range(df, times(df), start, end))
    if not frames:
        return _empty()
    return pd.concat(frames, ignore_index=True)


class MmpInstallsSource(dg.ConfigurableResource):
    """Raw install rows of one MMP for a UTC range (see the module docstring)."""

    def mmp(self) -> str:
        raise NotImplementedError

    def raw_installs(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        """Vendor rows with install instant in ``[start, end)`` (naive UTC or aware datetimes);
        ``required``: the sub-range that must be complete (default: all of it)."""
        raise NotImplementedError


# -- Adjust -------------------------------------------------------------------------------------


class AdjustCsvExport(MmpInstallsSource):
    """Adjust CSV export: ``<directory>/<UTC day>.csv`` with Adjust's placeholder names as columns
    (``activity_kind, installed_at`` (unix seconds), ``user_id, network_name, campaign_name`` ...)."""

    directory: str = Field(default="", description="Folder of the daily Adjust CSV export files (UTC days).")

    def mmp(self) -> str:
        return ADJUST

    def export_dir(self) -> Path:
        if not self.directory:
            raise ValueError("AdjustCsvExport.directory is not set (ADPERF_ADJUST_EXPORT_DIR)")
        return Path(self.directory)

    def raw_installs(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        return read_day_files(self.export_dir(), start, end, adjust_times, required)


class SampleAdjust(AdjustCsvExport):
    """The sample world's Adjust export, ``mmp/adjust/installs/<UTC day>.csv``."""

    world: SampleWorld

    def export_dir(self) -> Path:
        return layout.adjust_installs(self.world.root(), date(2000, 1, 1)).parent


# -- AppsFlyer: sample --------------------------------------------------------------------------


class SampleAppsFlyer(MmpInstallsSource):
    """The sample world's AppsFlyer raw reports, ``mmp/appsflyer/<report>/<UTC day>.csv``."""

    world: SampleWorld
    reports: list[str] = Field(default=list(APPSFLYER_REPORTS))

    def mmp(self) -> str:
        return APPSFLYER

    def raw_installs(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        root = self.world.root()
        frames = [read_day_files(layout.appsflyer_report(root, r, date(2000, 1, 1)).parent, start, end,
                                 appsflyer_times, required) for r in self.reports]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else _empty()


# -- AppsFlyer: Pull API ------------------------------------------------------------------------


class AppsFlyerPullError(RuntimeError):
    """A pull that could not be completed; nothing of it is returned."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _RowLimit(Exception):
    """The range holds more rows than one response may carry: split it."""


class _Fatal(Exception):
    pass


@dataclass
class PullStats:
    requests: int = 0
    retries: int = 0
    splits: int = 0
    chunks: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # app, report, from, to, rows


@dataclass
class AppsFlyerPullClient:
    """Raw installs over HTTP; no Dagster. ``sleep`` is injected so tests run the real backoff."""

    api_token: str
    app_ids: Sequence[str]
    base_url: str = APPSFLYER_URL
    reports: Sequence[str] = APPSFLYER_REPORTS
    maximum_rows: int = 1_000_000
    additional_fields: str = APPSFLYER_ADDITIONAL_FIELDS
    timeout_s: float = 300.0
    max_retries: int = 5
    base_backoff_s: float = 10.0
    max_backoff_s: float = 300.0
    max_days_per_call: int = 60
    min_split: timedelta = timedelta(minutes=1)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session | None = None
    stats: PullStats = field(default_factory=PullStats)

    def url(self, app_id: str, report: str) -> str:
        return f"{self.base_url.rstrip('/')}/api/raw-data/export/app/{app_id}/{report}/v5"

    def pull(self, start, end) -> pd.DataFrame:
        """Every row of every app and report with ``Install Time`` in ``[start, end)`` (UTC)."""
        start, end = _utc_naive(start), _utc_naive(end)
        if not self.api_token:
            raise AppsFlyerPullError("AppsFlyer API token is empty (set APPSFLYER_API_TOKEN)")
        if not self.app_ids:
            raise AppsFlyerPullError("no AppsFlyer app ids configured (set APPSFLYER_APP_IDS)")
        own = self.session is None
        self._http = requests.Session() if own else self.session
        frames = []
        try:
            for app_id in self.app_ids:
                for report in self.reports:
                    a = start
                    while a < end:
                        b = min(end, a + timedelta(days=self.max_days_per_call))
                        frames.extend(self._range(app_id, report, a, b))
                        a = b
        finally:
            if own:
                self._http.close()
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else _empty()

    def _range(self, app_id: str, report: str, a: datetime, b: datetime) -> list[pd.DataFrame]:
        try:
            return [self._get(app_id, report, a, b)]
        except _RowLimit:
            if b - a <= self.min_split:
                raise AppsFlyerPullError(
                    f"AppsFlyer {report} for app {app_id}: more than maximum_rows={self.maximum_rows} rows "
                    f"between {a:{_TS}} and {b:{_TS}} UTC; cannot split further") from None
            mid = a + (b - a) / 2
            mid = mid.replace(microsecond=0) if mid.replace(microsecond=0) > a else mid
            self.stats.splits += 1
            return self._range(app_id, report, a, mid) + self._range(app_id, report, mid, b)

    def _get(self, app_id: str, report: str, a: datetime, b: datetime) -> pd.DataFrame:
        url = self.url(app_id, report)
        params = {"from": f"{a:{_TS}}", "to": f"{b:{_TS}}", "timezone": "UTC",
                  "maximum_rows": str(self.maximum_rows)}
        if self.additional_fields:
            params["additional_fields"] = self.additional_fields
        label = f"AppsFlyer {report} app {app_id} {params['from']}..{params['to']} UTC"
        session = self._http

        def once() -> str:
            try:
                resp = session.get(url, params=params, timeout=self.timeout_s, headers={
                    "Authorization": f"Bearer {self.api_token}", "Accept": "text/csv"})
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retryable(f"{type(exc).__name__}: {exc}") from None
            body = resp.content.decode("utf-8-sig", errors="replace")
            if resp.status_code == 200:
                return body
            text = " ".join(body.split())[:300]
            if resp.status_code == 429 or resp.status_code >= 500:
                ra = resp.headers.get("Retry-After")
                raise _Retryable(f"HTTP {resp.status_code}: {text}",
                                 float(ra) if ra and re.fullmatch(r"\d+(\.\d+)?", ra.strip()) else None)
            if resp.status_code == 400 and re.search(r"limit has been reached|quota", text, re.I):
                raise _Fatal(f"daily Pull API quota exhausted (AppsFlyer resets it at 00:00 UTC): HTTP 400: {text}")
            if resp.status_code == 400 and re.search(r"maximum_rows|\brows?\b.*\b(limit|exceed)", text, re.I):
                raise _RowLimit(text)
            hint = {401: " (token rejected: check APPSFLYER_API_TOKEN)", 403: " (no raw-data access for this app)",
                    404: " (unknown app id or report)"}.get(resp.status_code, "")
            raise _Fatal(f"HTTP {resp.status_code}{hint}: {text}")

        gov = Governor(is_retryable=lambda e: isinstance(e, _Retryable), max_retries=self.max_retries,
                       base_backoff_s=self.base_backoff_s, max_backoff_s=self.max_backoff_s,
                       retry_after=lambda e: getattr(e, "retry_after", None), sleep=self.sleep)
        try:
            body = gov.call(once)
        except NotRetryable as exc:
            inner = unwrap(exc)
            if isinstance(inner, _RowLimit):
                raise inner from None
            raise AppsFlyerPullError(self._scrub(f"{label}: {inner} (after {exc.attempts} attempt(s))")) from None
        except RetriesExhausted as exc:
            raise AppsFlyerPullError(self._scrub(
                f"{label}: gave up after {exc.attempts} attempts: {exc.last_error}")) from None
        finally:
            self.stats.requests += gov.requests_made
            self.stats.retries += gov.retries_made
        df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False) if body.strip() else pd.DataFrame()
        if len(df.columns) and APPSFLYER_TIME not in df.columns:
            raise AppsFlyerPullError(f"{label}: response is not a raw installs CSV "
                                     f"(header starts {list(df.columns)[:5]})")
        if len(df) >= self.maximum_rows:
            raise _RowLimit(f"{len(df)} rows")
        self.stats.chunks.append((app_id, report, params["from"], params["to"], len(df)))
        if not len(df):
            return _empty()
        df[SOURCE_FILE] = label
        df[SOURCE_ROW] = np.arange(1, len(df) + 1, dtype=np.int64)
        return _in_range(df, appsflyer_times(df), a, b)

    def _scrub(self, text: str) -> str:
        return text.replace(self.api_token, "***") if self.api_token else text


class AppsFlyerPullApi(MmpInstallsSource):
    """AppsFlyer Pull API raw installs (non-organic and organic) for each app id.

    Wiring: ``AppsFlyerPullApi(api_token=dg.EnvVar("APPSFLYER_API_TOKEN"),
    app_ids=[dg.EnvVar("APPSFLYER_APP_IDS")])`` — entries are split on commas
    (``"id1500000001,com.matcha.app"``: one app id per store).
    """

    api_token: str = Field(description="Pull API (v2) token; secret — use dg.EnvVar('APPSFLYER_API_TOKEN').")
    app_ids: list[str] = Field(description="AppsFlyer app ids (iOS 'id123…', Android package); split on commas.")
    base_url: str = Field(default=APPSFLYER_URL, description="API host (tests: a loopback fake).")
    reports: list[str] = Field(default=list(APPSFLYER_REPORTS))
    maximum_rows: int = Field(default=1_000_000, description="Rows per response (AppsFlyer allows up to 1,000,000).")
    additional_fields: str = Field(default=APPSFLYER_ADDITIONAL_FIELDS)
    timeout_s: float = 300.0
    max_retries: int = 5
    base_backoff_s: float = 10.0
    max_backoff_s: float = 300.0
    max_days_per_call: int = Field(default=60, description="Longest range one request asks for.")

    def mmp(self) -> str:
        return APPSFLYER

    def client(self, sleep: Callable[[float], None] = time.sleep) -> AppsFlyerPullClient:
        ids = [p.strip() for entry in self.app_ids for p in str(entry).split(",") if p.strip()]
        return AppsFlyerPullClient(
            api_token=self.api_token, app_ids=ids, base_url=self.base_url, reports=tuple(self.reports),
            maximum_rows=self.maximum_rows, additional_fields=self.additional_fields, timeout_s=self.timeout_s,
            max_retries=self.max_retries, base_backoff_s=self.base_backoff_s, max_backoff_s=self.max_backoff_s,
            max_days_per_call=self.max_days_per_call, sleep=sleep)

    def raw_installs(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        # the API returns what exists; "required" only matters for file exports
        return self.client().pull(start, end)


# -- app users ----------------------------------------------------------------------------------

_SQLITE_UTC = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?",
)
_UTC_TIMESTAMP = sa.DateTime().with_variant(_SQLITE_UTC, "sqlite")
USER_COLUMNS = ["user_id", "created_at", "platform", "country", "device_manufacturer", "device_model"]


def users_table(name: str = "users", schema: str | None = None) -> sa.Table:
    """The columns of the app's ``users`` table (see ``APP_SCHEMA``) attribution reads."""
    return sa.Table(
        name, sa.MetaData(schema=schema),
        sa.Column("id", sa.BigInteger), sa.Column("created_at", _UTC_TIMESTAMP),
        sa.Column("platform", sa.String), sa.Column("country", sa.String),
        sa.Column("device_manufacturer", sa.String), sa.Column("device_model", sa.String),
    )


def app_users(db: AppDatabase, ids: Iterable[int] = (), created: tuple[datetime, datetime] | None = None,
              table: str = "users", chunk: int = 500) -> pd.DataFrame:
    """Users with the given ids and/or created in ``[created[0], created[1])`` (naive UTC).

    Columns :data:`USER_COLUMNS` (``created_at`` naive UTC). Ids go in chunks so the statement
    stays small on any database; the cost follows the window, not the table's size.
    """
    u = users_table(table, db.db_schema)
    cols = (u.c.id, u.c.created_at, u.c.platform, u.c.country, u.c.device_manufacturer, u.c.device_model)
    ids = sorted({int(i) for i in ids})
    rows: list = []
    with db.connect() as con:
        if created is not None:
            lo, hi = _utc_naive(created[0]), _utc_naive(created[1])
            rows += con.execute(sa.select(*cols).where(u.c.created_at >= lo, u.c.created_at < hi)).all()
            have = {int(r[0]) for r in rows}
            ids = [i for i in ids if i not in have]  # most ids were created in the window
        for k in range(0, len(ids), chunk):
            rows += con.execute(sa.select(*cols).where(u.c.id.in_(ids[k:k + chunk]))).all()
    df = pd.DataFrame.from_records(rows, columns=USER_COLUMNS).drop_duplicates("user_id")
    df["user_id"] = df["user_id"].astype(np.int64)
    stamps = [t.astimezone(timezone.utc).replace(tzinfo=None) if getattr(t, "tzinfo", None) else t
              for t in df["created_at"]]
    df["created_at"] = pd.to_datetime(pd.Series(stamps, index=df.index, dtype=object)).astype("datetime64[ns]")
    for c in USER_COLUMNS[2:]:
        df[c] = df[c].astype(object)
    return df.sort_values("user_id", kind="stable").reset_index(drop=True)
