"""A webhook endpoint for tests and benchmarks: records what it is sent, answers late on request."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chaosrunner.core.ports import LOOPBACK


class Receiver:
    """A webhook endpoint that records what it is sent; ``hang_s`` makes it answer that late."""

    def __init__(self, hang_s: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.events.append(body)
                time.sleep(hang_s)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [e["chaosrunner"]["event"] for e in self.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
