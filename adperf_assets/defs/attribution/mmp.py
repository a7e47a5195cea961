"""MMP install exports: AppsFlyer raw installs (Pull API or the sample's CSVs) and Adjust CSV exports.

More: docs/dagster_layer.md."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Sequence

import dagster as dg
import numpy as np
import pandas as pd
import requests
from pydantic import Field

from adperf_assets.normalize.attribution import ADJUST, APPSFLYER, SOURCE_FILE, SOURCE_ROW
from adperf_assets.defs.attribution.app_users import USER_COLUMNS, _utc_naive, app_users, users_table  # noqa: F401 (re-export)
from adperf_assets.defs.common import redaction
from adperf_assets.defs.common.throttle import (Governor, NotRetryable, RetriesExhausted,
                                                retry_after_s, unwrap)
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout

APPSFLYER_URL = "https://hq1.appsflyer.com"
APPSFLYER_REPORTS = ("installs_report", "organic_installs_report")
#: Extra raw-data fields asked for (AppsFlyer's ``additional_fields`` names).
APPSFLYER_ADDITIONAL_FIELDS = "store_reinstall,device_model,conversion_type"
APPSFLYER_TIME = "Install Time"
_TS = "%Y-%m-%d %H:%M:%S"


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
                raise _Retryable(f"HTTP {resp.status_code}: {text}", retry_after_s(resp.headers.get("Retry-After")))
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
        return redaction.redact(text, secrets=(self.api_token,), patterns=())


#: Resource fields passed to the client unchanged (app_ids and reports are normalised first).
_CLIENT_FIELDS = ("api_token", "base_url", "maximum_rows", "additional_fields", "timeout_s", "max_retries",
                  "base_backoff_s", "max_backoff_s", "max_days_per_call")


def _client_default(name: str):
    return AppsFlyerPullClient.__dataclass_fields__[name].default


class AppsFlyerPullApi(MmpInstallsSource):
    """AppsFlyer Pull API raw installs (non-organic and organic) for each app id.

    Wiring: ``AppsFlyerPullApi(api_token=dg.EnvVar("APPSFLYER_API_TOKEN"),
    app_ids=[dg.EnvVar("APPSFLYER_APP_IDS")])`` — entries are split on commas
    (``"id1500000001,com.matcha.app"``: one app id per store).
    """

    api_token: str = Field(description="Pull API (v2) token; secret — use dg.EnvVar('APPSFLYER_API_TOKEN').")
    app_ids: list[str] = Field(description="AppsFlyer app ids (iOS 'id123…', Android package); split on commas.")
    # defaults are the client's (AppsFlyerPullClient), written once there
    base_url: str = Field(default=_client_default("base_url"), description="API host (tests: a loopback fake).")
    reports: list[str] = Field(default=list(_client_default("reports")))
    maximum_rows: int = Field(default=_client_default("maximum_rows"),
                              description="Rows per response (AppsFlyer allows up to 1,000,000).")
    additional_fields: str = Field(default=_client_default("additional_fields"))
    timeout_s: float = _client_default("timeout_s")
    max_retries: int = _client_default("max_retries")
    base_backoff_s: float = _client_default("base_backoff_s")
    max_backoff_s: float = _client_default("max_backoff_s")
    max_days_per_call: int = Field(default=_client_default("max_days_per_call"),
                                   description="Longest range one request asks for.")

    def mmp(self) -> str:
        return APPSFLYER

    def client(self, sleep: Callable[[float], None] = time.sleep) -> AppsFlyerPullClient:
        ids = [p.strip() for entry in self.app_ids for p in str(entry).split(",") if p.strip()]
        shared = {name: getattr(self, name) for name in _CLIENT_FIELDS}
        return AppsFlyerPullClient(**shared, app_ids=ids, reports=tuple(self.reports), sleep=sleep)

    def raw_installs(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        # the API returns what exists; "required" only matters for file exports
        return self.client().pull(start, end)
