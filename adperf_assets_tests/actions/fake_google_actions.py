"""A fake Google Ads API for acting on ads, on 127.0.0.1, built from the library's own types: it holds
customers, campaigns with their budgets, ad groups and ad group ads, and records every request.

- ``GoogleAdsService.SearchStream``: ``SELECT f, ... FROM campaign|ad_group|ad_group_ad WHERE x IN (..)``
  or ``WHERE x = v`` over the held objects (the fields the client asks for are in each row).
- ``CampaignBudgetService.MutateCampaignBudgets`` (``amount_micros``), ``CampaignService.MutateCampaigns``,
  ``AdGroupService.MutateAdGroups``, ``AdGroupAdService.MutateAdGroupAds`` (``status``): update operations
  checked like the API (resource exists, mask names only settable fields, a status is a real one, a budget
  is a positive multiple of the currency's minimum unit); applied unless ``validate_only`` (then empty
  results, as documented). A refusal aborts INVALID_ARGUMENT with a GoogleAdsFailure in the trailing
  metadata, which the client's interceptor turns into ``GoogleAdsException``.
- ``faults``: each ``Fault`` is consumed by the next call it matches (method name contains ``method``)
  and aborts it with ``status`` (with a quota GoogleAdsFailure when ``quota``); nothing is applied.
"""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.ads.googleads.v26.enums.types.ad_group_ad_status import AdGroupAdStatusEnum
from google.ads.googleads.v26.enums.types.ad_group_status import AdGroupStatusEnum
from google.ads.googleads.v26.enums.types.budget_period import BudgetPeriodEnum
from google.ads.googleads.v26.enums.types.campaign_status import CampaignStatusEnum
from google.ads.googleads.v26.errors.types.campaign_budget_error import (
    CampaignBudgetErrorEnum,
)
from google.ads.googleads.v26.errors.types.errors import (
    ErrorCode,
    ErrorDetails,
    GoogleAdsError,
    GoogleAdsFailure,
    QuotaErrorDetails,
)
from google.ads.googleads.v26.errors.types.field_mask_error import FieldMaskErrorEnum
from google.ads.googleads.v26.errors.types.mutate_error import MutateErrorEnum
from google.ads.googleads.v26.errors.types.quota_error import QuotaErrorEnum
from google.ads.googleads.v26.errors.types.request_error import RequestErrorEnum
from google.ads.googleads.v26.resources.types.ad import Ad
from google.ads.googleads.v26.resources.types.ad_group import AdGroup
from google.ads.googleads.v26.resources.types.ad_group_ad import AdGroupAd
from google.ads.googleads.v26.resources.types.campaign import Campaign
from google.ads.googleads.v26.resources.types.campaign_budget import CampaignBudget
from google.ads.googleads.v26.resources.types.customer import Customer
from google.ads.googleads.v26.services.types import (
    ad_group_ad_service,
    ad_group_service,
    campaign_budget_service,
    campaign_service,
)
from google.ads.googleads.v26.services.types.google_ads_service import (
    GoogleAdsRow,
    SearchGoogleAdsStreamRequest,
    SearchGoogleAdsStreamResponse,
)
from google.protobuf import field_mask_pb2

PREFIX = "google.ads.googleads.v26.services."
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
_QUERY = re.compile(r"^SELECT (.*) FROM (\w+) WHERE ([\w.]+) (?:IN \((.*)\)|= (.*))$")
_RESOURCE = {
    "campaignBudgets": re.compile(r"^customers/(\d+)/campaignBudgets/(\d+)$"),
    "campaigns": re.compile(r"^customers/(\d+)/campaigns/(\d+)$"),
    "adGroups": re.compile(r"^customers/(\d+)/adGroups/(\d+)$"),
    "adGroupAds": re.compile(r"^customers/(\d+)/adGroupAds/(\d+)~(\d+)$"),
}


@dataclass
class Fault:
    status: grpc.StatusCode
    method: str = "Mutate"  # consumed by a call whose method name contains this ("" = any call)
    quota: bool = False
    retry_delay_s: float = 0.0
    message: str = ""


@dataclass
class FakeCustomer:
    customer_id: str
    currency: str = "USD"
    budgets: dict = field(default_factory=dict)       # budget id -> {"amount_micros", "period", "shared"}
    campaigns: dict = field(default_factory=dict)     # campaign id -> {"status", "budget"}
    ad_groups: dict = field(default_factory=dict)     # ad group id -> {"status", "campaign"}
    ads: dict = field(default_factory=dict)           # (ad group id, ad id) -> {"status"}


class FakeGoogleActions:
    def __init__(self, developer_token: str = "dev-token"):
        self.developer_token = developer_token
        self.customers: dict[str, FakeCustomer] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def snapshot(self) -> dict:
        with self._lock:
            return {cid: (repr(c.budgets), repr(c.campaigns), repr(c.ad_groups), repr(c.ads))
                    for cid, c in self.customers.items()}

    def mutates(self) -> list[dict]:
        return [r for r in self.requests if r["method"].startswith("Mutate")]

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeGoogleActions:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        search = grpc.method_handlers_generic_handler(PREFIX + "GoogleAdsService", {
            "SearchStream": grpc.unary_stream_rpc_method_handler(
                self._search_stream, request_deserializer=SearchGoogleAdsStreamRequest.deserialize,
                response_serializer=SearchGoogleAdsStreamResponse.serialize)})
        handlers = [search]
        for service, method, module, stem in [
            ("CampaignBudgetService", "MutateCampaignBudgets", campaign_budget_service, "CampaignBudgets"),
            ("CampaignService", "MutateCampaigns", campaign_service, "Campaigns"),
            ("AdGroupService", "MutateAdGroups", ad_group_service, "AdGroups"),
            ("AdGroupAdService", "MutateAdGroupAds", ad_group_ad_service, "AdGroupAds"),
        ]:
            request_type = getattr(module, f"Mutate{stem}Request")
            response_type = getattr(module, f"Mutate{stem}Response")
            handlers.append(grpc.method_handlers_generic_handler(PREFIX + service, {
                method: grpc.unary_unary_rpc_method_handler(
                    self._mutate_handler(method, response_type), request_deserializer=request_type.deserialize,
                    response_serializer=response_type.serialize)}))
        self._server.add_generic_rpc_handlers(tuple(handlers))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    # -- common -------------------------------------------------------------------------
    def _enter(self, method: str, customer_id: str, context, record: dict) -> FakeCustomer:
        metadata = dict(context.invocation_metadata())
        with self._lock:
            self.requests.append({"method": method, "customer_id": customer_id, "metadata": metadata, **record})
            fault = next((f for f in self.faults if f.method in method), None)
            if fault is not None:
                self.faults.remove(fault)
        if metadata.get("developer-token") != self.developer_token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad developer token")
        if fault is not None:
            self._fault(context, fault)
        customer = self.customers.get(customer_id)
        if customer is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no access to customer {customer_id}")
        return customer

    def _fault(self, context, fault: Fault) -> None:
        if fault.quota:
            self._refuse(context, ErrorCode(quota_error=QuotaErrorEnum.QuotaError.RESOURCE_TEMPORARILY_EXHAUSTED),
                         "Too many requests. Retry in a while.", status=fault.status,
                         details=ErrorDetails(quota_error_details=QuotaErrorDetails(
                             retry_delay=timedelta(seconds=fault.retry_delay_s))))
        context.abort(fault.status, fault.message or f"injected {fault.status.name}")

    def _refuse(self, context, code: ErrorCode, message: str, status=grpc.StatusCode.INVALID_ARGUMENT,
                details: ErrorDetails | None = None) -> None:
        failure = GoogleAdsFailure(errors=[GoogleAdsError(error_code=code, message=message, details=details)],
                                   request_id=f"fake-{len(self.requests)}")
        context.set_trailing_metadata(((FAILURE_KEY, GoogleAdsFailure.serialize(failure)),))
        context.abort(status, message)

    # -- search ---------------------------------------------------------------------------
    def _search_stream(self, request: SearchGoogleAdsStreamRequest, context):
        customer = self._enter("SearchStream", request.customer_id, context, {"query": request.query})
        m = _QUERY.match(request.query.strip())
        if m is None:
            self._refuse(context, ErrorCode(request_error=RequestErrorEnum.RequestError.UNKNOWN),
                         f"unparseable query {request.query!r}")
        fields = [f.strip() for f in m.group(1).split(",")]
        resource, key = m.group(2), m.group(3)
        wanted = {v.strip().strip("'\"") for v in (m.group(4) or m.group(5)).split(",")}
        rows = [row for row in self._rows(customer, resource) if str(_get(row, key)) in wanted]
        yield SearchGoogleAdsStreamResponse(results=rows, field_mask=field_mask_pb2.FieldMask(paths=fields),
                                            request_id=f"req-{len(self.requests)}")

    def _rows(self, c: FakeCustomer, resource: str) -> list[GoogleAdsRow]:
        cust = Customer(id=int(c.customer_id), currency_code=c.currency)
        cid = c.customer_id
        with self._lock:
            if resource == "campaign":
                out = []
                for camp_id, camp in c.campaigns.items():
                    b = c.budgets.get(camp["budget"]) if camp.get("budget") else None
                    budget = CampaignBudget() if b is None else CampaignBudget(
                        resource_name=f"customers/{cid}/campaignBudgets/{camp['budget']}",
                        amount_micros=b["amount_micros"], period=BudgetPeriodEnum.BudgetPeriod[b["period"]],
                        explicitly_shared=b["shared"])
                    out.append(GoogleAdsRow(customer=cust, campaign_budget=budget, campaign=Campaign(
                        resource_name=f"customers/{cid}/campaigns/{camp_id}", id=int(camp_id),
                        status=CampaignStatusEnum.CampaignStatus[camp["status"]],
                        campaign_budget=budget.resource_name)))
                return out
            if resource == "ad_group":
                return [GoogleAdsRow(customer=cust, ad_group=AdGroup(
                    resource_name=f"customers/{cid}/adGroups/{gid}", id=int(gid),
                    status=AdGroupStatusEnum.AdGroupStatus[g["status"]])) for gid, g in c.ad_groups.items()]
            if resource == "ad_group_ad":
                return [GoogleAdsRow(customer=cust, ad_group=AdGroup(id=int(gid)), ad_group_ad=AdGroupAd(
                    resource_name=f"customers/{cid}/adGroupAds/{gid}~{aid}", ad=Ad(id=int(aid)),
                    status=AdGroupAdStatusEnum.AdGroupAdStatus[a["status"]])) for (gid, aid), a in c.ads.items()]
        return []

    # -- mutates ----------------------------------------------------------------------------
    def _mutate_handler(self, method: str, response_type):
        def handle(request, context):
            ops = [{"resource_name": op.update.resource_name, "mask": list(op.update_mask.paths),
                    "status": getattr(op.update, "status", None) and op.update.status.name,
                    "amount_micros": getattr(op.update, "amount_micros", None)} for op in request.operations]
            customer = self._enter(method, request.customer_id, context, {
                "validate_only": request.validate_only, "partial_failure": request.partial_failure,
                "operations": ops})
            changes = [self._check(customer, method, op, context) for op in ops]
            if not request.validate_only:
                with self._lock:
                    for target, change in changes:
                        target.update(change)
            results = [] if request.validate_only else [{"resource_name": op["resource_name"]} for op in ops]
            return response_type(results=results)
        return handle

    def _check(self, c: FakeCustomer, method: str, op: dict, context) -> tuple[dict, dict]:
        kind = {"MutateCampaignBudgets": "campaignBudgets", "MutateCampaigns": "campaigns",
                "MutateAdGroups": "adGroups", "MutateAdGroupAds": "adGroupAds"}[method]
        m = _RESOURCE[kind].match(op["resource_name"])
        target = None
        if m and m.group(1) == c.customer_id:
            key = m.group(2) if kind != "adGroupAds" else (m.group(2), m.group(3))
            target = {"campaignBudgets": c.budgets, "campaigns": c.campaigns, "adGroups": c.ad_groups,
                      "adGroupAds": c.ads}[kind].get(key)
        if target is None:
            self._refuse(context, ErrorCode(mutate_error=MutateErrorEnum.MutateError.RESOURCE_NOT_FOUND),
                         f"Resource was not found: {op['resource_name']}")
        settable = "amount_micros" if kind == "campaignBudgets" else "status"
        if not op["mask"] or set(op["mask"]) - {"resource_name", settable}:
            self._refuse(context, ErrorCode(field_mask_error=FieldMaskErrorEnum.FieldMaskError.FIELD_NOT_FOUND),
                         f"update_mask {op['mask']} must name only {settable}")
        if kind == "campaignBudgets":
            unit = 10_000 if c.currency not in ("JPY", "KRW") else 1_000_000
            micros = op["amount_micros"]
            if micros <= 0 or micros % unit:
                self._refuse(context, ErrorCode(campaign_budget_error=CampaignBudgetErrorEnum.CampaignBudgetError
                                                .NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT),
                             f"amount_micros {micros} is not a positive multiple of {unit}")
            return target, {"amount_micros": micros}
        if op["status"] not in ("ENABLED", "PAUSED", "REMOVED"):
            self._refuse(context, ErrorCode(request_error=RequestErrorEnum.RequestError.INVALID_ENUM_VALUE),
                         f"status {op['status']} is not settable")
        return target, {"status": op["status"]}


def _get(row: GoogleAdsRow, path: str):
    value = row
    for part in path.split("."):
        value = getattr(value, part)
    return value
