"""A loopback Slack incoming webhook: records each JSON body; can be told to fail the next posts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PATH = "/services/T0FAKE/B0FAKE/xoxb-not-a-real-secret-9f8e7d"


class FakeSlack:
    def __init__(self, path: str = SECRET_PATH):
        self.path = path
        self.received: list[dict] = []
        self.attempts = 0
        self.fail_next: list[tuple[int, dict]] = []  # (status, headers) served before succeeding
        self.always: tuple[int, dict] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.attempts += 1
                if self.path != fake.path:
                    return self._reply(404, "no_service")
                failure = fake.always or (fake.fail_next.pop(0) if fake.fail_next else None)
                if failure is not None:
                    status, headers = failure
                    return self._reply(status, "rate_limited" if status == 429 else "server_error", headers)
                fake.received.append(json.loads(body))
                self._reply(200, "ok")

            def _reply(self, status, text, headers=None):
                data = text.encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> "FakeSlack":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
