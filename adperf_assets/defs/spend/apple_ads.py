"""Apple Ads (Search Ads) client on the Apple Ads Platform API with ``requests``: daily keyword rows per ad
account, in the account's time zone and currency.

The Platform API (``api.ads.apple.com/v1``) succeeds Campaign Management API v5, which Apple retires on
2027-01-26. No maintained Python client fits: ``apple-ads-platform`` and the Platform-API releases of
``apple-search-ads-client`` need Python >= 3.12/3.13 (ours is 3.11), and the 3.11 ones speak v5 only.
Auth is OAuth2 client credentials whose client secret is an ES256-signed JWT. More: docs/networks.md."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from decimal import Decimal
from typing import Any, Optional

import dagster as dg
import jwt
import requests
from pydantic import Field, PrivateAttr

from adperf_assets.defs.common.throttle import AdsPull, AdsPullError, attempts_of, describe_error, unwrap
from adperf_assets.defs.spend.network import GovernedSource, Network, SpendSource, as_date
from adperf_assets.defs.spend.sample_ads import SampleSource
from adperf_assets.normalize.apple_ads import APPLE_ADS, ROW_FIELDS, SEARCH_MATCH, apple_ads_hourly  # noqa: F401
from adperf_assets.sample import layout
from adperf_assets.sample.revisions import revise_apple_ads_rows

API_URL = "https://api.ads.apple.com/v1"
TOKEN_URL = "https://appleid.apple.com/auth/oauth2/token"
AUDIENCE = "https://appleid.apple.com"
#: v5's scope; Apple's Platform API pages do not name another (unverified for the Platform API)
SCOPE = "searchadsorg"
#: the fields each report is asked for
FIELDS = ["impressions", "taps", "totalInstalls", "localSpend"]


def client_secret(client_id: str, team_id: str, key_id: str, private_key: str, now: float | None = None,
                  lifetime_s: int = 3600) -> str:
    """The ES256 JWT Apple takes as the OAuth client secret (claims per Apple's OAuth guide; at most 180 days)."""
    iat = int(time.time() if now is None else now)
    claims = {"sub": client_id, "iss": team_id, "aud": AUDIENCE, "iat": iat, "exp": iat + lifetime_s}
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": key_id})


class AppleAdsHttpError(Exception):
    """A non-2xx answer of the API or the token endpoint."""

    def __init__(self, what: str, response: requests.Response):
        self.status = response.status_code
        self.headers = dict(response.headers)
        super().__init__(f"{what}: HTTP {response.status_code}: {response.text[:300]}")


class BrokenPage(Exception):
    """A 200 answer without the rows or pagination the API documents."""


def is_retryable(exc: BaseException) -> bool:
    """429 (rate limit), 5xx, dropped connections and broken pages; 401 once (the token may have expired)."""
    if isinstance(exc, AppleAdsHttpError):
        return exc.status in (401, 429) or exc.status >= 500
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, BrokenPage))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from ``Retry-After`` or ``RateLimit-Reset`` on a 429."""
    if isinstance(exc, AppleAdsHttpError) and exc.status == 429:
        headers = {k.lower(): v for k, v in exc.headers.items()}
        for name in ("retry-after", "ratelimit-reset"):
            value = headers.get(name, "").strip()
            if re.fullmatch(r"\d+(\.\d+)?", value):
                return float(value)
    return None


class AppleAdsSource(SpendSource):
    """What the spend assets need from Apple Ads; the real API client and the sample world implement it.

    ``pull_rows`` answers one row per keyword (or ad group search match) and org-local day (``ROW_FIELDS``)."""


class AppleAdsResource(GovernedSource, AppleAdsSource):
    """Apple Ads Platform API: campaign, ad group and keyword reports (DAILY, the account's zone, ``ORTZ``)."""

    client_id: str
    team_id: str
    key_id: str
    private_key: str = Field(description="The PEM of the ES256 key whose public half is uploaded to Apple Ads.")
    ad_account_ids: list[str] = Field(description="Ad account ids; entries are also split on commas.")
    api_url: str = Field(default=API_URL, description="API base (a loopback fake in tests).")
    token_url: str = Field(default=TOKEN_URL, description="OAuth token endpoint (a loopback fake in tests).")
    scope: str = SCOPE
    page_size: int = 1000
    request_timeout_s: float = 120.0
    min_request_interval_s: float = 0.5

    _token: Optional[tuple[str, float]] = PrivateAttr(default=None)

    def account_id_list(self) -> list[str]:
        return [p.strip() for entry in self.ad_account_ids for p in str(entry).split(",") if p.strip()]

    # -- auth -------------------------------------------------------------------
    def access_token(self, session: requests.Session) -> str:
        """A cached access token, fetched with a fresh client-secret JWT when missing or about to expire."""
        now = self._clock()
        if self._token is not None and self._token[1] > now:
            return self._token[0]
        secret = client_secret(self.client_id, self.team_id, self.key_id, self.private_key)
        resp = session.post(self.token_url, data={"grant_type": "client_credentials", "client_id": self.client_id,
                                                  "client_secret": secret, "scope": self.scope},
                            timeout=self.request_timeout_s)
        if resp.status_code != 200:
            raise AppleAdsHttpError("token request refused", resp)
        body = resp.json()
        self._token = (body["access_token"], now + max(0.0, float(body.get("expires_in", 3600)) - 60))
        return self._token[0]

    def _call(self, session: requests.Session, method: str, path: str, account_id: str,
              body: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.access_token(session)}", "X-AP-Context": f"adAccountId={account_id}"}
        resp = session.request(method, f"{self.api_url.rstrip('/')}/{path.lstrip('/')}", json=body, headers=headers,
                               timeout=self.request_timeout_s)
        if resp.status_code == 401:
            self._token = None  # fetched again on the retry
        if not 200 <= resp.status_code < 300:
            raise AppleAdsHttpError(f"{method} {path}", resp)
        try:
            return resp.json()
        except ValueError:
            raise BrokenPage(f"{method} {path}: not JSON: {resp.text[:200]}") from None

    # -- the SpendSource ----------------------------------------------------------
    def accounts(self) -> list[dict]:
        """``[{"account_id", "name", "currency", "timezone_name"}]`` from ``GET /ad-accounts/{id}``."""
        gov = self.governor(is_retryable, retry_after)
        out = []
        with requests.Session() as session:
            for aid in self.account_id_list():
                try:
                    acc = gov.call(lambda: self._call(session, "GET", f"ad-accounts/{aid}", aid))["result"]
                except Exception as exc:
                    raise AdsPullError("Apple Ads", aid, None, None, describe(exc), attempts_of(exc)) from None
                out.append({"account_id": aid, "name": acc.get("name") or "", "currency": acc["currency"],
                            "timezone_name": acc["timezone"]})
        return out

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        """Keyword rows per org-local day of every campaign, plus each ad group's search-match remainder
        (its spend no keyword carries); complete or :class:`AdsPullError`."""
        since, until = as_date(since), as_date(until)
        if until < since:
            raise ValueError(f"until {until} is before since {since}")
        gov = self.governor(is_retryable, retry_after)
        aid = str(account_id)
        try:
            with requests.Session() as session:
                def report(level: str, campaign_id: str | None = None) -> list[dict]:
                    return self._report(session, gov, aid, level, since, until, campaign_id)

                rows: list[dict] = []
                for campaign in report("campaigns"):
                    cmeta = campaign["metadata"]
                    cid = str(cmeta["id"])
                    groups = {str(g["metadata"]["id"]): g for g in report("adgroups", cid)}
                    keywords = report("keywords", cid)
                    rows.extend(_flatten(aid, cmeta, groups, keywords, since, until))
        except Exception as exc:
            raise AdsPullError("Apple Ads", aid, since, until, describe(exc), attempts_of(exc)) from None
        return AdsPull(rows=rows, retries_made=gov.retries_made, requests_made=gov.requests_made)

    def _report(self, session: requests.Session, gov: Any, aid: str, level: str, since: date, until: date,
                campaign_id: str | None) -> list[dict]:
        """Every page of one report (``offset`` += ``pageSize`` until ``totalCount``)."""
        rows: list[dict] = []
        offset = 0
        while True:
            body = {"fields": FIELDS,
                    "timeRange": {"start": since.isoformat(), "end": until.isoformat(), "timeZone": "ORTZ",
                                  "granularity": "DAILY"},
                    "pagination": {"offset": offset, "pageSize": self.page_size, "fetchTotalCount": True}}
            if campaign_id is not None:
                body["filters"] = [{"field": "campaignId", "operator": "EQUALS", "value": [campaign_id]}]
            out = gov.call(lambda: _page(self._call(session, "POST", f"reports/apps/{level}/query", aid, body), level))
            page, total = out
            rows.extend(page)
            offset += self.page_size
            if offset >= total or not page:
                return rows


def _page(out: dict, level: str) -> tuple[list[dict], int]:
    rows = ((out or {}).get("result") or {}).get("rows")
    total = ((out or {}).get("pagination") or {}).get("totalCount")
    if not isinstance(rows, list) or not isinstance(total, int):
        raise BrokenPage(f"{level} report page without result.rows/pagination.totalCount: {str(out)[:200]}")
    return rows, total


def _metrics(m: dict) -> dict:
    return {"impressions": int(m.get("impressions") or 0), "taps": int(m.get("taps") or 0),
            "totalInstalls": int(m.get("totalInstalls") or 0), "localSpend": m.get("localSpend")}


def _flatten(aid: str, cmeta: dict, groups: dict[str, dict], keywords: list[dict], since: date,
             until: date) -> list[dict]:
    """Report rows → one row per keyword and day, and per ad group and day the part no keyword carries."""
    lo, hi = since.isoformat(), until.isoformat()
    base = {"adAccountId": aid, "campaignId": str(cmeta["id"]), "campaignName": cmeta.get("name") or "",
            "objective": cmeta.get("promotedObjectType") or ""}
    out: list[dict] = []
    carried: dict[tuple[str, str], dict] = {}
    for kw in keywords:
        meta = kw["metadata"]
        gid = str(meta["adGroupId"])
        for day in kw.get("granularMetrics") or []:
            if not lo <= str(day["date"]) <= hi:
                raise ValueError(f"keyword {meta['id']}: day {day['date']} outside {lo}..{hi}")
            row = {**base, "adGroupId": gid, "adGroupName": (groups.get(gid) or {}).get("metadata", {}).get("name", ""),
                   "keywordId": str(meta["id"]), "keyword": meta.get("text") or "",
                   "matchType": meta.get("matchType") or "", "date": str(day["date"]), **_metrics(day)}
            out.append(row)
            acc = carried.setdefault((gid, row["date"]), {"impressions": 0, "taps": 0, "totalInstalls": 0, "spend": []})
            for f in ("impressions", "taps", "totalInstalls"):
                acc[f] += row[f]
            acc["spend"].append(row["localSpend"])
    for gid, group in groups.items():
        for day in group.get("granularMetrics") or []:
            m = _metrics(day)
            acc = carried.get((gid, str(day["date"])), {"impressions": 0, "taps": 0, "totalInstalls": 0, "spend": []})
            spend = m["localSpend"] or {"amount": "0", "currency": ""}
            rest = _minus(spend, acc["spend"])
            counts = {f: m[f] - acc[f] for f in ("impressions", "taps", "totalInstalls")}
            if Decimal(rest["amount"]) == 0 and not any(counts.values()):
                continue
            out.append({**base, "adGroupId": gid, "adGroupName": group["metadata"].get("name") or "",
                        "keywordId": f"{gid}-{SEARCH_MATCH}", "keyword": "(search match)", "matchType": "SEARCH_MATCH",
                        "date": str(day["date"]), **counts, "localSpend": rest})
    return out


def _minus(total: dict, parts: list[dict]) -> dict:
    """``total`` − ``parts`` as a decimal string in the same currency (exact: string decimals)."""
    amount = Decimal(str(total["amount"])) - sum((Decimal(str(p["amount"])) for p in parts), Decimal(0))
    return {"amount": str(amount), "currency": total["currency"]}


def describe(exc: BaseException) -> str:
    return describe_error(unwrap(exc))


class SampleAppleAds(SampleSource, AppleAdsSource):
    """Apple Ads accounts of the sample world (``apple_ads/keywords/<account>/<local day>.json.gz``)."""

    def accounts(self) -> list[dict]:
        path = layout.apple_ads_accounts(self.world.root())
        if not path.exists():
            return []  # a world that does not buy on Apple Ads
        return [{"account_id": str(a["id"]), "name": a["name"], "currency": a["currency"],
                 "timezone_name": a["timezone"]} for a in json.loads(path.read_text())]

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        if str(account_id) not in {a["account_id"] for a in self.accounts()}:
            raise AdsPullError("Apple Ads", str(account_id), as_date(since), as_date(until),
                               "not an ad account of the sample world (apple_ads/accounts.json)", 1)
        root = self.world.root()
        return self.read_days("Apple Ads", str(account_id), since, until,
                              lambda d: layout.apple_ads_report(root, str(account_id), d), revise_apple_ads_rows)


NETWORK = Network(
    name=APPLE_ADS,
    label="Apple Ads",
    resource_key="apple_ads",
    real=lambda settings: AppleAdsResource(
        client_id=dg.EnvVar("APPLE_ADS_CLIENT_ID"),
        team_id=dg.EnvVar("APPLE_ADS_TEAM_ID"),
        key_id=dg.EnvVar("APPLE_ADS_KEY_ID"),
        private_key=dg.EnvVar("APPLE_ADS_PRIVATE_KEY"),
        ad_account_ids=[dg.EnvVar("APPLE_ADS_AD_ACCOUNT_IDS")],
    ),
    sample=lambda world, settings: SampleAppleAds(world=world),
    to_frame=apple_ads_hourly,
    description="Apple Ads keyword rows (Platform API keyword and ad group reports, DAILY in the ad account's time"
                " zone, its currency) per report day; the ad is the keyword (or the ad group's search match),"
                " installs are ``totalInstalls``; a day is spread evenly over its hours before re-bucketing.",
    env_vars=("APPLE_ADS_CLIENT_ID", "APPLE_ADS_TEAM_ID", "APPLE_ADS_KEY_ID", "APPLE_ADS_PRIVATE_KEY",
              "APPLE_ADS_AD_ACCOUNT_IDS"),
)
