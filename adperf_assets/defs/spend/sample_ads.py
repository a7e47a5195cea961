"""The sample world's Facebook and Google Ads: the real clients' interface, files instead of APIs.

More: docs/dagster_layer.md."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Optional

from pydantic import Field

from adperf_assets.defs.spend.facebook import FacebookAdsSource
from adperf_assets.defs.spend.google_ads import GoogleAdsSource
from adperf_assets.defs.common.throttle import AdsPull, AdsPullError
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import revise_facebook_rows, revise_google_rows, revision_factor

AS_OF_DESCRIPTION = (
    "The pull's 'today' (YYYY-MM-DD): days pulled soon after they happened show preliminary numbers. "
    "Default: today's date, at most the world's last day + 1."
)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _pull_as_of(world: SampleWorld, as_of: Optional[str]) -> date:
    if as_of:
        return date.fromisoformat(as_of)
    return min(date.today(), world.last_day() + timedelta(days=1))


def _read_days(
    network: str,
    account_id: str,
    since: date | str,
    until: date | str,
    path_of: Callable[[date], Path],
    revise: Callable[[list[dict], float], list[dict]],
    as_of: date,
    factors: list[float],
) -> AdsPull:
    """All rows of the account-local days ``since..until`` as seen on ``as_of``."""
    since, until = _as_date(since), _as_date(until)
    if until < since:
        raise ValueError(f"until {until} is before since {since}")
    rows: list[dict] = []
    files = 0
    day = since
    while day <= until:
        factor = revision_factor(day, as_of, factors)
        path = path_of(day)
        if factor is not None and path.exists():
            files += 1
            try:
                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    day_rows = json.load(fh)
                if not isinstance(day_rows, list):
                    raise ValueError(f"expected a JSON list of rows, got {type(day_rows).__name__}")
            except (OSError, EOFError, ValueError) as exc:
                raise AdsPullError(network, account_id, since, until, f"{path}: {exc}", 1) from None
            rows.extend(revise(day_rows, factor))
        day += timedelta(days=1)
    return AdsPull(rows=rows, retries_made=0, requests_made=files)


class SampleFacebookAds(FacebookAdsSource):
    """Facebook ad accounts of the sample world."""

    world: SampleWorld
    as_of: Optional[str] = Field(default=None, description=AS_OF_DESCRIPTION)
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
            raise AdsPullError("Facebook", f"act_{account_id}", _as_date(since), _as_date(until),
                               "not an account of the sample world (facebook/accounts.json)", 1)
        root = self.world.root()
        return _read_days(
            "Facebook", f"act_{account_id}", since, until,
            lambda d: layout.facebook_insights(root, account_id, d),
            lambda rows, f: revise_facebook_rows(rows, f, currency),
            _pull_as_of(self.world, self.as_of),
            self.world.manifest()["spend_revisions"]["factors"],
        )


class SampleGoogleAds(GoogleAdsSource):
    """Google Ads customers of the sample world."""

    world: SampleWorld
    as_of: Optional[str] = Field(default=None, description=AS_OF_DESCRIPTION)
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
            raise AdsPullError("Google Ads", customer_id, _as_date(since), _as_date(until),
                               "not a customer of the sample world (google_ads/customers.json)", 1)
        root = self.world.root()
        return _read_days(
            "Google Ads", customer_id, since, until,
            lambda d: layout.google_rows(root, customer_id, d),
            revise_google_rows,
            _pull_as_of(self.world, self.as_of),
            self.world.manifest()["spend_revisions"]["factors"],
        )
