"""A fake Google Ads ``GoogleAdsService.SearchStream`` on 127.0.0.1, built from the library's own types.

Answers ``FROM customer`` and ``FROM ad_group_ad ... segments.date BETWEEN``
queries from in-memory hourly rows, in batches, and injects faults: a gRPC
status (RESOURCE_EXHAUSTED, UNAVAILABLE, ...) after N batches, with a
GoogleAdsFailure in the trailing metadata when asked.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.ads.googleads.v26.common.types.metrics import Metrics
from google.ads.googleads.v26.common.types.segments import Segments, SkAdNetworkSourceApp
from google.ads.googleads.v26.enums.types.advertising_channel_type import AdvertisingChannelTypeEnum
from google.ads.googleads.v26.errors.types.errors import (
    ErrorCode,
    ErrorDetails,
    GoogleAdsError,
    GoogleAdsFailure,
    QuotaErrorDetails,
)
from google.ads.googleads.v26.errors.types.quota_error import QuotaErrorEnum
from google.ads.googleads.v26.resources.types.ad import Ad
from google.ads.googleads.v26.resources.types.ad_group import AdGroup
from google.ads.googleads.v26.resources.types.ad_group_ad import AdGroupAd
from google.ads.googleads.v26.resources.types.campaign import Campaign
from google.ads.googleads.v26.resources.types.customer import Customer
from google.ads.googleads.v26.services.types.google_ads_service import (
    GoogleAdsRow,
    SearchGoogleAdsStreamRequest,
    SearchGoogleAdsStreamResponse,
)
from google.protobuf import field_mask_pb2

SERVICE = "google.ads.googleads.v26.services.GoogleAdsService"
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
_BETWEEN = re.compile(r"segments\.date BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'")
_SELECT = re.compile(r"SELECT (.*) FROM (\w+)")


@dataclass
class Fault:
    """Abort a matching SearchStream call with ``status`` after ``after_batches`` batches."""

    status: grpc.StatusCode
    after_batches: int = 0
    quota: bool = False
    retry_delay_s: float = 0.0
    customer_id: str | None = None
    delay_s: float = 0.0  # sleep before the first batch (client deadline tests); status then unused
    query: str | None = None  # only calls whose GAQL contains this (e.g. "FROM ad_group_ad")


def delay(seconds: float) -> Fault:
    """A slow reply instead of an error: the client's deadline should expire."""
    return Fault(grpc.StatusCode.OK, delay_s=seconds)


@dataclass
class FakeCustomer:
    customer_id: str
    name: str
    currency: str
    time_zone: str
    rows: list[dict] = field(default_factory=list)  # plain dicts, see ad_row()
    skan_rows: list[dict] = field(default_factory=list)  # GAQL-path dicts answering "FROM campaign" (SKAN)


def ad_row(
    customer: FakeCustomer, *, day: str, hour: int, campaign_id: int, ad_group_id: int, ad_id: int,
    cost_micros: int, impressions: int, clicks: int, conversions: float,
    channel: str = "MULTI_CHANNEL",
) -> dict:
    return {
        "day": day, "hour": hour, "campaign_id": campaign_id, "campaign_name": f"camp {campaign_id}",
        "channel": channel, "ad_group_id": ad_group_id, "ad_group_name": f"group {ad_group_id}",
        "ad_id": ad_id, "ad_name": f"ad {ad_id}", "cost_micros": cost_micros,
        "impressions": impressions, "clicks": clicks, "conversions": conversions,
    }


def _google_row(c: FakeCustomer, r: dict) -> GoogleAdsRow:
    return GoogleAdsRow(
        customer=Customer(id=int(c.customer_id), descriptive_name=c.name, currency_code=c.currency, time_zone=c.time_zone),
        campaign=Campaign(
            id=r["campaign_id"], name=r["campaign_name"],
            advertising_channel_type=AdvertisingChannelTypeEnum.AdvertisingChannelType[r["channel"]],
        ),
        ad_group=AdGroup(id=r["ad_group_id"], name=r["ad_group_name"]),
        ad_group_ad=AdGroupAd(ad=Ad(id=r["ad_id"], name=r["ad_name"])),
        segments=Segments(date=r["day"], hour=r["hour"]),
        metrics=Metrics(
            cost_micros=r["cost_micros"], impressions=r["impressions"], clicks=r["clicks"], conversions=r["conversions"]
        ),
    )


class FakeGoogleAds:
    def __init__(self, customers: list[FakeCustomer], batch_size: int = 5, developer_token: str = "dev-token"):
        self.customers = {c.customer_id: c for c in customers}
        self.batch_size = batch_size
        self.developer_token = developer_token
        self.faults: list[Fault] = []
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "FakeGoogleAds":
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "SearchStream": grpc.unary_stream_rpc_method_handler(
                    self._search_stream,
                    request_deserializer=SearchGoogleAdsStreamRequest.deserialize,
                    response_serializer=SearchGoogleAdsStreamResponse.serialize,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    def _next_fault(self, customer_id: str, query: str = "") -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.customer_id in (None, customer_id) and (f.query is None or f.query in query):
                    return self.faults.pop(i)
        return None

    def _search_stream(self, request: SearchGoogleAdsStreamRequest, context: grpc.ServicerContext):
        metadata = dict(context.invocation_metadata())
        self.calls.append({"customer_id": request.customer_id, "query": request.query, "metadata": metadata})
        if metadata.get("developer-token") != self.developer_token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad developer token")
        customer = self.customers.get(request.customer_id)
        if customer is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no access to customer {request.customer_id}")
        select = _SELECT.search(request.query)
        if select is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unparseable query")
        fields = [f.strip() for f in select.group(1).split(",")]
        if select.group(2) == "customer":
            rows = [GoogleAdsRow(customer=_google_row(customer, _blank()).customer)]
        elif select.group(2) == "campaign":  # SKAdNetwork segments (defs/skan/google_ads_skan.py)
            between = _BETWEEN.search(request.query)
            lo, hi = between.groups() if between else ("", "9999")
            rows = [_skan_row(r) for r in customer.skan_rows if lo <= r["segments.date"] <= hi]
        else:
            between = _BETWEEN.search(request.query)
            if between is None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "need segments.date BETWEEN")
            lo, hi = between.groups()
            rows = [_google_row(customer, r) for r in customer.rows if lo <= r["day"] <= hi]
        fault = self._next_fault(request.customer_id, request.query)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
            fault = None
        batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)] or [[]]
        for n, batch in enumerate(batches):
            if fault is not None and n == fault.after_batches:
                self._abort(context, fault)
            yield SearchGoogleAdsStreamResponse(
                results=batch, field_mask=field_mask_pb2.FieldMask(paths=fields), request_id=f"req-{len(self.calls)}"
            )
        if fault is not None:
            self._abort(context, fault)

    def _abort(self, context: grpc.ServicerContext, fault: Fault) -> None:
        if fault.quota:
            details = ErrorDetails(
                quota_error_details=QuotaErrorDetails(retry_delay=timedelta(seconds=fault.retry_delay_s))
            )
            failure = GoogleAdsFailure(
                errors=[
                    GoogleAdsError(
                        error_code=ErrorCode(quota_error=QuotaErrorEnum.QuotaError.RESOURCE_TEMPORARILY_EXHAUSTED),
                        message="Too many requests. Retry in a while.",
                        details=details,
                    )
                ],
                request_id="quota-req",
            )
            context.set_trailing_metadata(((FAILURE_KEY, GoogleAdsFailure.serialize(failure)),))
        context.abort(fault.status, f"injected {fault.status.name}")


def _skan_row(r: dict) -> GoogleAdsRow:
    """A SKAN row from its GAQL-path dict (absent optional values stay absent)."""
    seg = {k.split(".", 1)[1]: v for k, v in r.items() if k.startswith("segments.")}
    app = seg.pop("sk_ad_network_source_app.sk_ad_network_source_app_id", "")
    return GoogleAdsRow(
        customer=Customer(id=int(r["customer.id"])), campaign=Campaign(id=int(r["campaign.id"])),
        segments=Segments(**seg, sk_ad_network_source_app=SkAdNetworkSourceApp(sk_ad_network_source_app_id=app)),
        metrics=Metrics(sk_ad_network_installs=r["metrics.sk_ad_network_installs"],
                        sk_ad_network_total_conversions=r["metrics.sk_ad_network_total_conversions"]),
    )


def _blank() -> dict:
    return {
        "day": "", "hour": 0, "campaign_id": 0, "campaign_name": "", "channel": "UNSPECIFIED", "ad_group_id": 0,
        "ad_group_name": "", "ad_id": 0, "ad_name": "", "cost_micros": 0, "impressions": 0, "clicks": 0,
        "conversions": 0.0,
    }
