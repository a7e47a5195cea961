"""A fake Graph API for acting on ads: the spend tests' ``FakeGraph`` (127.0.0.1, token and version
checks, usage headers, fault injection, every request recorded in ``requests``) extended by subclassing
with Ad / AdSet / Campaign nodes that hold state.

- ``GET /vX/<id>?fields=a,b``: the object's fields (route ``object``); unknown id: code 100 subcode 33.
- Fault kinds: the spend fake's, plus ``echo`` (an error whose message quotes the request URL,
  access_token included: what redaction must catch).
- ``POST /vX/<id>`` with ``status`` and/or ``daily_budget`` (minor units, an integer string), optional
  ``execution_options=["validate_only"]``: validated like the API says it does (status enum, integer
  budget, no budget on an Ad), then applied unless validate-only or a fault replaces the reply; replies ``{"success": true}``
  (route ``update``). Faults (``Fault(kind, route="update")``) replace the reply of the next match.
"""

from __future__ import annotations

import json
import threading

from adperf_assets_tests.spend.fake_graph import TOKEN, FakeGraph, Fault  # noqa: F401 (re-export)

STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")


def _error(message: str, code: int = 100, subcode: int | None = None) -> dict:
    err = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


class FakeGraphObjects(FakeGraph):
    def __init__(self, api_version: str):
        super().__init__(api_version=api_version)
        #: id -> {"type": "ad"|"adset"|"campaign", "status": ..., "daily_budget": "5000" | None}
        self.objects: dict[str, dict] = {}
        self._pending = threading.local()

    def add(self, oid: str, kind: str, status: str = "ACTIVE", daily_budget: int | None = None) -> None:
        self.objects[oid] = {"type": kind, "status": status,
                             "daily_budget": None if daily_budget is None else str(daily_budget)}

    def snapshot(self) -> dict:
        with self._lock:
            return json.loads(json.dumps(self.objects))

    def updates(self) -> list[dict]:
        """The POSTs received on objects (params as sent, access_token removed)."""
        return [{"path": r["path"], **{k: v for k, v in r["params"].items() if k != "access_token"}}
                for r in self.requests if r["method"] == "POST" and r.get("route") == "update"]

    def _route(self, method: str, path: list[str], q: dict) -> tuple[str, int, dict]:
        node = path[0] if path else ""
        if node.startswith("act_") or node in self.jobs or len(path) != 1:
            return super()._route(method, path, q)
        if node not in self.objects:
            return ("object" if method == "GET" else "update"), *self._unknown(node)
        obj = self.objects[node]
        if method == "GET":
            fields = [f for f in q.get("fields", "id").split(",") if f]
            allowed = {"id", "status", "effective_status", "name"} | ({"daily_budget"} if obj["type"] != "ad" else set())
            bad = [f for f in fields if f not in allowed]
            if bad:
                return "object", 400, _error(f"(#100) Tried accessing nonexisting field ({bad[0]}) on node type")
            body = {"id": node}
            for f in fields:
                if f in obj and obj[f] is not None:
                    body[f] = obj[f]
            return "object", 200, body
        return "update", *self._update(node, obj, q)

    def _unknown(self, node: str) -> tuple[int, dict]:
        return 400, _error(f"Unsupported request. Object with ID '{node}' does not exist", 100, 33)

    def _update(self, node: str, obj: dict, q: dict) -> tuple[int, dict]:
        change = {}
        if "status" in q:
            if q["status"] not in STATUSES:
                return 400, _error(f"(#100) Param status must be one of {{{', '.join(STATUSES)}}}")
            change["status"] = q["status"]
        if "daily_budget" in q:
            if obj["type"] == "ad":
                return 400, _error("(#100) Param daily_budget is not a field of Ad")
            if not q["daily_budget"].isdigit() or int(q["daily_budget"]) <= 0:
                return 400, _error("(#100) Param daily_budget must be a positive integer")
            change["daily_budget"] = str(int(q["daily_budget"]))
        if not change:
            return 400, _error("(#100) nothing to update")
        options = json.loads(q.get("execution_options", "[]"))
        if options not in ([], ["validate_only"]):
            return 400, _error(f"(#100) execution_options {options}")
        if not options:
            self._pending.change = (obj, change)  # applied once no fault replaces the reply
        return 200, {"success": True}

    def _take_fault(self, route: str, q: dict) -> Fault | None:
        fault = super()._take_fault(route, q)
        pending, self._pending.change = getattr(self._pending, "change", None), None
        if fault is None and pending is not None:
            with self._lock:
                pending[0].update(pending[1])
        return fault

    def _apply(self, h, f: Fault, status: int, body: dict) -> None:
        if f.kind == "echo":  # an error quoting the request it refused, query string (token) included
            return self._reply(h, f.status, _error(f"(#{f.code}) cannot process {h.path}", f.code))
        return super()._apply(h, f, status, body)

