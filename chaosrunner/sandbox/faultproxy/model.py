"""Toxiproxy's data model and validation, as pure functions (no sockets, no HTTP).

The JSON shapes and error semantics follow Toxiproxy 2.x (see docs/sandbox.md and REAL-PARTS):

* proxy: ``{"name", "listen": "host:port", "upstream": "host:port", "enabled": bool, "toxics": [toxic...]}``
* toxic: ``{"name", "type", "stream": "upstream|downstream", "toxicity": 0..1, "attributes": {...}}``

Our one extension is self-expiry: a toxic may carry ``"expires_in_s"`` (seconds, > 0) either at the top
level or inside ``attributes`` (toxiproxy-python only forwards ``attributes``). The server then removes
it by itself at ``expires_at`` (epoch seconds, reported in the toxic's JSON) — the backstop that keeps a
crashed runner from leaving a fault behind.

Units: ``latency``, ``jitter``, ``delay`` (slow_close), ``timeout`` (timeout, reset_peer) are
milliseconds; ``rate`` (bandwidth) is KB/s (1 KB = 1000 bytes); slicer ``delay`` is MICROseconds
(as in Toxiproxy); ``bytes`` (limit_data) is bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")

# type -> {attribute: default}; attributes not listed are rejected (400) like Toxiproxy's strict decoder
TOXIC_TYPES: dict[str, dict[str, float]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}
EXPIRY_KEY = "expires_in_s"


class ApiError(Exception):
    """An API-level failure carrying the HTTP status Toxiproxy would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


@dataclass
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, float]
    expires_at: float | None = None  # epoch seconds; None = until removed

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        return data


@dataclass
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: list[Toxic] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }

    def toxic(self, name: str) -> Toxic:
        for t in self.toxics:
            if t.name == name:
                return t
        raise ApiError(404, "toxic not found")


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` → (host, port); ApiError 400 when malformed. ``:P`` means 127.0.0.1."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ApiError(400, f"invalid address {address!r}: want host:port")
    return (host or "127.0.0.1"), int(port)


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "bad request body: want a JSON object")
    return data


def parse_new_proxy(data: Any) -> Proxy:
    """Validate a ``POST /proxies`` body. ``listen`` defaults to ``127.0.0.1:0`` (any free port)."""
    data = _require_object(data)
    name = data.get("name")
    upstream = data.get("upstream")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "missing required field: name")
    if not isinstance(upstream, str) or not upstream:
        raise ApiError(400, "missing required field: upstream")
    listen = data.get("listen") or "127.0.0.1:0"
    if not isinstance(listen, str):
        raise ApiError(400, "listen must be a string")
    split_address(listen)
    split_address(upstream)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be a boolean")
    return Proxy(name=name, listen=listen, upstream=upstream, enabled=enabled)


def parse_proxy_update(data: Any) -> dict[str, Any]:
    """Validate a ``POST /proxies/{name}`` body: any of listen, upstream, enabled."""
    data = _require_object(data)
    update: dict[str, Any] = {}
    for key in ("listen", "upstream"):
        if key in data and data[key] is not None:
            if not isinstance(data[key], str):
                raise ApiError(400, f"{key} must be a string")
            split_address(data[key])
            update[key] = data[key]
    if "enabled" in data and data["enabled"] is not None:
        if not isinstance(data["enabled"], bool):
            raise ApiError(400, "enabled must be a boolean")
        update["enabled"] = data["enabled"]
    return update


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{what} must be a number")
    return value


def parse_toxic(data: Any, now: float, existing: Toxic | None = None) -> Toxic:
    """Validate a toxic body (create, or update of ``existing``); ``now`` is epoch seconds for expiry."""
    data = _require_object(data)
    base = existing
    ttype = data.get("type", base.type if base else None)
    if not isinstance(ttype, str) or ttype not in TOXIC_TYPES:
        raise ApiError(400, f"invalid toxic type: {ttype!r}")
    stream = data.get("stream") or (base.stream if base else "downstream")
    if stream not in STREAMS:
        raise ApiError(400, f"invalid stream {stream!r}: want upstream or downstream")
    name = data.get("name") or (base.name if base else f"{ttype}_{stream}")
    if not isinstance(name, str):
        raise ApiError(400, "name must be a string")
    toxicity = data.get("toxicity", base.toxicity if base else 1.0)
    toxicity = _number(toxicity, "toxicity")
    if not 0.0 <= toxicity <= 1.0:
        raise ApiError(400, "toxicity must be between 0 and 1")
    attributes_in = data.get("attributes")
    if attributes_in is None:
        attributes_in = {}
    if not isinstance(attributes_in, dict):
        raise ApiError(400, "attributes must be an object")
    attributes_in = dict(attributes_in)
    expires_in = data.get(EXPIRY_KEY, attributes_in.pop(EXPIRY_KEY, None))
    schema = TOXIC_TYPES[ttype]
    attributes: dict[str, float] = dict(base.attributes) if base and base.type == ttype else dict(schema)
    for key, value in attributes_in.items():
        if key not in schema:
            raise ApiError(400, f"unknown attribute {key!r} for toxic type {ttype}")
        value = _number(value, f"attributes.{key}")
        if value < 0:
            raise ApiError(400, f"attributes.{key} must be >= 0")
        attributes[key] = value
    expires_at = base.expires_at if base else None
    if expires_in is not None:
        expires_in = _number(expires_in, EXPIRY_KEY)
        if expires_in <= 0:
            raise ApiError(400, f"{EXPIRY_KEY} must be > 0 seconds")
        expires_at = now + float(expires_in)
    return Toxic(name=name, type=ttype, stream=stream, toxicity=float(toxicity),
                 attributes=attributes, expires_at=expires_at)


def expired(toxics: list[Toxic], now: float) -> list[Toxic]:
    """The toxics whose self-expiry time has passed at ``now`` (epoch seconds)."""
    return [t for t in toxics if t.expires_at is not None and t.expires_at <= now]
