"""Clients of the estate's control planes, with a timeout on every call: supervisord's XML-RPC, HAProxy's
runtime API (a UNIX socket) and the JSON HTTP APIs (fault proxy, load generator, instances).

Used by ``sandbox up|down|status`` and by the fault drivers (which need none of the bring-up machinery).
"""

from __future__ import annotations

import json
import socket
import urllib.request
import xmlrpc.client
from pathlib import Path
from typing import Any

from chaosrunner.sandbox.topology import SERVICE

HTTP_TIMEOUT_S = 3.0


def supervisor_rpc(url: str, timeout_s: float = HTTP_TIMEOUT_S) -> Any:
    """An XML-RPC proxy to supervisord with a socket timeout (``.supervisor.getAllProcessInfo()``…)."""

    class _Transport(xmlrpc.client.Transport):
        def make_connection(self, host: Any) -> Any:
            conn = super().make_connection(host)
            conn.timeout = timeout_s
            return conn

    return xmlrpc.client.ServerProxy(url, transport=_Transport(), allow_none=True)


def haproxy_command(stats_socket: str | Path, command: str, timeout_s: float = HTTP_TIMEOUT_S) -> str:
    """Send one command to HAProxy's runtime API (e.g. ``set server pinboard/X state maint``)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(stats_socket))
        s.sendall(command.strip().encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def http_json(url: str, data: Any = None, method: str | None = None, timeout_s: float = HTTP_TIMEOUT_S) -> Any:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def haproxy_servers(stats_socket: str | Path, backend: str = SERVICE) -> dict[str, str]:
    """Server name → status (``UP``, ``DOWN``, ``MAINT``, ``UP 1/2``…) from the runtime API's ``show stat``."""
    lines = haproxy_command(stats_socket, "show stat").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND"):
            out[row["svname"]] = row.get("status", "")
    return out
