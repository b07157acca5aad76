"""Shared fixtures for the sandbox tests: a fault proxy process, an echo/HTTP upstream."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosrunner.core.ports import LOOPBACK, free_port, wait_port
from chaosrunner.sandbox.processes import ManagedProcess
from tests.sandbox.faultproxy_harness import echo, toxiproxy, toxiproxy_server  # noqa: F401 - fault-proxy fixtures


@pytest.fixture(scope="module")
def fault_proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fault proxy server process per test module; yields its API base URL."""
    port = free_port()
    proc = ManagedProcess(
        "faultproxy",
        [sys.executable, "-m", "chaosrunner.sandbox.faultproxy", "--port", str(port)],
        tmp_path_factory.mktemp("faultproxy") / "faultproxy.log",
    ).start()
    try:
        wait_port(port, 15)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        proc.stop()


@pytest.fixture()
def fault_proxy(fault_proxy_server: str) -> Iterator[str]:
    """The module's fault proxy, emptied (every proxy deleted) after each test."""
    import requests

    try:
        yield fault_proxy_server
    finally:
        for name in requests.get(f"{fault_proxy_server}/proxies", timeout=3).json():
            requests.delete(f"{fault_proxy_server}/proxies/{name}", timeout=3)


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = b"hello" * (int(self.path.strip("/") or 1))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def http_upstream() -> Iterator[int]:
    """A tiny threaded HTTP server on 127.0.0.1 answering ``hello`` × N for ``GET /N``."""
    server = ThreadingHTTPServer((LOOPBACK, 0), _Hello)
    server.daemon_threads = True
    server.block_on_close = False  # handler threads may hold proxied keep-alive connections
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def tcp_roundtrip(port: int, payload: bytes = b"GET /1 HTTP/1.0\r\n\r\n", timeout: float = 5.0) -> bytes:
    """Send ``payload`` to 127.0.0.1:port and read until EOF."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)
