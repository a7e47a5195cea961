"""A fake Facebook Graph API on 127.0.0.1 (stdlib http.server in a thread).

Serves what the SDK sends for ad accounts and insights: ``GET /vX/act_N``,
``GET /vX/act_N/insights`` (paged with ``after``), ``POST /vX/act_N/insights``
(async report job), ``GET /vX/<job>/`` (status) and ``GET /vX/<job>/insights``.
Every response carries the configured usage headers. ``faults`` are consumed
in order by the first request they match and replace (or delay) its reply.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from adperf_assets.defs.spend.facebook import SDK_API_VERSION

from adperf_assets_tests.loopback import LoopbackServer

TOKEN = "fake-token-S3CRET"


@dataclass
class Fault:
    """What to do instead of the normal reply.

    kind: "throttle" (code 17, is_transient, BUC regain header), "code" (Graph error
    ``code`` with HTTP ``status``), "html500" (HTTP 500 HTML page), "json500"
    (HTTP 500 with a Graph error, code 2), "timeout" (reply after ``delay_s``),
    "truncated" (200 with half the JSON), "usage" (normal reply, extra ``headers``).
    route: "account", "insights" (sync pages), "job_insights" (async result pages),
    "job" (status polls), "post" (job creation) or "any"; page: the ``after``
    offset to match (None = any).
    """

    kind: str
    route: str = "insights"
    page: int | None = None
    code: int = 17
    status: int = 400
    delay_s: float = 1.0
    regain_minutes: float = 0
    headers: dict = field(default_factory=dict)


class FakeGraph(LoopbackServer):
    def __init__(self, api_version: str = SDK_API_VERSION):
        self.api_version = api_version
        self.accounts: dict[str, dict] = {}
        self.rows: dict[str, list[dict]] = {}
        self.usage_headers: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict] = []
        self.job_polls_until_done = 2
        self.job_outcomes: list[str] = []  # e.g. ["Job Failed"]: first job fails, later ones complete
        self.jobs: dict[str, dict] = {}
        self._lock = threading.Lock()

    # -- request handling -------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            query.update({k: v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()})
        segments = [s for s in parts.path.split("/") if s]
        record = {"method": method, "path": parts.path, "params": query}
        with self._lock:
            self.requests.append(record)
        try:
            if query.get("access_token") != TOKEN:
                return self._reply(h, 400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
            if not segments or segments[0] != self.api_version:
                return self._reply(h, 400, {"error": {"message": f"bad version {segments[:1]}", "code": 2635}})
            route, status, body = self._route(method, segments[1:], query)
            record["route"] = route
            fault = self._take_fault(route, query)
            if fault is not None:
                return self._apply(h, fault, status, body)
            self._reply(h, status, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _route(self, method: str, path: list[str], q: dict) -> tuple[str, int, dict]:
        node = path[0] if path else ""
        edge = path[1] if len(path) > 1 else ""
        if node.startswith("act_") and not edge and method == "GET":
            acct = self.accounts.get(node.removeprefix("act_"))
            if acct is None:
                return "account", 400, {"error": {"message": f"Unknown account {node}", "code": 100}}
            return "account", 200, {"id": node, "account_id": node.removeprefix("act_"), **acct}
        if node.startswith("act_") and edge == "insights":
            account = node.removeprefix("act_")
            wrong = self._wrong_insights_params(q)
            if wrong:
                return "insights", 400, {"error": {"message": wrong, "type": "GraphMethodException", "code": 100}}
            if method == "POST":
                job_id = str(9000 + len(self.jobs))
                outcome = self.job_outcomes.pop(0) if self.job_outcomes else "Job Completed"
                self.jobs[job_id] = {"account": account, "params": dict(q), "polls": 0, "outcome": outcome}
                return "post", 200, {"report_run_id": job_id}
            return "insights", 200, self._page(self._select(account, q), q, f"/{self.api_version}/{node}/insights")
        if node in self.jobs and not edge:
            job = self.jobs[node]
            job["polls"] += 1
            done = job["polls"] > self.job_polls_until_done
            status = job["outcome"] if done else "Job Running"
            pct = 100 if done and status == "Job Completed" else 50
            return "job", 200, {"id": node, "async_status": status, "async_percent_completion": pct}
        if node in self.jobs and edge == "insights":
            job = self.jobs[node]
            if job["outcome"] != "Job Completed" or job["polls"] <= self.job_polls_until_done:
                return "job_insights", 400, {"error": {"message": "report not ready", "code": 100}}
            rows = self._select(job["account"], job["params"])
            return "job_insights", 200, self._page(rows, q, f"/{self.api_version}/{node}/insights")
        return "any", 404, {"error": {"message": f"no route {method} {path}", "code": 803}}

    def _wrong_insights_params(self, q: dict) -> str | None:
        """The SDK must send what the resource asked for; a wrong request is a 400 here."""
        expected = {
            "level": "ad",
            "time_increment": "1",
            "breakdowns": '["hourly_stats_aggregated_by_advertiser_time_zone"]',
            "action_breakdowns": '["action_type"]',
        }
        for key, value in expected.items():
            if q.get(key) != value:
                return f"insights param {key}={q.get(key)!r}, expected {value!r}"
        if "time_range" not in q or "fields" not in q:
            return "insights needs time_range and fields"
        return None

    def _select(self, account: str, q: dict) -> list[dict]:
        window = json.loads(q["time_range"])
        raw = q["fields"]  # sync GETs send "a,b"; the async POST sends a JSON list
        fields = json.loads(raw) if raw.startswith("[") else raw.split(",")
        out = []
        for row in self.rows.get(account, []):
            if window["since"] <= row["date_start"] <= window["until"]:
                keep = {k: v for k, v in row.items() if k in fields}
                keep.update(
                    date_start=row["date_start"], date_stop=row["date_stop"],
                    hourly_stats_aggregated_by_advertiser_time_zone=row["hourly_stats_aggregated_by_advertiser_time_zone"],
                )
                out.append(keep)
        return out

    def _page(self, rows: list[dict], q: dict, path: str) -> dict:
        limit = int(q.get("limit", 25))
        offset = int(q.get("after", "0"))
        page = rows[offset : offset + limit]
        body: dict = {"data": page, "paging": {"cursors": {"before": str(offset), "after": str(offset + len(page))}}}
        if offset + limit < len(rows):
            body["paging"]["next"] = f"{self.url}{path}?after={offset + limit}&limit={limit}"
        return body

    def _take_fault(self, route: str, q: dict) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.route in (route, "any") and (f.page is None or int(q.get("after", "0")) == f.page):
                    return self.faults.pop(i)
        return None

    def _apply(self, h, f: Fault, status: int, body: dict) -> None:
        if f.kind == "throttle":
            headers = {
                "x-business-use-case-usage": json.dumps(
                    {"555": [{"type": "ads_insights", "call_count": 100, "total_cputime": 40, "total_time": 60,
                              "estimated_time_to_regain_access": f.regain_minutes}]}
                )
            }
            return self._reply(h, 400, {"error": {"message": "(#17) User request limit reached", "type": "OAuthException",
                                                   "code": 17, "error_subcode": 2446079, "is_transient": True}}, headers)
        if f.kind == "code":
            return self._reply(h, f.status, {"error": {"message": f"(#{f.code}) injected", "type": "OAuthException", "code": f.code}})
        if f.kind == "html500":
            return self._raw(h, 500, b"<html><body>Internal Server Error</body></html>", "text/html")
        if f.kind == "json500":
            return self._reply(h, 500, {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}})
        if f.kind == "timeout":
            time.sleep(f.delay_s)
            return self._reply(h, status, body)
        if f.kind == "truncated":
            text = json.dumps(body).encode()
            return self._raw(h, 200, text[: len(text) // 2], "application/json")
        if f.kind == "usage":
            return self._reply(h, status, body, f.headers)
        raise AssertionError(f"unknown fault {f.kind}")

    def _raw(self, h, status: int, data: bytes, ctype: str, extra: dict | None = None) -> None:
        super()._raw(h, status, data, ctype, {**self.usage_headers, **(extra or {})})


def insights_row(account_id: str, account_name: str, currency: str, *, day: str, hour: int, ad: int,
                 spend: str, impressions: int, clicks: int, installs: int, objective: str = "OUTCOME_APP_PROMOTION") -> dict:
    """One hourly insights row as the Graph API returns it (numbers as strings)."""
    row = {
        "account_id": account_id, "account_name": account_name, "account_currency": currency,
        "objective": objective, "campaign_id": f"{ad // 100}", "campaign_name": f"campaign {ad // 100}",
        "adset_id": f"{ad // 10}", "adset_name": f"adset {ad // 10}", "ad_id": str(ad), "ad_name": f"ad {ad}",
        "spend": spend, "impressions": str(impressions), "clicks": str(clicks),
        "date_start": day, "date_stop": day,
        "hourly_stats_aggregated_by_advertiser_time_zone": f"{hour:02d}:00:00 - {hour:02d}:59:59",
    }
    if installs:
        row["actions"] = [
            {"action_type": "link_click", "value": str(clicks)},
            {"action_type": "mobile_app_install", "value": str(installs)},
        ]
    return row
