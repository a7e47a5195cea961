"""A fake TikTok Marketing API on 127.0.0.1 (stdlib http.server in a thread).

Serves what the official SDK sends: ``GET /open_api/<v>/advertiser/info/`` and
``GET /open_api/<v>/report/integrated/get/`` (hourly rows of one advertiser-local day, paged with
``page``/``page_size``), token in the ``Access-Token`` header. Errors the way TikTok answers them:
HTTP 200 with ``code != 0`` (40100 too frequent, 50000 system error, 40105 bad token), or an HTTP 429.
``faults`` are consumed in order by the first request they match.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from adperf_assets.defs.spend.tiktok import DEFAULT_API_VERSION

from adperf_assets_tests.loopback import LoopbackServer

TOKEN = "tt-fake-token-S3CRET"


@dataclass
class Fault:
    """kind: "code" (HTTP 200 with TikTok ``code``), "http" (HTTP ``status`` with ``retry_after``),
    "broken" (200 without ``page_info``); route: "report" or "advertiser"; page: the page it hits (None: any)."""

    kind: str
    code: int = 40100
    status: int = 429
    retry_after: str | None = None
    route: str = "report"
    page: int | None = None


class FakeTikTok(LoopbackServer):
    def __init__(self, api_version: str = DEFAULT_API_VERSION):
        self.api_version = api_version
        self.advertisers: dict[str, dict] = {}  # id -> {"name", "currency", "timezone"}
        self.rows: dict[str, list[dict]] = {}  # id -> report rows {"dimensions", "metrics"}
        self.faults: list[Fault] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        self.advertisers.clear()
        self.rows.clear()
        self.faults.clear()
        self.requests.clear()

    # -- handling ------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = {f"/open_api/{self.api_version}/advertiser/info/": "advertiser",
                 f"/open_api/{self.api_version}/report/integrated/get/": "report"}.get(parts.path, "unknown")
        with self._lock:
            self.requests.append({"path": parts.path, "route": route, "params": q,
                                  "token": h.headers.get("Access-Token")})
        if h.headers.get("Access-Token") != TOKEN:
            return self._reply(h, 200, self._error(40105, "Access token is incorrect or has been revoked."))
        if route == "unknown":
            return self._reply(h, 404, {"message": f"no route {parts.path}"})
        page = int(q.get("page", 1))
        fault = self._take_fault(route, page)
        if fault is not None:
            if fault.kind == "code":
                return self._reply(h, 200, self._error(fault.code, "Too many requests." if fault.code == 40100
                                                       else "System error."))
            if fault.kind == "http":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._reply(h, fault.status, {"message": "Too Many Requests"}, headers)
            if fault.kind == "broken":
                return self._reply(h, 200, self._ok({"list": []}))
        if route == "advertiser":
            ids = json.loads(q["advertiser_ids"])
            listed = [{"advertiser_id": i, **self.advertisers[i]} for i in ids if i in self.advertisers]
            return self._reply(h, 200, self._ok({"list": listed}))
        return self._reply(h, 200, self._report(q, page))

    def _report(self, q: dict, page: int) -> dict:
        adv = q["advertiser_id"]
        if adv not in self.advertisers:
            return self._error(40001, f"No permission to operate advertiser {adv}.")
        dims = json.loads(q["dimensions"])
        if dims != ["ad_id", "stat_time_hour"] or q.get("data_level") != "AUCTION_AD":
            return self._error(40002, f"unsupported dimensions {dims} / data_level {q.get('data_level')}")
        if q["start_date"] != q["end_date"]:
            return self._error(40002, "stat_time_hour reports cover one day")
        size = int(q.get("page_size", 10))
        wanted = json.loads(q["metrics"])
        day_rows = [r for r in self.rows.get(adv, []) if r["dimensions"]["stat_time_hour"][:10] == q["start_date"]]
        day_rows.sort(key=lambda r: (r["dimensions"]["stat_time_hour"], r["dimensions"]["ad_id"]))
        total_page = max(1, -(-len(day_rows) // size))
        chunk = day_rows[(page - 1) * size: page * size]
        rows = [{"dimensions": r["dimensions"], "metrics": {k: v for k, v in r["metrics"].items() if k in wanted}}
                for r in chunk]
        return self._ok({"list": rows, "page_info": {"page": page, "page_size": size, "total_number": len(day_rows),
                                                     "total_page": total_page}})

    def _take_fault(self, route: str, page: int) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.route == route and (f.page is None or f.page == page):
                    return self.faults.pop(i)
        return None

    @staticmethod
    def _ok(data: dict) -> dict:
        return {"code": 0, "message": "OK", "request_id": "req-ok", "data": data}

    @staticmethod
    def _error(code: int, message: str) -> dict:
        return {"code": code, "message": message, "request_id": f"req-{code}", "data": {}}



def report_row(ad_id: str, hour: str, spend: str, *, campaign: str = "c1", ad_group: str = "g1",
               impressions: int = 100, clicks: int = 5, installs: int = 2) -> dict:
    """A report row as the API returns it (metrics as strings)."""
    return {"dimensions": {"ad_id": ad_id, "stat_time_hour": hour},
            "metrics": {"campaign_id": campaign, "campaign_name": f"Campaign {campaign}", "adgroup_id": ad_group,
                        "adgroup_name": f"Group {ad_group}", "ad_name": f"Ad {ad_id}", "objective_type": "APP_PROMOTION",
                        "spend": spend, "impressions": str(impressions), "clicks": str(clicks),
                        "app_install": str(installs)}}
