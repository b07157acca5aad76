"""What the fault-proxy tests share: the servers under test, a scriptable TCP upstream, and deadline-bound clients.

``toxiproxy`` is parametrized over the implementations present: our built-in fault proxy always, a real
``toxiproxy-server`` when the binary is on PATH (the only conditional: that binary is in no registry here). Both are
started on a free 127.0.0.1 port and stopped after the module. The behavioural tests run against either, so they
only assert what Toxiproxy 2.12 itself does.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from chaosrunner.core.ports import LOOPBACK, free_port, wait_port
from chaosrunner.sandbox.processes import ManagedProcess

T = 5.0  # HTTP timeout of every API call
IMPLEMENTATIONS = ["builtin"] + (["toxiproxy-server"] if shutil.which("toxiproxy-server") else [])


def start_server(kind: str, log_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    if kind == "builtin":
        argv = [sys.executable, "-m", "chaosrunner.sandbox.faultproxy", "--port", str(port)]
    else:
        argv = [str(shutil.which("toxiproxy-server")), "-host", LOOPBACK, "-port", str(port), "-proxy-metrics"]
    proc = ManagedProcess(kind, argv, log_dir / f"{kind}.log").start()
    wait_port(port, 15)
    return proc, f"http://{LOOPBACK}:{port}"


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def toxiproxy_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture()
def toxiproxy(toxiproxy_server: str) -> Iterator[Api]:
    """The API of a server under test, emptied (every proxy deleted) after each test."""
    api = Api(toxiproxy_server)
    try:
        yield api
    finally:
        for name in requests.get(f"{toxiproxy_server}/proxies", timeout=T).json():
            requests.delete(f"{toxiproxy_server}/proxies/{name}", timeout=T)


@dataclass
class Api:
    url: str

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, self.url + path, json=body, timeout=T)

    def proxy(self, name: str, upstream_port: int) -> int:
        """Create a proxy on a free port in front of ``upstream_port``; its listen port."""
        r = self.call("POST", "/proxies", {"name": name, "listen": f"{LOOPBACK}:0",
                                           "upstream": f"{LOOPBACK}:{upstream_port}"})
        assert r.status_code == 201, r.text
        return int(r.json()["listen"].rsplit(":", 1)[1])

    def toxic(self, proxy: str, ttype: str, stream: str = "downstream", toxicity: float = 1.0,
              name: str | None = None, **attributes: int) -> dict[str, Any]:
        body = {"name": name or ttype, "type": ttype, "stream": stream, "toxicity": toxicity,
                "attributes": attributes}
        r = self.call("POST", f"/proxies/{proxy}/toxics", body)
        assert r.status_code == 200, r.text
        return r.json()

    def remove(self, proxy: str, toxic: str) -> None:
        r = self.call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")
        assert r.status_code == 204, r.text


@dataclass
class Upstream:
    """A threaded TCP server on 127.0.0.1: ``echo`` sends back what it reads; ``blob`` sends ``size`` bytes on
    connect (then closes if ``close_after``); every mode counts the bytes it received, per connection."""

    mode: str = "echo"
    size: int = 0
    close_after: bool = False
    received: list[int] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server((LOOPBACK, 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.received.append(0)
            threading.Thread(target=self._serve, args=(conn, len(self.received) - 1), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        try:
            if self.mode == "blob":
                conn.sendall(b"x" * self.size)
                if self.close_after:
                    conn.close()
                    return
            while data := conn.recv(65536):
                self.received[index] += len(data)
                if self.mode == "echo":
                    conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture()
def echo() -> Iterator[Upstream]:
    server = Upstream("echo")
    try:
        yield server
    finally:
        server.close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection((LOOPBACK, port), timeout=T)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int, within_s: float = T) -> bytes:
    """Read ``n`` bytes, failing after ``within_s`` seconds or at EOF."""
    deadline = time.monotonic() + within_s
    out = b""
    while len(out) < n:
        s.settimeout(max(0.001, deadline - time.monotonic()))
        data = s.recv(n - len(out))
        assert data, f"connection closed after {len(out)} of {n} bytes"
        out += data
    return out


def outcome(s: socket.socket, within_s: float) -> tuple[str, bytes]:
    """Read until the connection ends or ``within_s`` passes: ("eof" | "reset" | "open", bytes read)."""
    deadline = time.monotonic() + within_s
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "open", got
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except TimeoutError:
            return "open", got
        except ConnectionResetError:
            return "reset", got
        if not data:
            return "eof", got
        got += data


def round_trip_s(s: socket.socket, payload: bytes = b"ping") -> float:
    start = time.monotonic()
    s.sendall(payload)
    assert recv_exactly(s, len(payload)) == payload
    return time.monotonic() - start


def wait_for(condition: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
