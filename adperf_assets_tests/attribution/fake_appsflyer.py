"""A fake AppsFlyer Pull API (raw data) on 127.0.0.1, stdlib ``http.server`` in a thread.

Serves ``GET /api/raw-data/export/app/<app_id>/<report>/v5`` as CSV from ``rows[(app_id, report)]``
(DataFrames of the vendor's columns, all strings), selecting ``from <= Install Time <= to`` —
inclusive at both ends on purpose, so the client must cut ranges itself. ``timezone`` must be
``UTC``. Over ``maximum_rows`` rows: ``limit_mode="truncate"`` returns the first
``maximum_rows``, ``"400"`` answers HTTP 400 with a row-limit message. A request without the
right ``Authorization: Bearer`` header gets 401. ``faults`` (status, body, headers) replace the
next replies in order. Every request is recorded (path, params, headers).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd

TOKEN = "af-fake-token-S3CRET"
_TS = "%Y-%m-%d %H:%M:%S"


@dataclass
class Reply:
    status: int
    body: str = ""
    headers: dict = field(default_factory=dict)


class FakeAppsFlyer:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], pd.DataFrame] = {}
        self.faults: list[Reply] = []
        self.requests: list[dict] = []
        self.limit_mode = "truncate"
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.rows.clear()
            self.faults.clear()
            self.requests.clear()
            self.limit_mode = "truncate"

    def start(self) -> "FakeAppsFlyer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                reply = fake.handle(self.path, dict(self.headers))
                data = reply.body.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/csv" if reply.status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- behaviour ---------------------------------------------------------------------------
    def handle(self, path: str, headers: dict) -> Reply:
        parts = urlsplit(path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"path": parts.path, "params": params, "headers": headers})
            if self.faults:
                return self.faults.pop(0)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth != f"Bearer {TOKEN}":
            return Reply(401, "Unauthorized: invalid token")
        seg = parts.path.strip("/").split("/")
        if len(seg) != 7 or seg[:4] != ["api", "raw-data", "export", "app"] or seg[6] != "v5":
            return Reply(404, "Not found")
        app_id, report = seg[4], seg[5]
        if (app_id, report) not in self.rows:
            return Reply(404, f"App {app_id} not found")
        if params.get("timezone") != "UTC":
            return Reply(400, "this fake only serves timezone=UTC")
        lo, hi = _bound(params["from"], end=False), _bound(params["to"], end=True)
        df = self.rows[(app_id, report)]
        t = pd.to_datetime(df["Install Time"], format=_TS)
        sel = df[(t >= lo) & (t <= hi)]
        cap = int(params.get("maximum_rows", 200000))
        if len(sel) > cap:
            if self.limit_mode == "400":
                return Reply(400, f"The report exceeds the maximum_rows limit of {cap} rows")
            sel = sel.head(cap)
        buf = io.StringIO()
        sel.to_csv(buf, index=False, lineterminator="\n")
        return Reply(200, buf.getvalue())


def _bound(text: str, end: bool) -> pd.Timestamp:
    if len(text) == 10:  # a date: the whole day
        day = pd.Timestamp(text)
        return day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) if end else day
    return pd.Timestamp(text)
