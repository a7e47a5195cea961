"""TikTok Marketing API client on the official SDK (``business_api_client``): ad rows by hour per advertiser.

The report's hours (``stat_time_hour``) are in the advertiser's time zone and its money in the advertiser's
currency, both read from ``advertiser/info``. More: docs/networks.md."""

from __future__ import annotations

import functools
import inspect
import json
import re
from datetime import date, timedelta
from typing import Optional

import dagster as dg
import urllib3
from business_api_client import ApiClient, Configuration
from business_api_client.api.account_management_api import AccountManagementApi
from business_api_client.api.reporting_api import ReportingApi
from business_api_client.rest import ApiException
from business_api_client.tiktok_business.tiktok_exceptions import TiktokSDKError
from pydantic import Field

from adperf_assets.defs.common.throttle import AdsPull, AdsPullError, attempts_of, describe_error, unwrap
from adperf_assets.defs.spend.network import GovernedSource, Network, SpendSource, as_date
from adperf_assets.defs.spend.sample_ads import SampleSource
from adperf_assets.normalize.tiktok import TIKTOK, tiktok_hourly  # noqa: F401 (the mapping, re-exported)
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import revise_tiktok_rows

HOST = "https://business-api.tiktok.com"


def sdk_api_version() -> str:
    """The Marketing API version the installed SDK calls (``/open_api/v1.3/report/integrated/get/``)."""
    source = inspect.getsource(ReportingApi.report_integrated_get_with_http_info)
    return re.search(r"/open_api/(v\d+(?:\.\d+)*)/report/integrated/get/", source).group(1)


#: The default follows the SDK; ``ADPERF_TIKTOK_API_VERSION`` pins another.
DEFAULT_API_VERSION = sdk_api_version()

#: by ad and advertiser-local hour; attribute metrics give the ad's campaign and ad group
DIMENSIONS = ["ad_id", "stat_time_hour"]
METRICS = ["campaign_id", "campaign_name", "adgroup_id", "adgroup_name", "ad_name", "objective_type",
           "spend", "impressions", "clicks", "app_install"]
ADVERTISER_FIELDS = ["advertiser_id", "name", "currency", "timezone"]
PAGE_SIZE = 1000

#: TikTok answers HTTP 200 with these codes when calls come too fast (REQUEST_TOO_FREQUENT,
#: REQUEST_FREQUENCY_LIMITED, TOO_MANY_REQUESTS_BL); 5xxxx are its server errors.
THROTTLE_CODES = frozenset({40100, 40132, 61000})
_CODE = re.compile(r"Error Code: (\d+)")


def error_code(exc: BaseException) -> Optional[int]:
    """The API code of a ``TiktokSDKError`` (the SDK keeps it only in the message)."""
    if isinstance(exc, TiktokSDKError):
        m = _CODE.search(str(exc))
        return int(m.group(1)) if m else None
    return None


def is_retryable(exc: BaseException) -> bool:
    """Rate-limit codes, TikTok server errors, HTTP 429/5xx, dropped connections, broken pages."""
    code = error_code(exc)
    if code is not None:
        return code in THROTTLE_CODES or 50000 <= code < 60000
    if isinstance(exc, ApiException):
        return exc.status in (0, 429) or (exc.status or 0) >= 500
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, BrokenPage))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from ``Retry-After`` on an HTTP 429 (TikTok's 200-with-code answers carry none)."""
    if isinstance(exc, ApiException) and exc.headers:
        value = exc.headers.get("Retry-After")
        if value and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
            return float(value)
    return None


class BrokenPage(Exception):
    """A report page without the list or page info the API documents."""


class _VersionedApiClient(ApiClient):
    """The SDK's client with its hard-coded ``/open_api/<version>/`` swapped for the configured one, and
    urllib3's own retries off (it would sleep out a 429's Retry-After unseen): the governor retries."""

    def __init__(self, configuration: Configuration, api_version: str):
        super().__init__(configuration)
        self.api_version = api_version
        pool = self.rest_client.pool_manager
        pool.request = functools.partial(pool.request, retries=False)

    def call_api(self, resource_path, *args, **kwargs):
        resource_path = re.sub(r"^/open_api/v[\d.]+/", f"/open_api/{self.api_version}/", resource_path)
        return super().call_api(resource_path, *args, **kwargs)


class TikTokSource(SpendSource):
    """What the spend assets need from TikTok; the real API client and the sample world implement it.

    ``pull_rows`` answers report rows as the API returns them (``{"dimensions", "metrics"}``) plus
    ``advertiser_id``."""


class TikTokAdsResource(GovernedSource, TikTokSource):
    """TikTok Marketing API (``report/integrated/get``, AUCTION_AD level, by ad and hour)."""

    access_token: str
    advertiser_ids: list[str] = Field(description="Advertiser ids; entries are also split on commas.")
    api_version: str = Field(default=DEFAULT_API_VERSION, description="Marketing API version (default: the SDK's).")
    host: str = Field(default=HOST, description="API host (a loopback fake in tests).")
    page_size: int = PAGE_SIZE
    request_timeout_s: float = 300.0
    min_request_interval_s: float = 0.2

    def advertiser_id_list(self) -> list[str]:
        return [p.strip() for entry in self.advertiser_ids for p in str(entry).split(",") if p.strip()]

    def _client(self) -> _VersionedApiClient:
        cfg = Configuration()  # a copy of the SDK's default
        cfg.host = self.host.rstrip("/")
        return _VersionedApiClient(cfg, self.api_version)

    def accounts(self) -> list[dict]:
        """``[{"account_id", "name", "currency", "timezone_name"}]`` from ``advertiser/info``."""
        ids = self.advertiser_id_list()
        if not ids:
            return []
        gov = self.governor(is_retryable, retry_after)
        api = AccountManagementApi(self._client())
        try:
            out = gov.call(lambda: api.advertiser_info(ids, self.access_token, fields=ADVERTISER_FIELDS,
                                                       _request_timeout=self.request_timeout_s))
            listed = {str(a["advertiser_id"]): a for a in (out.get("data") or {}).get("list") or []}
            missing = [i for i in ids if i not in listed]
            if missing:
                raise ValueError(f"advertiser/info does not list advertiser(s) {missing}")
        except Exception as exc:
            raise AdsPullError("TikTok", ",".join(ids), None, None, describe(exc), attempts_of(exc)) from None
        return [{"account_id": i, "name": listed[i].get("name") or "", "currency": listed[i].get("currency"),
                 "timezone_name": listed[i].get("timezone")} for i in ids]

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        """Every hourly row of the advertiser-local days, one day per request series (the API's hourly
        reports cover one day), every page; complete or :class:`AdsPullError`."""
        since, until = as_date(since), as_date(until)
        if until < since:
            raise ValueError(f"until {until} is before since {since}")
        gov = self.governor(is_retryable, retry_after)
        api = ReportingApi(self._client())
        rows: list[dict] = []
        day = since
        try:
            while day <= until:
                page, total_pages = 1, 1
                while page <= total_pages:
                    data = gov.call(lambda: self._page(api, account_id, day, page))
                    for r in data["list"]:
                        hour = str((r.get("dimensions") or {}).get("stat_time_hour", ""))
                        if not hour.startswith(day.isoformat()):
                            raise ValueError(f"row of page {page}: stat_time_hour {hour!r} is not on {day}")
                        rows.append({**r, "advertiser_id": str(account_id)})
                    total_pages = int(data["page_info"]["total_page"])
                    page += 1
                day += timedelta(days=1)
        except Exception as exc:
            raise AdsPullError("TikTok", account_id, since, until, describe(exc), attempts_of(exc)) from None
        return AdsPull(rows=rows, retries_made=gov.retries_made, requests_made=gov.requests_made)

    def _page(self, api: ReportingApi, advertiser_id: str, day: date, page: int) -> dict:
        out = api.report_integrated_get(
            "BASIC", self.access_token, advertiser_id=str(advertiser_id), service_type="AUCTION",
            data_level="AUCTION_AD", dimensions=list(DIMENSIONS), metrics=list(METRICS),
            start_date=day.isoformat(), end_date=day.isoformat(), page=page, page_size=self.page_size,
            _request_timeout=self.request_timeout_s)
        data = out.get("data") if isinstance(out, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("list"), list) \
                or "total_page" not in (data.get("page_info") or {}):
            raise BrokenPage(f"page {page} has no data.list/page_info.total_page: {str(out)[:200]}")
        return data


def describe(exc: BaseException) -> str:
    inner = unwrap(exc)
    if isinstance(inner, ApiException):
        return f"HTTP {inner.status} {inner.reason}: {str(inner.body)[:300]}"
    return describe_error(inner)


class SampleTikTok(SampleSource, TikTokSource):
    """TikTok advertisers of the sample world (``tiktok/report/<advertiser>/<local day>.json.gz``)."""

    def accounts(self) -> list[dict]:
        path = layout.tiktok_advertisers(self.world.root())
        if not path.exists():
            return []  # a world that does not buy on TikTok
        return [{"account_id": str(a["advertiser_id"]), "name": a["name"], "currency": a["currency"],
                 "timezone_name": a["timezone"]} for a in json.loads(path.read_text())]

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        accounts = {a["account_id"]: a for a in self.accounts()}
        if str(account_id) not in accounts:
            raise AdsPullError("TikTok", str(account_id), as_date(since), as_date(until),
                               "not an advertiser of the sample world (tiktok/advertisers.json)", 1)
        root, currency = self.world.root(), accounts[str(account_id)]["currency"]
        pull = self.read_days("TikTok", str(account_id), since, until,
                              lambda d: layout.tiktok_report(root, str(account_id), d),
                              lambda rows, f: revise_tiktok_rows(rows, f, currency))
        return AdsPull(rows=[{**r, "advertiser_id": str(account_id)} for r in pull.rows],
                       requests_made=pull.requests_made)


NETWORK = Network(
    name=TIKTOK,
    label="TikTok",
    resource_key="tiktok_ads",
    real=lambda settings: TikTokAdsResource(
        access_token=dg.EnvVar("TIKTOK_ACCESS_TOKEN"),
        advertiser_ids=[dg.EnvVar("TIKTOK_ADVERTISER_IDS")],
        api_version=settings.api_version(TIKTOK) or DEFAULT_API_VERSION,
    ),
    sample=lambda world, settings: SampleTikTok(world=world),
    to_frame=tiktok_hourly,
    description="TikTok ad rows (``report/integrated/get`` by ad and ``stat_time_hour`` in the advertiser's time"
                " zone, its currency) per report day and ad, every configured advertiser; ``objective_type`` is"
                " the ``objective``, installs are ``app_install``.",
    env_vars=("TIKTOK_ACCESS_TOKEN", "TIKTOK_ADVERTISER_IDS"),
)
