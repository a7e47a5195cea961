"""Google Ads API client on ``google-ads``: hourly ad rows per customer via GAQL ``search_stream``.

More: docs/dagster_layer.md."""

from __future__ import annotations

import json
import pkgutil
import re
from datetime import date
from importlib import import_module
from typing import Any, Optional

import dagster as dg
import grpc
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.ads.googleads.interceptors import ExceptionInterceptor, MetadataInterceptor
from google.api_core import exceptions as core_exceptions
from pydantic import Field

from adperf_assets.defs.common.throttle import AdsPull, AdsPullError, Governor, attempts_of, describe_error, unwrap
from adperf_assets.defs.spend.network import GovernedSource, Network, SpendSource, as_date
from adperf_assets.defs.spend.sample_ads import SampleSource
from adperf_assets.normalize.spend import GOOGLE_ADS, google_ads_hourly
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import revise_google_rows

ADWORDS_SCOPE = "https://www.googleapis.com/auth/adwords"
TOKEN_URI = "https://oauth2.googleapis.com/token"


def sdk_api_version() -> str:
    """The newest API version the installed ``google-ads`` ships (its ``vNN`` service packages)."""
    import google.ads.googleads as package

    versions = [m.name for m in pkgutil.iter_modules(package.__path__) if re.fullmatch(r"v\d+", m.name)]
    return max(versions, key=lambda v: int(v[1:]))


#: The default follows the SDK (old versions are sunset); ``ADPERF_GOOGLE_ADS_API_VERSION`` pins one.
DEFAULT_API_VERSION = sdk_api_version()

HOURLY_FIELDS = [
    "customer.id",
    "customer.descriptive_name",
    "customer.currency_code",
    "customer.time_zone",
    "campaign.id",
    "campaign.name",
    "campaign.advertising_channel_type",
    "ad_group.id",
    "ad_group.name",
    "ad_group_ad.ad.id",
    "ad_group_ad.ad.name",
    "segments.date",
    "segments.hour",
    "metrics.cost_micros",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.conversions",
]
CUSTOMER_FIELDS = ["customer.id", "customer.descriptive_name", "customer.currency_code", "customer.time_zone"]

RETRY_STATUSES = frozenset(
    {
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
_QUOTA_RETRY = ("RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def hourly_query(since: date, until: date) -> str:
    """GAQL for hourly ad rows, in the customer's time zone (segments.date/hour)."""
    return (
        f"SELECT {', '.join(HOURLY_FIELDS)} FROM ad_group_ad"
        f" WHERE segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"
    )


def customer_query() -> str:
    return f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM customer"


def row_to_dict(row: Any, fields: list[str]) -> dict:
    """A GoogleAdsRow as ``{"campaign.id": 1, ...}`` with plain Python values (enums by name)."""
    out = {}
    for path in fields:
        value = row
        for part in path.split("."):
            value = getattr(value, part)
        if hasattr(value, "name") and isinstance(value, int):  # proto-plus enum
            value = value.name
        out[path] = value
    return out


def _status_of(exc: BaseException) -> Optional[grpc.StatusCode]:
    if isinstance(exc, GoogleAdsException):
        return exc.error.code() if exc.error is not None else None
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        return exc.grpc_status_code
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code()
    return None


def _failure_of(exc: BaseException, version: str) -> Any:
    """The GoogleAdsFailure of an error, if it carries one (in .failure or in trailing metadata)."""
    if isinstance(exc, GoogleAdsException):
        return exc.failure
    call = getattr(exc, "response", None) if isinstance(exc, core_exceptions.GoogleAPICallError) else exc
    trailing = getattr(call, "trailing_metadata", None)
    if not callable(trailing):
        return None
    key = f"google.ads.googleads.{version}.errors.googleadsfailure-bin"
    for k, v in trailing() or ():
        if k == key:
            errors = import_module(f"google.ads.googleads.{version}.errors.types.errors")
            return errors.GoogleAdsFailure.deserialize(v)
    return None


def _quota_errors(failure: Any) -> list:
    if failure is None:
        return []
    return [e for e in failure.errors if str(e.error_code.quota_error.name) in _QUOTA_RETRY]


class _Classifier:
    def __init__(self, version: str):
        self.version = version

    def is_retryable(self, exc: BaseException) -> bool:
        if _status_of(exc) in RETRY_STATUSES:
            return True
        failure = _failure_of(exc, self.version)
        if _quota_errors(failure):
            return True
        return any(e.error_code.internal_error.name == "TRANSIENT_ERROR" for e in (failure.errors if failure else []))

    def retry_after(self, exc: BaseException) -> float | None:
        delays = [
            e.details.quota_error_details.retry_delay.total_seconds()
            for e in _quota_errors(_failure_of(exc, self.version))
            if e.details and e.details.quota_error_details and e.details.quota_error_details.retry_delay
        ]
        return max(delays) if delays else None

    def describe(self, exc: BaseException) -> str:
        inner = unwrap(exc)
        status = _status_of(inner)
        failure = _failure_of(inner, self.version)
        head = status.name if status is not None else type(inner).__name__
        if failure is not None and failure.errors:
            details = "; ".join(
                f"{' '.join(str(e.error_code).split())}: {e.message}" for e in list(failure.errors)[:5]
            )
            request_id = getattr(inner, "request_id", None) or getattr(failure, "request_id", "")
            return f"{head} ({details})" + (f" request_id {request_id}" if request_id else "")
        if isinstance(inner, core_exceptions.GoogleAPICallError):
            return f"{head}: {inner.message}"
        if isinstance(inner, grpc.RpcError) and hasattr(inner, "details"):
            return f"{head}: {inner.details()}"
        return describe_error(inner)


def _digits(customer_id: str) -> str:
    cid = str(customer_id).strip().replace("-", "")
    if not (cid.isdigit() and len(cid) == 10):
        raise ValueError(f"Google Ads customer id {customer_id!r} must be 10 digits (dashes allowed)")
    return cid


class GoogleAdsSource(SpendSource):
    """What the spend assets need from Google Ads; the real API client and the sample world implement it."""

    def customers(self) -> list[dict]:
        """``[{"account_id", "name", "currency", "timezone_name"}]`` for every customer to pull."""
        raise NotImplementedError

    def pull_hourly_rows(self, customer_id: str, since: date, until: date) -> AdsPull:
        """Every hourly GAQL row (dict keyed by field path) of the customer-local days, or :class:`AdsPullError`."""
        raise NotImplementedError

    def accounts(self) -> list[dict]:
        return self.customers()

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        return self.pull_hourly_rows(account_id, since, until)

    def hourly_rows(self, customer_id: str, since: date, until: date) -> list[dict]:
        return self.pull_hourly_rows(customer_id, since, until).rows


class GoogleAdsResource(GovernedSource, GoogleAdsSource):
    """Google Ads API: customer metadata and hourly ad rows in the customer's time zone."""

    developer_token: str
    client_id: Optional[str] = None
    client_secret: Optional[str] = None
    refresh_token: Optional[str] = None
    login_customer_id: Optional[str] = None
    customer_ids: list[str] = Field(description="Customer ids; entries are also split on commas; dashes allowed.")
    api_version: str = Field(default=DEFAULT_API_VERSION, description="Google Ads API version (default: the SDK's newest).")
    endpoint: Optional[str] = Field(default=None, description="host:port override (a loopback fake in tests).")
    insecure_endpoint: bool = Field(default=False, description="Plaintext gRPC to a loopback endpoint (tests only).")
    request_timeout_s: float = 600.0
    min_request_interval_s: float = 0.2

    # -- public interface -------------------------------------------------
    def customer_id_list(self) -> list[str]:
        return [_digits(p) for entry in self.customer_ids for p in str(entry).split(",") if p.strip()]

    def customers(self) -> list[dict]:
        """``[{"account_id": "1234567890", "name", "currency", "timezone_name"}]`` per configured customer."""
        service, gov, clf = self._connect()
        out = []
        for cid in self.customer_id_list():
            try:
                rows = gov.call(lambda: self._stream(service, cid, customer_query(), CUSTOMER_FIELDS))
                if len(rows) != 1:
                    raise ValueError(f"expected one customer row, got {len(rows)}")
            except Exception as exc:
                raise AdsPullError("Google Ads", cid, None, None, clf.describe(exc), attempts_of(exc)) from None
            r = rows[0]
            out.append(
                {
                    "account_id": str(r["customer.id"]),
                    "name": r["customer.descriptive_name"],
                    "currency": r["customer.currency_code"],
                    "timezone_name": r["customer.time_zone"],
                }
            )
        return out

    def hourly_rows(self, customer_id: str, since: date, until: date) -> list[dict]:
        """Rows keyed by GAQL field path, one per ad x customer-local day x hour; complete or an exception."""
        return self.pull_hourly_rows(customer_id, since, until).rows

    def pull_hourly_rows(self, customer_id: str, since: date, until: date) -> AdsPull:
        """Like :meth:`hourly_rows`, with retry/request counts for asset metadata."""
        since, until = as_date(since), as_date(until)
        if until < since:
            raise ValueError(f"until {until} is before since {since}")
        cid = _digits(customer_id)
        service, gov, clf = self._connect()
        query = hourly_query(since, until)
        try:
            rows = gov.call(lambda: self._stream(service, cid, query, HOURLY_FIELDS))
            lo, hi = since.isoformat(), until.isoformat()
            for i, row in enumerate(rows):
                if not (lo <= row["segments.date"] <= hi):
                    raise ValueError(f"row {i}: segments.date {row['segments.date']!r} outside {lo}..{hi}")
        except Exception as exc:
            raise AdsPullError("Google Ads", cid, since, until, clf.describe(exc), attempts_of(exc)) from None
        return AdsPull(rows=rows, retries_made=gov.retries_made, requests_made=gov.requests_made)

    # -- internals ----------------------------------------------------------
    def _stream(self, service: Any, customer_id: str, query: str, fields: list[str]) -> list[dict]:
        rows: list[dict] = []
        for batch in service.search_stream(customer_id=customer_id, query=query, timeout=self.request_timeout_s):
            rows.extend(row_to_dict(r, fields) for r in batch.results)
        return rows

    def _credentials(self) -> Any:
        if self.client_id and self.client_secret and self.refresh_token:
            from google.oauth2.credentials import Credentials

            # Refreshed lazily by the channel's auth plugin on the first call.
            return Credentials(
                None,
                refresh_token=self.refresh_token,
                client_id=self.client_id,
                client_secret=self.client_secret,
                token_uri=TOKEN_URI,
                scopes=[ADWORDS_SCOPE],
            )
        if self.insecure_endpoint:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        raise ValueError("Google Ads needs client_id, client_secret and refresh_token (OAuth installed-app flow)")

    def _connect(self) -> tuple[Any, Governor, _Classifier]:
        clf = _Classifier(self.api_version)
        gov = self.governor(clf.is_retryable, clf.retry_after)
        login = _digits(self.login_customer_id) if self.login_customer_id else None
        if not self.insecure_endpoint:
            client = GoogleAdsClient(
                credentials=self._credentials(),
                developer_token=self.developer_token,
                endpoint=self.endpoint,
                login_customer_id=login,
                version=self.api_version,
                use_proto_plus=True,
            )
            return client.get_service("GoogleAdsService"), gov, clf
        return self._insecure_service(login), gov, clf

    def _insecure_service(self, login: Optional[str]) -> Any:
        if not self.endpoint:
            raise ValueError("insecure_endpoint needs endpoint='127.0.0.1:PORT'")
        host = self.endpoint.rsplit(":", 1)[0]
        if host not in _LOOPBACK_HOSTS:
            raise ValueError(f"insecure_endpoint is only allowed for loopback hosts, not {host!r}")
        module = import_module(f"google.ads.googleads.{self.api_version}.services.services.google_ads_service")
        channel = grpc.intercept_channel(
            grpc.insecure_channel(self.endpoint),
            MetadataInterceptor(self.developer_token, login, None),
            ExceptionInterceptor(self.api_version, use_proto_plus=True),
        )
        transport = module.transports.GoogleAdsServiceGrpcTransport(channel=channel)
        return module.GoogleAdsServiceClient(transport=transport)


class SampleGoogleAds(SampleSource, GoogleAdsSource):
    """Google Ads customers of the sample world (``google_ads/search_stream/<customer>/<local day>.json.gz``)."""

    customer_ids: list[str] = Field(default=[], description="Customers to pull (default: every customer of the world).")

    def customers(self) -> list[dict]:
        listed = json.loads(layout.google_customers(self.world.root()).read_text())
        wanted = {c.replace("-", "") for c in self.customer_ids}
        out = [
            {"account_id": str(c["customer.id"]), "name": c["customer.descriptive_name"],
             "currency": c["customer.currency_code"], "timezone_name": c["customer.time_zone"]}
            for c in listed
            if not wanted or str(c["customer.id"]) in wanted
        ]
        unknown = wanted - {c["account_id"] for c in out}
        if unknown:
            raise AdsPullError("Google Ads", sorted(unknown)[0], None, None,
                               "not a customer of the sample world (google_ads/customers.json)", 1)
        return out

    def pull_hourly_rows(self, customer_id: str, since: date, until: date) -> AdsPull:
        customer_id = str(customer_id).replace("-", "")
        if customer_id not in {c["account_id"] for c in self.customers()}:
            raise AdsPullError("Google Ads", customer_id, as_date(since), as_date(until),
                               "not a customer of the sample world (google_ads/customers.json)", 1)
        root = self.world.root()
        return self.read_days("Google Ads", customer_id, since, until,
                              lambda d: layout.google_rows(root, customer_id, d), revise_google_rows)


def real_connection(settings, customers: bool = True) -> dict:
    """The live Google Ads connection's fields (credentials from the environment, the API version): the
    spend pull's, which the SKAN rows and the budget actions reuse (the actions without ``customer_ids``:
    they act on the customers of the rows they are given)."""
    fields = dict(
        developer_token=dg.EnvVar("GOOGLE_ADS_DEVELOPER_TOKEN"),
        client_id=dg.EnvVar("GOOGLE_ADS_CLIENT_ID"),
        client_secret=dg.EnvVar("GOOGLE_ADS_CLIENT_SECRET"),
        refresh_token=dg.EnvVar("GOOGLE_ADS_REFRESH_TOKEN"),
        login_customer_id=dg.EnvVar("GOOGLE_ADS_LOGIN_CUSTOMER_ID"),
        api_version=settings.api_version(GOOGLE_ADS) or DEFAULT_API_VERSION,
    )
    if customers:
        fields["customer_ids"] = [dg.EnvVar("GOOGLE_ADS_CUSTOMER_IDS")]
    return fields


NETWORK = Network(
    name=GOOGLE_ADS,
    label="Google Ads",
    resource_key="google_ads",
    real=lambda settings: GoogleAdsResource(**real_connection(settings)),
    sample=lambda world, settings: SampleGoogleAds(world=world),
    to_frame=google_ads_hourly,
    description="Google Ads ad rows (GAQL ``segments.date``/``hour`` in the customer's time zone) per report"
                " day and ad, every configured customer; the campaign's channel type is the ``objective``,"
                " installs are ``metrics.conversions``.",
    env_vars=("GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_CLIENT_ID", "GOOGLE_ADS_CLIENT_SECRET",
              "GOOGLE_ADS_REFRESH_TOKEN", "GOOGLE_ADS_LOGIN_CUSTOMER_ID", "GOOGLE_ADS_CUSTOMER_IDS"),
)
