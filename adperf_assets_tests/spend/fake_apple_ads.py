"""A fake Apple Ads Platform API and Apple's OAuth token endpoint on 127.0.0.1 (stdlib http.server).

``POST /auth/oauth2/token`` checks the client-credentials form and the client secret's ES256
signature against the uploaded public key (and its kid, sub, iss, aud, exp) like Apple does;
``GET /v1/ad-accounts/{id}`` and ``POST /v1/reports/apps/{campaigns|adgroups|keywords}/query``
answer from flat keyword-day rows (the sample world's format) with offset paging, ``Bearer`` +
``X-AP-Context`` required. ``faults`` (429 with RateLimit headers, 500, 401) are consumed in order.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adperf_assets.defs.spend.apple_ads import AUDIENCE, SEARCH_MATCH

from adperf_assets_tests.loopback import LoopbackServer

CLIENT_ID, TEAM_ID, KEY_ID = "SEARCHADS.fake-client", "SEARCHADS.fake-team", "fake-key-1"


def new_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@dataclass
class Fault:
    """status 429 (with ``headers``), 500, 401; route "report", "account" or "token"; level: the report's."""

    status: int = 429
    route: str = "report"
    level: str | None = None
    headers: dict | None = None


class FakeAppleAds(LoopbackServer):
    def __init__(self, public_key_pem: str):
        self.public_key = public_key_pem
        self.accounts: dict[str, dict] = {}  # id -> {"name", "currency", "timezone"}
        self.rows: dict[str, list[dict]] = {}  # id -> flat keyword-day rows (apple_ads.ROW_FIELDS)
        self.faults: list[Fault] = []
        self.requests: list[dict] = []
        self.tokens: set[str] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        for d in (self.accounts, self.rows, self.tokens):
            d.clear()
        self.faults.clear()
        self.requests.clear()

    # -- handling ------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0)).decode() if method == "POST" else ""
        segs = [s for s in parts.path.split("/") if s]
        if parts.path == "/auth/oauth2/token":
            route, level = "token", None
        elif segs[:2] == ["v1", "ad-accounts"] and len(segs) == 3:
            route, level = "account", None
        elif segs[:3] == ["v1", "reports", "apps"] and len(segs) == 5 and segs[4] == "query":
            route, level = "report", segs[3]
        else:
            return self._reply(h, 404, {"error": {"errors": [{"messageCode": "NOT_FOUND", "message": parts.path}]}})
        record = {"method": method, "route": route, "level": level, "path": parts.path,
                  "context": h.headers.get("X-AP-Context"), "body": raw}
        with self._lock:
            self.requests.append(record)
        fault = self._take_fault(route, level)
        if fault is not None:
            return self._reply(h, fault.status, {"error": {"errors": [{"messageCode": f"HTTP_{fault.status}",
                                                                        "message": "fault"}]}}, fault.headers)
        if route == "token":
            return self._token(h, {k: v[0] for k, v in parse_qs(raw).items()})
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return self._reply(h, 401, {"error": {"errors": [{"messageCode": "UNAUTHORIZED", "message": "Invalid token"}]}})
        context = h.headers.get("X-AP-Context", "")
        if route == "account":
            aid = segs[2]
            if context != f"adAccountId={aid}" or aid not in self.accounts:
                return self._reply(h, 403, {"error": {"errors": [{"messageCode": "FORBIDDEN", "message": aid}]}})
            return self._reply(h, 200, {"result": {"id": int(aid), **self.accounts[aid]}})
        aid = context.removeprefix("adAccountId=")
        if aid not in self.accounts:
            return self._reply(h, 403, {"error": {"errors": [{"messageCode": "FORBIDDEN", "message": context}]}})
        return self._reply(h, 200, self._report(aid, level, json.loads(raw)))

    def _token(self, h: BaseHTTPRequestHandler, form: dict) -> None:
        def refuse(why: str) -> None:
            self._reply(h, 400, {"error": "invalid_client", "error_description": why})

        if form.get("grant_type") != "client_credentials" or form.get("scope") != "searchadsorg":
            return refuse(f"grant_type/scope {form.get('grant_type')}/{form.get('scope')}")
        secret = form.get("client_secret", "")
        try:
            header = jwt.get_unverified_header(secret)
            claims = jwt.decode(secret, self.public_key, algorithms=["ES256"], audience=AUDIENCE,
                                options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.PyJWTError as exc:
            return refuse(f"client secret: {exc}")
        if header.get("kid") != KEY_ID or claims["sub"] != CLIENT_ID or claims["iss"] != TEAM_ID \
                or form.get("client_id") != CLIENT_ID:
            return refuse("client id, team id or key id do not match")
        token = uuid.uuid4().hex
        self.tokens.add(token)
        self._reply(h, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _report(self, aid: str, level: str, body: dict) -> dict:
        tr = body["timeRange"]
        assert tr["timeZone"] == "ORTZ" and tr["granularity"] == "DAILY", tr
        rows = [r for r in self.rows.get(aid, []) if tr["start"] <= r["date"] <= tr["end"]]
        for f in body.get("filters") or []:
            assert f["field"] == "campaignId" and f["operator"] == "EQUALS"
            rows = [r for r in rows if r["campaignId"] in f["value"]]
        if level in ("adgroups", "keywords") and not body.get("filters"):
            return {"error": {"errors": [{"messageCode": "INVALID", "message": "campaignId filter required"}]}}
        key, meta = {
            "campaigns": ("campaignId", lambda r: {"id": int(r["campaignId"]), "name": r["campaignName"],
                                                   "promotedObjectType": r["objective"], "adAccountId": int(aid)}),
            "adgroups": ("adGroupId", lambda r: {"id": int(r["adGroupId"]), "name": r["adGroupName"],
                                                 "campaignId": int(r["campaignId"]), "adAccountId": int(aid)}),
            "keywords": ("keywordId", lambda r: {"id": int(r["keywordId"]), "text": r["keyword"],
                                                 "matchType": r["matchType"], "campaignId": int(r["campaignId"]),
                                                 "adGroupId": int(r["adGroupId"]), "adAccountId": int(aid)}),
        }[level]
        if level == "keywords":
            rows = [r for r in rows if not str(r["keywordId"]).endswith(SEARCH_MATCH)]
        entities: dict[str, dict] = {}
        per_day: dict[str, dict[str, dict]] = defaultdict(dict)
        for r in rows:
            k = str(r[key])
            entities.setdefault(k, meta(r))
            d = per_day[k].setdefault(r["date"], {"date": r["date"], "impressions": 0, "taps": 0, "totalInstalls": 0,
                                                  "localSpend": {"amount": "0", "currency": r["localSpend"]["currency"]}})
            for f in ("impressions", "taps", "totalInstalls"):
                d[f] += int(r[f])
            d["localSpend"]["amount"] = str(Decimal(d["localSpend"]["amount"]) + Decimal(r["localSpend"]["amount"]))
        ordered = sorted(entities)
        page = body["pagination"]
        chunk = ordered[page["offset"]: page["offset"] + page["pageSize"]]
        out = [{"metadata": entities[k], "granularMetrics": [per_day[k][d] for d in sorted(per_day[k])]}
               for k in chunk]
        return {"result": {"rows": out}, "pagination": {"offset": page["offset"], "pageSize": page["pageSize"],
                                                        "totalCount": len(ordered)}}

    def _take_fault(self, route: str, level: str | None) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.route == route and (f.level is None or f.level == level):
                    return self.faults.pop(i)
        return None



def keyword_row(account: str, day: str, keyword: str, spend: str, *, campaign: str = "501", ad_group: str = "601",
                currency: str = "USD", impressions: int = 240, taps: int = 24, installs: int = 12) -> dict:
    """A flat keyword-day row (``apple_ads.ROW_FIELDS``)."""
    return {"adAccountId": account, "campaignId": campaign, "campaignName": f"Campaign {campaign}",
            "objective": "APPSTORE_APP", "adGroupId": ad_group, "adGroupName": f"Group {ad_group}",
            "keywordId": keyword, "keyword": f"kw {keyword}", "matchType": "EXACT", "date": day,
            "impressions": impressions, "taps": taps, "totalInstalls": installs,
            "localSpend": {"amount": spend, "currency": currency}}
