"""Facebook Marketing API client on ``facebook-business``: hourly ad insights per account.

More: docs/dagster_layer.md."""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import date
from typing import Any

import dagster as dg
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.apiconfig import ads_api_config
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.api import Cursor, FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from pydantic import Field

from adperf_assets.defs.common import redaction
from adperf_assets.defs.spend.facebook_usage import USAGE_HEADERS, Usage, read_usage  # noqa: F401 (re-export)
from adperf_assets.defs.common.throttle import AdsPull, AdsPullError, Governor, attempts_of, describe_error, unwrap
from adperf_assets.defs.spend.network import GovernedSource, Network, SpendSource, as_date
from adperf_assets.defs.spend.sample_ads import SampleSource
from adperf_assets.normalize.spend import FACEBOOK, facebook_hourly
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import revise_facebook_rows

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com"
#: The Graph API version the installed ``facebook-business`` is built for (Graph versions are retired
#: about two years after release, so the default follows the SDK; ``ADPERF_FACEBOOK_API_VERSION`` pins one).
SDK_API_VERSION: str = ads_api_config["API_VERSION"]
HOURLY_BREAKDOWN = "hourly_stats_aggregated_by_advertiser_time_zone"
INSIGHTS_FIELDS = [
    "account_id",
    "account_name",
    "account_currency",
    "objective",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "actions",
]
ACCOUNT_FIELDS = ["account_id", "name", "currency", "timezone_name"]

#: Graph API error codes that mean "slow down / try again".
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
#: "Service temporarily unavailable".
TRANSIENT_CODES = frozenset({2})

JOB_COMPLETED = "Job Completed"
JOB_FAILED = ("Job Failed", "Job Skipped")

_TOKEN_PATTERNS = [(re.compile(r"(access_token|appsecret_proof)=[^&\s'\"]+"), r"\1=<redacted>")]


class MalformedResponse(Exception):
    """A response the SDK cannot be trusted with: non-JSON body, or 5xx without a Graph error."""


def is_retryable(exc: BaseException) -> bool:
    """Throttling, transient Graph errors, 5xx, timeouts, dropped connections, broken bodies."""
    if isinstance(exc, FacebookRequestError):
        code = exc.api_error_code()
        status = exc.http_status() or 0
        return (
            code in THROTTLE_CODES
            or code in TRANSIENT_CODES
            or bool(exc.api_transient_error())
            or status >= 500
        )
    return isinstance(
        exc,
        (
            MalformedResponse,
            requests.exceptions.Timeout,
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ),
    )


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, FacebookRequestError):
        return read_usage(exc.http_headers()).regain_s or None
    return None


def redact(text: str) -> str:
    return redaction.redact(text, patterns=_TOKEN_PATTERNS)


def _describe(exc: BaseException) -> str:
    inner = unwrap(exc)
    if isinstance(inner, FacebookRequestError):
        return redact(
            f"HTTP {inner.http_status()}, Graph API error code {inner.api_error_code()}"
            f" subcode {inner.api_error_subcode()}: {inner.api_error_message() or inner.get_message()}"
        )
    return redact(describe_error(inner))


class _GovernedApi(FacebookAdsApi):
    """The SDK's API object with every call paced, observed and retried."""

    governor: Governor
    usage_slow_pct: float
    usage_pause_pct: float
    usage_pause_s: float
    max_usage_pct: float = 0.0

    @classmethod
    def connect(cls, client, governor: Governor) -> "_GovernedApi":
        """The API of ``client`` (a resource with the token, version, URL, timeout and usage thresholds),
        every call through ``governor`` and the usage headers observed."""
        api = cls.init(access_token=client.access_token, api_version=client.api_version,
                       timeout=client.request_timeout_s, crash_log=False)
        api._session.GRAPH = client.graph_url.rstrip("/")
        api.governor = governor
        api.usage_slow_pct = client.usage_slow_pct
        api.usage_pause_pct = client.usage_pause_pct
        api.usage_pause_s = client.usage_pause_s
        api._session.requests.hooks["response"].append(api.observe)
        return api

    def call(self, method, path, params=None, headers=None, files=None, url_override=None, api_version=None):
        return self.governor.call(
            lambda: FacebookAdsApi.call(self, method, path, params, headers, files, url_override, api_version)
        )

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """``requests`` response hook: usage headers, then reject untrustworthy bodies."""
        usage = read_usage(response.headers)
        self.max_usage_pct = max(self.max_usage_pct, usage.pct)
        if usage.regain_s > 0:
            self.governor.hold(usage.regain_s)
        elif usage.pct >= self.usage_pause_pct:
            self.governor.hold(self.usage_pause_s)
        elif usage.pct >= self.usage_slow_pct:
            span = max(1e-9, self.usage_pause_pct - self.usage_slow_pct)
            self.governor.hold(self.usage_pause_s * (usage.pct - self.usage_slow_pct) / span)
        try:
            body = response.json()
        except ValueError:
            raise MalformedResponse(
                f"HTTP {response.status_code}: body is not complete JSON ({len(response.content)} bytes:"
                f" {response.text[:80]!r}...)"
            ) from None
        if not isinstance(body, dict):
            raise MalformedResponse(f"HTTP {response.status_code}: body is JSON {type(body).__name__}, not an object")
        if response.status_code >= 500 and "error" not in body:
            raise MalformedResponse(f"HTTP {response.status_code} without a Graph API error")
        return response


def _act(account_id: str) -> str:
    account_id = str(account_id).strip()
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _drain(cursor: Cursor) -> list[dict]:
    """All rows behind a cursor. The SDK stops at an empty page even if it has a
    ``next`` link; keep asking until the cursor says it is really finished."""
    rows: list[dict] = []
    empty_pages = 0
    while True:
        before = len(rows)
        rows.extend(obj.export_all_data() for obj in cursor)
        if getattr(cursor, "_finished_iteration", True):
            return rows
        empty_pages = 0 if len(rows) > before else empty_pages + 1
        if empty_pages > 100:
            raise MalformedResponse("more than 100 consecutive empty pages that still have a next link")


class FacebookAdsSource(SpendSource):
    """What the spend assets need from Facebook; the real API client and the sample world implement it."""

    def pull_hourly_insights(self, account_id: str, since: date, until: date) -> AdsPull:
        """Every hourly insights row of the account-local days ``since..until``, or :class:`AdsPullError`."""
        raise NotImplementedError

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        return self.pull_hourly_insights(account_id, since, until)

    def hourly_insights(self, account_id: str, since: date, until: date) -> list[dict]:
        return self.pull_hourly_insights(account_id, since, until).rows


class FacebookAdsResource(GovernedSource, FacebookAdsSource):
    """Facebook Marketing API: account metadata and hourly ad insights in the account's time zone."""

    access_token: str = Field(description="Graph API token, from EnvVar('FACEBOOK_ACCESS_TOKEN').")
    account_ids: list[str] = Field(description="Ad account ids ('act_123' or '123'); entries are also split on commas.")
    api_version: str = Field(default=SDK_API_VERSION, description="Graph API version (default: the SDK's).")
    graph_url: str = Field(default=GRAPH_URL, description="Graph API base URL (a loopback fake in tests).")
    request_timeout_s: float = 120.0
    page_limit: int = 500
    async_min_days: int = Field(default=3, description="Ranges longer than this many days use an async report job.")
    async_poll_interval_s: float = 5.0
    async_timeout_s: float = 1800.0
    async_job_retries: int = 2
    usage_slow_pct: float = Field(default=60.0, description="Usage % above which calls are spaced out more.")
    usage_pause_pct: float = Field(default=90.0, description="Usage % at which we pause usage_pause_s.")
    usage_pause_s: float = 60.0

    # -- public interface -------------------------------------------------
    def account_id_list(self) -> list[str]:
        """Configured account ids without the 'act_' prefix."""
        ids = [part.strip() for entry in self.account_ids for part in str(entry).split(",") if part.strip()]
        return [i.removeprefix("act_") for i in ids]

    def accounts(self) -> list[dict]:
        """``[{"account_id": "123", "name", "currency", "timezone_name"}]`` for every configured account."""
        api = self._connect()
        out = []
        for account_id in self.account_id_list():
            try:
                acct = AdAccount(_act(account_id), api=api).api_get(fields=ACCOUNT_FIELDS)
                row = {
                    "account_id": str(acct.get("account_id") or account_id),
                    "name": acct["name"],
                    "currency": acct["currency"],
                    "timezone_name": acct["timezone_name"],
                }
            except Exception as exc:
                raise AdsPullError("Facebook", _act(account_id), None, None, _describe(exc), attempts_of(exc)) from None
            out.append(row)
        return out

    def hourly_insights(self, account_id: str, since: date, until: date) -> list[dict]:
        """Raw insights rows (one per ad x account-local day x hour), complete or an exception."""
        return self.pull_hourly_insights(account_id, since, until).rows

    def pull_hourly_insights(self, account_id: str, since: date, until: date) -> AdsPull:
        """Like :meth:`hourly_insights`, with retry/request counts for asset metadata."""
        since, until = as_date(since), as_date(until)
        if until < since:
            raise ValueError(f"until {until} is before since {since}")
        api = self._connect()
        node = _act(account_id)
        params = {
            "level": "ad",
            "time_increment": 1,
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "breakdowns": [HOURLY_BREAKDOWN],
            "action_breakdowns": ["action_type"],
            "limit": self.page_limit,
        }
        try:
            acct = AdAccount(node, api=api)
            if (until - since).days + 1 > self.async_min_days:
                rows = self._run_async(acct, params, api.governor)
            else:
                rows = _drain(acct.get_insights(fields=INSIGHTS_FIELDS, params=params))
            _check_rows(rows, node, since, until)
        except Exception as exc:
            raise AdsPullError("Facebook", node, since, until, _describe(exc), attempts_of(exc)) from None
        gov = api.governor
        return AdsPull(rows=rows, retries_made=gov.retries_made, requests_made=gov.requests_made, throttle_wait_s=gov.throttle_wait_s)

    # -- internals ----------------------------------------------------------
    def _connect(self) -> _GovernedApi:
        return _GovernedApi.connect(self, self.governor(is_retryable, _retry_after))

    def _run_async(self, acct: AdAccount, params: dict, gov: Governor) -> list[dict]:
        last_status = None
        for job_attempt in range(self.async_job_retries + 1):
            if job_attempt:
                gov.count_retry()
            job: AdReportRun = acct.get_insights(fields=INSIGHTS_FIELDS, params=params, is_async=True)
            last_status = self._wait_for_job(job, gov)
            if last_status == JOB_COMPLETED:
                return _drain(job.get_result(params={"limit": self.page_limit}))
        raise RuntimeError(f"async report job ended with '{last_status}' {self.async_job_retries + 1} time(s)")

    def _wait_for_job(self, job: AdReportRun, gov: Governor) -> str:
        polls = max(1, math.ceil(self.async_timeout_s / max(self.async_poll_interval_s, 1e-9)))
        for _ in range(polls):
            job.api_get(fields=["async_status", "async_percent_completion"])
            status = job.get("async_status")
            pct = job.get("async_percent_completion")
            if status == JOB_COMPLETED and (pct is None or float(pct) >= 100):
                return status
            if status in JOB_FAILED:
                return status
            gov.sleep(self.async_poll_interval_s)
        raise TimeoutError(
            f"async report job {job.get_id()} not finished after {self.async_timeout_s:.0f} s"
            f" (last status {job.get('async_status')!r})"
        )


def _check_rows(rows: list[dict], node: str, since: date, until: date) -> None:
    """The API must answer what was asked: the right account and days, one hour each."""
    account = node.removeprefix("act_")
    lo, hi = since.isoformat(), until.isoformat()
    for i, row in enumerate(rows):
        day = row.get("date_start")
        if not isinstance(day, str) or not (lo <= day <= hi):
            raise MalformedResponse(f"row {i}: date_start {day!r} outside {lo}..{hi}")
        if str(row.get("account_id", account)) != account:
            raise MalformedResponse(f"row {i}: account_id {row.get('account_id')!r} is not {account}")
        if HOURLY_BREAKDOWN not in row:
            raise MalformedResponse(f"row {i}: no {HOURLY_BREAKDOWN} field")


class SampleFacebookAds(SampleSource, FacebookAdsSource):
    """Facebook ad accounts of the sample world (``facebook/insights/<account>/<local day>.json.gz``)."""

    account_ids: list[str] = Field(default=[], description="Accounts to pull (default: every account of the world).")

    def accounts(self) -> list[dict]:
        listed = json.loads(layout.facebook_accounts(self.world.root()).read_text())
        wanted = {a.removeprefix("act_") for a in self.account_ids}
        out = [
            {"account_id": str(a["account_id"]), "name": a["name"], "currency": a["currency"],
             "timezone_name": a["timezone_name"]}
            for a in listed
            if not wanted or str(a["account_id"]) in wanted
        ]
        unknown = wanted - {a["account_id"] for a in out}
        if unknown:
            raise AdsPullError("Facebook", f"act_{sorted(unknown)[0]}", None, None,
                               "not an account of the sample world (facebook/accounts.json)", 1)
        return out

    def pull_hourly_insights(self, account_id: str, since: date, until: date) -> AdsPull:
        account_id = str(account_id).removeprefix("act_")
        currency = {a["account_id"]: a["currency"] for a in self.accounts()}.get(account_id)
        if currency is None:
            raise AdsPullError("Facebook", f"act_{account_id}", as_date(since), as_date(until),
                               "not an account of the sample world (facebook/accounts.json)", 1)
        root = self.world.root()
        return self.read_days("Facebook", f"act_{account_id}", since, until,
                              lambda d: layout.facebook_insights(root, account_id, d),
                              lambda rows, f: revise_facebook_rows(rows, f, currency))


NETWORK = Network(
    name=FACEBOOK,
    label="Facebook",
    resource_key="facebook_ads",
    real=lambda settings: FacebookAdsResource(
        access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"), account_ids=[dg.EnvVar("FACEBOOK_ACCOUNT_IDS")],
        api_version=settings.api_version(FACEBOOK) or SDK_API_VERSION),
    sample=lambda world, settings: SampleFacebookAds(world=world),
    to_frame=facebook_hourly,
    description="Facebook ad insights (hourly, advertiser time zone) per report day and ad, every configured"
                " ad account; an ad set is an ``ad_group``, installs are the ``mobile_app_install`` action.",
    env_vars=("FACEBOOK_ACCESS_TOKEN", "FACEBOOK_ACCOUNT_IDS"),
)
