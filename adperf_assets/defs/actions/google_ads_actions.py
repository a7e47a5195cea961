"""Acting on Google Ads through ``google-ads`` (gRPC): read statuses and campaign budgets with GAQL,
pause / resume ads (ad group ads), ad groups and campaigns, move a campaign's daily budget.

Mutates: ``AdGroupAdService.MutateAdGroupAds``, ``AdGroupService.MutateAdGroups``,
``CampaignService.MutateCampaigns`` (``status``) and ``CampaignBudgetService.MutateCampaignBudgets``
(``amount_micros``), one update operation each with a field mask; a dry run sets the request's own
``validate_only``. RESOURCE_EXHAUSTED / UNAVAILABLE / INTERNAL / DEADLINE_EXCEEDED and quota failures are
retried through the pulls' ``Governor``; any other failure is an ``ActionResult(ok=False)`` carrying the
GoogleAdsFailure messages. More: docs/budget_actions.md, "Applying on the networks".
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from importlib import import_module
from typing import Any

import grpc
import numpy as np
import pandas as pd
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.interceptors import ExceptionInterceptor, MetadataInterceptor
from google.api_core import protobuf_helpers
from pydantic import Field, PrivateAttr

from adperf_assets.actions.plan import ACTIVE, PAUSED, STATE_COLUMNS
from adperf_assets.defs.actions.networks import ActionResult, AdActions
from adperf_assets.defs.common import redaction
from adperf_assets.defs.common.throttle import Governor, attempts_of
from adperf_assets.defs.spend.google_ads import (
    _LOOPBACK_HOSTS,
    ADWORDS_SCOPE,
    DEFAULT_API_VERSION,
    TOKEN_URI,
    _Classifier,
    _digits,
    row_to_dict,
)
from adperf_assets.defs.spend.network import GovernedClient
from adperf_assets.normalize.fx import minor_unit_digits

log = logging.getLogger(__name__)
redaction.install()

MICROS = 1_000_000
#: Google Ads status names <-> the planner's (ACTIVE / PAUSED); REMOVED and others pass through.
FROM_GOOGLE = {"ENABLED": ACTIVE}
TO_GOOGLE = {"pause": "PAUSED", "resume": "ENABLED"}
STATUS_AFTER = {"pause": PAUSED, "resume": ACTIVE}
BUDGET_ACTIONS = ("raise_budget", "lower_budget", "set_budget")
_BUDGET_NAME = re.compile(r"^customers/(\d+)/campaignBudgets/(\d+)$")
_AD_NAME = re.compile(r"^customers/(\d+)/adGroupAds/(\d+)~(\d+)$")


class _Mutate:
    """How one level's status is changed: service, its module, the rpc method, operation and enum."""

    def __init__(self, service: str, module: str, method: str, operation: str, resource_module: str, enum: str):
        self.service, self.module, self.method = service, module, method
        self.operation, self.resource_module, self.enum = operation, resource_module, enum


STATUS_MUTATES = {
    "ad": _Mutate("AdGroupAdService", "ad_group_ad_service", "mutate_ad_group_ads", "AdGroupAdOperation",
                  "ad_group_ad_status", "AdGroupAdStatusEnum"),
    "ad_group": _Mutate("AdGroupService", "ad_group_service", "mutate_ad_groups", "AdGroupOperation",
                        "ad_group_status", "AdGroupStatusEnum"),
    "campaign": _Mutate("CampaignService", "campaign_service", "mutate_campaigns", "CampaignOperation",
                        "campaign_status", "CampaignStatusEnum"),
}
BUDGET_MUTATE = _Mutate("CampaignBudgetService", "campaign_budget_service", "mutate_campaign_budgets",
                        "CampaignBudgetOperation", "", "")

AD_FIELDS = ["ad_group_ad.resource_name", "ad_group_ad.status", "ad_group.id", "ad_group_ad.ad.id",
             "customer.currency_code"]
AD_GROUP_FIELDS = ["ad_group.id", "ad_group.status", "customer.currency_code"]
CAMPAIGN_FIELDS = ["campaign.id", "campaign.status", "campaign_budget.resource_name", "campaign_budget.amount_micros",
                   "campaign_budget.period", "campaign_budget.explicitly_shared", "customer.currency_code"]


class GoogleAdsActionError(RuntimeError):
    """The state could not be read (credentials, permissions, retries exhausted); secrets redacted."""


class GoogleAdsAdActions(GovernedClient, AdActions):
    """Google Ads objects (ad group ads, ad groups, campaigns and their budgets) read and changed with
    ``google-ads``. Credentials as ``GoogleAdsResource`` (EnvVar in production); tests use
    ``endpoint='127.0.0.1:PORT', insecure_endpoint=True`` against a fake gRPC server."""

    developer_token: str = Field(description="From EnvVar('GOOGLE_ADS_DEVELOPER_TOKEN').")
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    login_customer_id: str | None = None
    api_version: str = DEFAULT_API_VERSION
    endpoint: str | None = Field(default=None, description="host:port override (a loopback fake in tests).")
    insecure_endpoint: bool = Field(default=False, description="Plaintext gRPC to a loopback endpoint (tests only).")
    request_timeout_s: float = 60.0
    min_request_interval_s: float = 0.2
    max_retries: int = Field(default=4, description="Retries of a transient / quota failure before giving up.")
    backoff_max_s: float = 120.0
    allow_shared_budgets: bool = Field(
        default=False, description="Change a budget explicitly shared by several campaigns (it moves all of them).")

    _gov: Any = PrivateAttr(default=None)
    _services: dict = PrivateAttr(default_factory=dict)
    _channel: Any = PrivateAttr(default=None)
    _client: Any = PrivateAttr(default=None)

    def with_clock(self, sleep: Callable[[float], None], clock: Callable[[], float] | None = None, seed: int = 0):
        """Inject sleep/clock (tests); returns self (the next call's governor uses them)."""
        self._gov = None
        return super().with_clock(sleep, clock, seed)

    def network(self) -> str:
        return "google_ads"

    # -- reading --------------------------------------------------------------
    def state(self, objects: pd.DataFrame) -> pd.DataFrame:
        """Rows whose ``network`` is not google_ads are ignored. Needs ``account_id`` (customer id),
        ``level``, ``object_id`` and, for ads, ``ad_group_id``
        (an ad is the ad group ad ``customers/C/adGroupAds/{ad_group_id}~{ad_id}``). Ads and ad groups:
        status only (ENABLED reads as ACTIVE); campaigns: status and their budget's ``amount_micros``
        in major units with the budget's resource name in ``ref`` (NaN budget when it is not a daily
        budget or is explicitly shared and ``allow_shared_budgets`` is off). Ads carry their ad group ad
        resource name in ``ref``. Raises :class:`GoogleAdsActionError` when the state cannot be read."""
        rows: list[dict] = []
        if "network" in objects.columns:
            objects = objects[objects["network"] == self.network()]
        for (account, level), group in objects.groupby([objects["account_id"].astype(str), "level"], sort=False):
            cid = _digits(account)
            ids = sorted({str(v) for v in group["object_id"]})
            if level == "ad":
                if "ad_group_id" not in group.columns or group["ad_group_id"].isna().any():
                    raise ValueError("Google Ads ad state needs ad_group_id for every ad (the ad group ad is "
                                     "ad_group_id~ad_id)")
                names = sorted({f"customers/{cid}/adGroupAds/{g}~{a}" for g, a in
                                zip(group["ad_group_id"].astype(str), group["object_id"].astype(str))})
                for part in _chunks(names):
                    found = self._search(cid, AD_FIELDS, "ad_group_ad",
                                         f"ad_group_ad.resource_name IN ({', '.join(repr(n) for n in part)})")
                    rows += [self._row(level, str(r["ad_group_ad.ad.id"]), r["ad_group_ad.status"], np.nan,
                                       r["customer.currency_code"], r["ad_group_ad.resource_name"]) for r in found]
            elif level == "ad_group":
                for part in _chunks(ids):
                    found = self._search(cid, AD_GROUP_FIELDS, "ad_group", _in("ad_group.id", part))
                    rows += [self._row(level, str(r["ad_group.id"]), r["ad_group.status"], np.nan,
                                       r["customer.currency_code"], "") for r in found]
            elif level == "campaign":
                for part in _chunks(ids):
                    for r in self._search(cid, CAMPAIGN_FIELDS, "campaign", _in("campaign.id", part)):
                        usable = r["campaign_budget.period"] == "DAILY" and (
                            self.allow_shared_budgets or not r["campaign_budget.explicitly_shared"])
                        budget = (float(Decimal(r["campaign_budget.amount_micros"]) / MICROS)
                                  if usable and r["campaign_budget.amount_micros"] else np.nan)
                        rows.append(self._row(level, str(r["campaign.id"]), r["campaign.status"], budget,
                                              r["customer.currency_code"], r["campaign_budget.resource_name"]))
        return pd.DataFrame(rows, columns=[*STATE_COLUMNS, "ref"])

    # -- changing -------------------------------------------------------------
    def apply(self, action: dict, validate_only: bool) -> ActionResult:
        """One update operation (status, or a campaign budget's ``amount_micros``) with a field mask;
        ``validate_only`` is the request's own flag (the API validates, changes nothing, returns no
        results)."""
        gov = self._governor()
        try:
            cid = _digits(str(action.get("account_id") or ""))
            mutate, op, what = self._operation(cid, action)
            service = self._service(mutate)
        except (_Refused, ValueError, KeyError, TypeError) as exc:
            return self._result(False, f"not sent: {exc}", 0, validate_only, action)
        sent = f"{mutate.service}.{mutate.method} customer {cid} {what}" + (" validate_only" if validate_only else "")
        request = {"customer_id": cid, "operations": [op], "validate_only": bool(validate_only)}
        start = gov.requests_made
        try:
            resp = gov.call(lambda: getattr(service, mutate.method)(request=request, timeout=self.request_timeout_s))
        except Exception as exc:  # refusal or exhausted retries: reported, never raised
            attempts = max(attempts_of(exc), gov.requests_made - start)
            return self._result(False, f"{sent} failed after {attempts} attempt(s): {self._clf().describe(exc)}",
                                attempts, validate_only, action)
        attempts = gov.requests_made - start
        names = [r.resource_name for r in resp.results]
        ok = validate_only or (len(names) == 1 and bool(names[0]))  # validate-only: no error is the answer
        answer = f"{sent} -> " + (f"results {names}" if names else "validated, no results (nothing changed)"
                                  if validate_only else "no result")
        return self._result(ok, answer, attempts, validate_only, action)

    # -- internals --------------------------------------------------------------
    def _operation(self, cid: str, action: dict) -> tuple[_Mutate, Any, str]:
        level, kind, oid = action.get("level"), action.get("action"), str(action.get("object_id") or "").strip()
        if not oid.isdigit():
            raise ValueError(f"object_id {oid!r} is not a Google Ads id")
        if kind in TO_GOOGLE:
            if level not in STATUS_MUTATES:
                raise ValueError(f"level {level!r} is not one of {sorted(STATUS_MUTATES)}")
            if action.get("status_after") not in (None, STATUS_AFTER[kind]):
                raise ValueError(f"{kind} with status_after {action.get('status_after')!r}")
            mutate = STATUS_MUTATES[level]
            if level == "ad":
                name = self._ad_group_ad(cid, oid, str(action.get("ref") or ""))
            elif level == "ad_group":
                name = f"customers/{cid}/adGroups/{oid}"
            else:
                name = f"customers/{cid}/campaigns/{oid}"
            op = self._type(mutate, mutate.operation)
            op.update.resource_name = name
            enum = getattr(import_module(f"google.ads.googleads.{self.api_version}.enums.types.{mutate.resource_module}"),
                           mutate.enum)
            op.update.status = getattr(enum, mutate.enum.removesuffix("Enum"))[TO_GOOGLE[kind]]
            _mask(op)
            return mutate, op, f"{name} status={TO_GOOGLE[kind]}"
        if kind in BUDGET_ACTIONS:
            if level != "campaign":
                raise ValueError(f"a Google Ads {level} holds no budget (its campaign's budget does)")
            budget = action.get("budget_after")
            if budget is None or not math.isfinite(float(budget)) or float(budget) <= 0:
                raise ValueError(f"budget_after {budget!r} is not a positive amount")
            name, currency = self._campaign_budget(cid, oid, str(action.get("ref") or ""))
            if action.get("currency") and str(action["currency"]).upper() != currency:
                raise ValueError(f"the action is in {action['currency']} but the customer's currency is {currency}")
            digits = minor_unit_digits(currency)
            amount = Decimal(str(float(budget))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
            micros = int(amount * MICROS)
            op = self._type(BUDGET_MUTATE, BUDGET_MUTATE.operation)
            op.update.resource_name = name
            op.update.amount_micros = micros
            _mask(op)
            return BUDGET_MUTATE, op, f"{name} amount_micros={micros}"
        raise ValueError(f"unknown action {kind!r}")

    def _ad_group_ad(self, cid: str, ad_id: str, ref: str) -> str:
        m = _AD_NAME.match(ref)
        if m and m.group(1) == cid and m.group(3) == ad_id:
            return ref
        found = self._lookup(cid, ["ad_group_ad.resource_name"], "ad_group_ad", f"ad_group_ad.ad.id = {ad_id}")
        if len(found) != 1:
            raise _Refused(f"ad {ad_id}: {len(found)} ad group ads in customer {cid} (pass its resource name in ref)")
        return found[0]["ad_group_ad.resource_name"]

    def _campaign_budget(self, cid: str, campaign_id: str, ref: str) -> tuple[str, str]:
        found = self._lookup(cid, CAMPAIGN_FIELDS, "campaign", f"campaign.id = {campaign_id}")
        if len(found) != 1:
            raise _Refused(f"campaign {campaign_id} not found in customer {cid}")
        r = found[0]
        name = r["campaign_budget.resource_name"]
        if not _BUDGET_NAME.match(name or ""):
            raise _Refused(f"campaign {campaign_id} has no campaign budget")
        if ref and ref != name:
            raise _Refused(f"campaign {campaign_id}'s budget is now {name}, not {ref} (read the state again)")
        if r["campaign_budget.period"] != "DAILY":
            raise _Refused(f"campaign {campaign_id}'s budget {name} is not a daily budget")
        if r["campaign_budget.explicitly_shared"] and not self.allow_shared_budgets:
            raise _Refused(f"budget {name} is shared by several campaigns; changing it moves all of them "
                           "(allow_shared_budgets is off)")
        return name, r["customer.currency_code"]

    def _lookup(self, cid: str, fields: list[str], resource: str, where: str) -> list[dict]:
        try:
            return self._search(cid, fields, resource, where)
        except GoogleAdsActionError as exc:
            raise _Refused(f"reading {resource}: {exc}") from None

    def _search(self, cid: str, fields: list[str], resource: str, where: str) -> list[dict]:
        service = self._service(None)
        query = f"SELECT {', '.join(fields)} FROM {resource} WHERE {where}"

        def run() -> list[dict]:
            out: list[dict] = []
            for batch in service.search_stream(customer_id=cid, query=query, timeout=self.request_timeout_s):
                out.extend(row_to_dict(r, fields) for r in batch.results)
            return out

        try:
            return self._governor().call(run)
        except Exception as exc:
            raise GoogleAdsActionError(self._redact(f"customer {cid}: {self._clf().describe(exc)}")) from None

    def _row(self, level: str, oid: str, status: str, budget: float, currency: str, ref: str) -> dict:
        return {"network": self.network(), "level": level, "object_id": oid,
                "status": FROM_GOOGLE.get(str(status), str(status)), "daily_budget": budget,
                "currency": str(currency), "ref": ref}

    def _result(self, ok: bool, answer: str, attempts: int, validate_only: bool, action: dict) -> ActionResult:
        answer = self._redact(answer)
        log.log(logging.INFO if ok else logging.WARNING, "google_ads %s %s %s%s: %s", action.get("action"),
                action.get("level"), action.get("object_id"), " (validate only)" if validate_only else "", answer)
        return ActionResult(ok=ok, answer=answer, attempts=attempts, validated_only=validate_only)

    def _redact(self, text: str) -> str:
        return redaction.redact(text, secrets=[self.developer_token, self.client_secret, self.refresh_token])

    def _clf(self) -> _Classifier:
        return _Classifier(self.api_version)

    def _governor(self) -> Governor:
        if self._gov is None:
            clf = self._clf()
            self._gov = self.governor(clf.is_retryable, clf.retry_after)
        return self._gov

    def _type(self, mutate: _Mutate, name: str) -> Any:
        return getattr(import_module(f"google.ads.googleads.{self.api_version}.services.types.{mutate.module}"), name)()

    def _service(self, mutate: _Mutate | None) -> Any:
        name, module = (mutate.service, mutate.module) if mutate else ("GoogleAdsService", "google_ads_service")
        if name in self._services:
            return self._services[name]
        login = _digits(self.login_customer_id) if self.login_customer_id else None
        if not self.insecure_endpoint:
            if self._client is None:
                self._client = GoogleAdsClient(
                    credentials=self._credentials(), developer_token=self.developer_token, endpoint=self.endpoint,
                    login_customer_id=login, version=self.api_version, use_proto_plus=True)
            service = self._client.get_service(name)
        else:
            if not self.endpoint:
                raise ValueError("insecure_endpoint needs endpoint='127.0.0.1:PORT'")
            host = self.endpoint.rsplit(":", 1)[0]
            if host not in _LOOPBACK_HOSTS:
                raise ValueError(f"insecure_endpoint is only allowed for loopback hosts, not {host!r}")
            if self._channel is None:
                self._channel = grpc.intercept_channel(
                    grpc.insecure_channel(self.endpoint), MetadataInterceptor(self.developer_token, login, None),
                    ExceptionInterceptor(self.api_version, use_proto_plus=True))
            mod = import_module(f"google.ads.googleads.{self.api_version}.services.services.{module}")
            transport = getattr(mod.transports, f"{name}GrpcTransport")(channel=self._channel)
            service = getattr(mod, f"{name}Client")(transport=transport)
        self._services[name] = service
        return service

    def _credentials(self) -> Any:
        if not (self.client_id and self.client_secret and self.refresh_token):
            raise ValueError("Google Ads needs client_id, client_secret and refresh_token (OAuth installed-app flow)")
        from google.oauth2.credentials import Credentials

        return Credentials(None, refresh_token=self.refresh_token, client_id=self.client_id,
                           client_secret=self.client_secret, token_uri=TOKEN_URI, scopes=[ADWORDS_SCOPE])


class _Refused(Exception):
    """An action not sent: what it needs could not be read or is not safe to change."""


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    """GAQL IN lists of bounded length (one query per chunk)."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _in(field: str, ids: list[str]) -> str:
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise ValueError(f"{field}: ids must be digits, got {bad[:3]}")
    return f"{field} IN ({', '.join(ids)})"


def _mask(op: Any) -> None:
    """The update mask from the fields set (as the official examples build it)."""
    op.update_mask = protobuf_helpers.field_mask(None, type(op.update).pb(op.update))
