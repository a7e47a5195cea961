"""Acting on Facebook ads through ``facebook-business``: read status and daily budgets, pause / resume
ads, ad sets and campaigns, move an ad set's (or a CBO campaign's) daily budget.

Every call goes through the same pacing / bounded retry as the spend pulls (``Governor``, the pulls'
``is_retryable`` plus HTTP 429); a dry run sends ``execution_options=["validate_only"]``. More:
docs/budget_actions.md, "Applying on the networks".
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
from facebook_business.adobjects.ad import Ad
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from pydantic import Field, PrivateAttr

from adperf_assets.actions.plan import ACTIVE, PAUSED, STATE_COLUMNS
from adperf_assets.defs.actions.networks import ActionResult, AdActions
from adperf_assets.defs.common import redaction
from adperf_assets.defs.common.throttle import (
    NotRetryable,
    attempts_of,
    retry_after_s,
    unwrap,
)
from adperf_assets.defs.spend.facebook import (
    GRAPH_URL,
    _describe,
    _GovernedApi,
    _retry_after,
    is_retryable,
)
from adperf_assets.defs.spend.network import GovernedClient
from adperf_assets.normalize.fx import minor_unit_digits

log = logging.getLogger(__name__)
redaction.install()

#: Fields read per level: an Ad has no budget; an ad set's ``daily_budget`` and a campaign's (campaign
#: budget optimisation) are strings in the account currency's minor unit.
STATE_FIELDS = {"ad": ["id", "status"], "ad_group": ["id", "status", "daily_budget"],
                "campaign": ["id", "status", "daily_budget"]}
STATUS_ACTIONS = {"pause": PAUSED, "resume": ACTIVE}
BUDGET_ACTIONS = ("raise_budget", "lower_budget", "set_budget")
VALIDATE_ONLY = Ad.ExecutionOptions.validate_only  # "validate_only"
#: Currencies whose Facebook budget "offset" is 1 (whole units) although ISO 4217 gives them 2 decimals
#: (developers.facebook.com/docs/marketing-api/currencies, read 2026-12; not checked on a live account).
#: The other listed offsets (100, or 1 for JPY, KRW, CLP, ISK, PYG, VND) match ``minor_unit_digits``.
FACEBOOK_WHOLE_UNIT = frozenset({"COP", "CRC", "HUF", "IDR", "TWD"})
#: Graph API "object does not exist / cannot be loaded" (code 100 with this subcode).
NOT_FOUND = (100, 33)


class FacebookActionError(RuntimeError):
    """The network state could not be read (token, permissions, retries exhausted); secrets redacted."""


def _is_retryable(exc: BaseException) -> bool:
    """The pulls' policy (throttle codes 4/17/32/613/800xx, transient, 5xx, timeouts) plus HTTP 429."""
    return is_retryable(exc) or (isinstance(exc, FacebookRequestError) and exc.http_status() == 429)


def _hint(exc: BaseException) -> float | None:
    hinted = _retry_after(exc)
    if not hinted and isinstance(exc, FacebookRequestError):
        hinted = retry_after_s((exc.http_headers() or {}).get("Retry-After"))
    return hinted


class FacebookAdActions(GovernedClient, AdActions):
    """Facebook Marketing API objects (Ad, AdSet, Campaign) read and changed with ``facebook-business``."""

    access_token: str = Field(description="Graph API token with ads_management, from EnvVar('FACEBOOK_ACCESS_TOKEN').")
    graph_url: str = Field(default=GRAPH_URL, description="Graph API base URL (a loopback fake in tests).")
    api_version: str = Field(default=FacebookAdsApi.API_VERSION,
                             description="Graph API version; default: the one the installed SDK ships.")
    request_timeout_s: float = 60.0
    max_retries: int = Field(default=4, description="Retries of a throttled / 5xx call before giving up.")
    backoff_max_s: float = 120.0
    usage_slow_pct: float = 60.0
    usage_pause_pct: float = 90.0
    usage_pause_s: float = 60.0
    minor_digits: dict[str, int] = Field(
        default_factory=dict,
        description="Per-currency override of the digits budgets are sent in (default: Facebook's currency "
                    "offset table: FACEBOOK_WHOLE_UNIT, else normalize.fx.minor_unit_digits).")

    _api: Any = PrivateAttr(default=None)
    _currencies: dict = PrivateAttr(default_factory=dict)

    def with_clock(self, sleep: Callable[[float], None], clock: Callable[[], float] | None = None, seed: int = 0):
        """Inject sleep/clock (tests); returns self (the next call connects with them)."""
        self._api = None
        return super().with_clock(sleep, clock, seed)

    def network(self) -> str:
        return "facebook"

    # -- reading --------------------------------------------------------------
    def state(self, objects: pd.DataFrame) -> pd.DataFrame:
        """Needs ``account_id, level, object_id`` per row (``level`` ad / ad_group / campaign; other
        levels, and rows whose ``network`` is not facebook, are ignored). ``daily_budget`` in major units of the account currency, NaN where the
        object holds none (an ad; an ad set under a CBO campaign; a campaign without CBO).
        Raises :class:`FacebookActionError` when the state cannot be read (objects that do not exist
        are only left out)."""
        rows = []
        if "network" in objects.columns:
            objects = objects[objects["network"] == self.network()]
        for _, o in objects.iterrows():
            level, oid = str(o["level"]), str(o["object_id"])
            if level not in STATE_FIELDS:
                continue
            body = self._get(oid, STATE_FIELDS[level])
            if body is None:
                continue
            currency = self._currency(str(o["account_id"]))
            budget = np.nan
            if level != "ad" and body.get("daily_budget") not in (None, "", "0", 0):
                budget = self._major(body["daily_budget"], currency)
            rows.append({"network": self.network(), "level": level, "object_id": oid,
                         "status": str(body.get("status", "")).upper(), "daily_budget": budget,
                         "currency": currency, "ref": ""})
        return pd.DataFrame(rows, columns=[*STATE_COLUMNS, "ref"])

    # -- changing -------------------------------------------------------------
    def apply(self, action: dict, validate_only: bool) -> ActionResult:
        """POST ``status`` (pause / resume) or ``daily_budget`` in minor units (budget actions) on the
        object; with ``validate_only`` the same POST carries ``execution_options=["validate_only"]``."""
        oid = str(action.get("object_id") or "")
        try:
            params = self._params(action)
        except (ValueError, KeyError, TypeError, FacebookActionError) as exc:
            return self._result(False, f"not sent: {exc}", 0, validate_only, action)
        if validate_only:
            params["execution_options"] = [VALIDATE_ONLY]
        sent = f"POST {oid} {json.dumps(params, sort_keys=True)}"
        api = self._connect()
        before = api.governor.requests_made
        try:
            body = api.call("POST", (oid,), params=params).json()
        except Exception as exc:  # the API's refusal or exhausted retries: reported, never raised
            attempts = max(attempts_of(exc), api.governor.requests_made - before)
            return self._result(False, f"{sent} failed after {attempts} attempt(s): {_describe(exc)}", attempts,
                                validate_only, action)
        attempts = api.governor.requests_made - before
        ok = isinstance(body, dict) and body.get("success") is True
        return self._result(ok, f"{sent} -> {json.dumps(body, sort_keys=True)}", attempts, validate_only, action)

    # -- internals --------------------------------------------------------------
    def _params(self, action: dict) -> dict:
        level, kind = action.get("level"), action.get("action")
        if level not in STATE_FIELDS:
            raise ValueError(f"level {level!r} is not one of {sorted(STATE_FIELDS)}")
        if not str(action.get("object_id") or "").strip():
            raise ValueError("no object_id")
        if kind in STATUS_ACTIONS:
            status = STATUS_ACTIONS[kind]
            if action.get("status_after") not in (None, status):
                raise ValueError(f"{kind} with status_after {action.get('status_after')!r}")
            return {"status": status}
        if kind in BUDGET_ACTIONS:
            if level == "ad":
                raise ValueError("an ad holds no budget on Facebook (its ad set or campaign does)")
            budget = action.get("budget_after")
            if budget is None or not math.isfinite(float(budget)) or float(budget) <= 0:
                raise ValueError(f"budget_after {budget!r} is not a positive amount")
            currency = self._currency(str(action.get("account_id") or ""))
            if action.get("currency") and str(action["currency"]).upper() != currency:
                raise ValueError(f"the action is in {action['currency']} but the account's currency is {currency}")
            return {"daily_budget": self._minor(float(budget), currency)}
        raise ValueError(f"unknown action {kind!r}")

    def _digits(self, currency: str) -> int:
        if currency in self.minor_digits:
            return int(self.minor_digits[currency])
        return 0 if currency in FACEBOOK_WHOLE_UNIT else minor_unit_digits(currency)

    def _major(self, minor: Any, currency: str) -> float:
        return float(Decimal(str(minor)).scaleb(-self._digits(currency)))

    def _minor(self, major: float, currency: str) -> int:
        return int(Decimal(str(major)).scaleb(self._digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def _currency(self, account_id: str) -> str:
        account = account_id.strip().removeprefix("act_")
        if not account:
            raise FacebookActionError("no account_id: the account currency (budget unit) is unknown")
        if account not in self._currencies:
            body = self._get(f"act_{account}", ["currency"])
            if body is None or not body.get("currency"):
                raise FacebookActionError(f"ad account act_{account} not found or has no currency")
            self._currencies[account] = str(body["currency"]).upper()
        return self._currencies[account]

    def _get(self, node: str, fields: list[str]) -> dict | None:
        api = self._connect()
        try:
            return api.call("GET", (node,), params={"fields": ",".join(fields)}).json()
        except Exception as exc:
            inner = unwrap(exc)
            if (isinstance(exc, NotRetryable) and isinstance(inner, FacebookRequestError)
                    and (inner.api_error_code(), inner.api_error_subcode()) == NOT_FOUND):
                return None
            raise FacebookActionError(self._redact(f"reading {node}: {_describe(exc)}")) from None

    def _result(self, ok: bool, answer: str, attempts: int, validate_only: bool, action: dict) -> ActionResult:
        answer = self._redact(answer)
        log.log(logging.INFO if ok else logging.WARNING, "facebook %s %s %s%s: %s", action.get("action"),
                action.get("level"), action.get("object_id"), " (validate only)" if validate_only else "", answer)
        return ActionResult(ok=ok, answer=answer, attempts=attempts, validated_only=validate_only)

    def _redact(self, text: str) -> str:
        return redaction.redact(text, secrets=[self.access_token])

    def _connect(self) -> _GovernedApi:
        if self._api is not None:
            return self._api
        self._api = _GovernedApi.connect(self, self.governor(_is_retryable, _hint))
        return self._api
