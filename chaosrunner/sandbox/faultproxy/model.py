"""Toxiproxy's data model and request validation, as pure functions (no sockets, no HTTP).

JSON shapes (Toxiproxy 2.12): proxy ``{"name", "listen", "upstream", "enabled", "toxics": [...]}``; toxic
``{"attributes": {...}, "name", "type", "stream", "toxicity"}``. Toxics are listed upstream first, then
downstream, each stream in the order its toxics were added (the order of its chain).

Units: ``latency``, ``jitter``, ``delay`` (slow_close), ``timeout`` (timeout, reset_peer) are milliseconds; ``rate``
(bandwidth) is KB/s (1 KB = 1000 bytes); slicer ``delay`` is MICROseconds; ``bytes`` and slicer sizes are bytes.
Every attribute is a whole number, as in Toxiproxy (``200.5`` → 400).

Deliberately stricter than Toxiproxy (400 with a message saying so) where its leniency hangs or crashes streams or
hides typos: negative attributes, toxicity outside 0..1, unknown attributes, bandwidth rate 0, slicer average_size 0
or size_variation above average_size, malformed ``host:port`` addresses.

Our one extension is self-expiry: a toxic may carry ``"expires_in_s"`` (seconds, > 0) at the top level or inside
``attributes`` (toxiproxy-python only forwards ``attributes``). The server removes it by itself at ``expires_at``
(epoch seconds, reported in the toxic's JSON) — the backstop that keeps a crashed runner from leaving a fault behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.sandbox.faultproxy.toxics import TOXICS

STREAMS = ("upstream", "downstream")
EXPIRY_KEY = "expires_in_s"
DEFAULT_LISTEN = "127.0.0.1:0"
STRICTER = "(refused here; Toxiproxy would accept it)"
_INT64 = 2**63


class ApiError(Exception):
    """An API-level failure carrying the HTTP status Toxiproxy would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(why: str) -> ApiError:
    return ApiError(400, f"bad request body: {why}")


@dataclass
class Toxic:
    name: str
    type: str
    stream: str  # as the client wrote it (case-insensitive); ``direction`` is the normalised form
    toxicity: float
    attributes: dict[str, int]
    expires_at: float | None = None  # epoch seconds; None = until removed

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        toxicity = int(self.toxicity) if self.toxicity.is_integer() else self.toxicity  # Go writes 1, not 1.0
        data: dict[str, Any] = {"attributes": dict(self.attributes), "name": self.name, "type": self.type,
                                "stream": self.stream, "toxicity": toxicity}
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        return data


@dataclass
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: list[Toxic] = field(default_factory=list)  # in the order they were added

    def chain(self, direction: str) -> list[Toxic]:
        return [t for t in self.toxics if t.direction == direction]

    def listed_toxics(self) -> list[Toxic]:
        return self.chain("upstream") + self.chain("downstream")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.listed_toxics()]}

    def toxic(self, name: str) -> Toxic:
        for t in self.toxics:
            if t.name == name:
                return t
        raise ApiError(404, "toxic not found")


def decode_body(text: str) -> Any:
    """The first JSON value of a request body (trailing bytes ignored, as Go's decoder does); empty → 400 EOF."""
    text = text.lstrip()
    if not text:
        raise bad_body("EOF")
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except json.JSONDecodeError as exc:
        raise bad_body(str(exc)) from exc


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` → (host, port); ApiError 400 when malformed. ``:P`` means 127.0.0.1; ``[::1]:P`` is IPv6."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ApiError(400, f"invalid address {address!r}: want host:port {STRICTER}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise bad_body("want a JSON object")
    return data


def _string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_body(f"{key} must be a string")
    return value


def _bool(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_body(f"{key} must be a boolean")
    return value


def _proxy(data: Any, where: str = "") -> Proxy:
    data = _object(data)
    name, upstream, listen = _string(data, "name"), _string(data, "upstream"), _string(data, "listen")
    if not name:
        raise ApiError(400, f"missing required field: name{where}")
    if not upstream:
        raise ApiError(400, f"missing required field: upstream{where}")
    listen = listen or DEFAULT_LISTEN
    split_address(listen)
    split_address(upstream)
    enabled = _bool(data, "enabled")
    return Proxy(name=name, listen=listen, upstream=upstream, enabled=True if enabled is None else enabled)


def parse_new_proxy(data: Any) -> Proxy:
    """Validate a ``POST /proxies`` body. ``listen`` defaults to ``127.0.0.1:0`` (Toxiproxy: every interface)."""
    return _proxy(data)


def parse_populate(data: Any) -> list[Proxy]:
    """Validate a ``POST /populate`` body (a JSON list of proxies) entirely, before anything is changed."""
    if not isinstance(data, list):
        raise bad_body("want a JSON list of proxies")
    return [_proxy(item, f" at proxy {i}") for i, item in enumerate(data, 1)]


def parse_proxy_update(data: Any) -> dict[str, Any]:
    """Validate a ``POST|PATCH /proxies/{name}`` body: any of listen, upstream, enabled (absent/null = unchanged)."""
    data = _object(data)
    update: dict[str, Any] = {}
    for key in ("listen", "upstream"):
        value = _string(data, key)
        if value:
            split_address(value)
            update[key] = value
    enabled = _bool(data, "enabled")
    if enabled is not None:
        update["enabled"] = enabled
    return update


def _toxicity(value: Any, current: float) -> float:
    if value is None:
        return current
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body("toxicity must be a number")
    if not 0.0 <= value <= 1.0:
        raise ApiError(400, f"toxicity must be between 0 and 1 {STRICTER}")
    return float(value)


def _expiry(data: dict[str, Any], attributes: dict[str, Any], now: float, current: float | None) -> float | None:
    value = data.get(EXPIRY_KEY, attributes.pop(EXPIRY_KEY, None))
    if value is None:
        return current
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ApiError(400, f"{EXPIRY_KEY} must be a number of seconds > 0")
    return now + float(value)


def _attributes(ttype: str, given: Any, base: dict[str, int]) -> dict[str, int]:
    """``base`` with the ``given`` attributes merged in; every value a whole number, then the stricter checks."""
    if not isinstance(given, dict):
        raise bad_body("attributes must be an object")
    schema = TOXICS[ttype].defaults
    merged = dict(base)
    for key, value in given.items():
        if key not in schema:
            raise ApiError(400, f"unknown attribute {key!r} for toxic type {ttype} {STRICTER}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise bad_body(f"attributes.{key}: {value!r} is not a whole number (Toxiproxy attributes are integers)")
        merged[key] = value
    for key, value in merged.items():
        if value < 0:
            raise ApiError(400, f"attributes.{key} must be >= 0 {STRICTER}")
    why = TOXICS[ttype].refuse(merged)
    if why:
        raise ApiError(400, f"{why} {STRICTER}")
    return merged


def parse_new_toxic(data: Any, now: float, taken: set[str]) -> Toxic:
    """Validate a toxic body, in Toxiproxy's order: body, stream, type, duplicate name (409), attributes.

    ``now`` is epoch seconds (for self-expiry); ``taken`` the names of the proxy's toxics.
    """
    data = _object(data)
    stream = _string(data, "stream")
    stream = "downstream" if stream is None else stream
    if stream.lower() not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    ttype = _string(data, "type") or ""
    name = _string(data, "name") or f"{ttype}_{stream}"
    if ttype not in TOXICS:
        raise ApiError(400, "invalid toxic type")
    if name in taken:
        raise ApiError(409, "toxic already exists")
    toxicity = _toxicity(data.get("toxicity"), 1.0)
    given = data.get("attributes")
    given = {} if given is None else given
    given = dict(given) if isinstance(given, dict) else given
    expires_at = _expiry(data, given if isinstance(given, dict) else {}, now, None)
    attributes = _attributes(ttype, given, dict(TOXICS[ttype].defaults))
    return Toxic(name=name, type=ttype, stream=stream, toxicity=toxicity, attributes=attributes,
                 expires_at=expires_at)


def parse_toxic_update(toxic: Toxic, data: Any, now: float) -> Toxic:
    """The toxic after a ``POST|PATCH .../toxics/{name}`` body: only ``attributes`` (merged) and ``toxicity`` change —
    name, type and stream are ignored, as in Toxiproxy — plus our ``expires_in_s``. ``toxic`` itself is untouched."""
    data = _object(data)
    given = data.get("attributes")
    given = {} if given is None else given
    given = dict(given) if isinstance(given, dict) else given
    expires_at = _expiry(data, given if isinstance(given, dict) else {}, now, toxic.expires_at)
    attributes = _attributes(toxic.type, given, toxic.attributes)
    return Toxic(name=toxic.name, type=toxic.type, stream=toxic.stream,
                 toxicity=_toxicity(data.get("toxicity"), toxic.toxicity), attributes=attributes,
                 expires_at=expires_at)


def expired(toxics: list[Toxic], now: float) -> list[Toxic]:
    """The toxics whose self-expiry time has passed at ``now`` (epoch seconds)."""
    return [t for t in toxics if t.expires_at is not None and t.expires_at <= now]
