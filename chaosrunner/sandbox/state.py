"""The sandbox's description of itself: ``<root>/state.json``, written by ``sandbox up``, read by the
inventory, the guard (where Prometheus is), the fault drivers and ``sandbox status|down``.

This module is its one schema and its one loader. Where the sandbox lives is decided here too:
an explicit path, else ``$CHAOSRUNNER_SANDBOX``, else ``./.sandbox`` (the sandbox is a per-checkout
playground, unlike the host-wide safety state). Unknown keys are kept (a newer ``sandbox up`` may add
parts), known keys must have their type — strictly: a port written as ``"5432"`` is refused, not
guessed at — so a hand-edited or truncated file is reported with its key instead of failing later
inside a driver. URLs are ``http://127.0.0.1:PORT`` without a trailing slash; durations are seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from chaosrunner.core.storage import atomic_write_json
from chaosrunner.core.validation import InvalidInput, Model, load_model

STATE_VERSION = 1
DEFAULT_ROOT = ".sandbox"
STATE_FILE = "state.json"


class SandboxStateMissing(InvalidInput):
    """There is no usable sandbox state: the sandbox is not up, or its state file is damaged.

    An :class:`InvalidInput`, so it names the file and (for a malformed one) the key, and the
    inventory reports it like any other bad input file."""


class _Part(Model):
    model_config = ConfigDict(extra="allow", strict=True)


class Supervisor(_Part):
    url: str  # XML-RPC endpoint, ``…/RPC2``
    conf: str = ""
    pid: int | None = None


class Endpoint(_Part):
    url: str


class Toxiproxy(_Part):
    url: str
    kind: str = "builtin"  # ``builtin`` (our fault proxy, toxics can expire) | ``toxiproxy-server``


class Haproxy(_Part):
    url: str  # the router: where clients send requests
    stats_socket: str  # runtime API (``set server …``, ``show stat``)
    metrics: str = ""
    stats: str = ""
    backend: str = "pinboard"


class PostgresNode(_Part):
    port: int
    name: str = ""
    data_dir: str = ""
    dsn: str = ""
    proxy: str = ""  # the fault-proxy proxy in front of this node (the app tier's path to it)
    stream_proxy: str = ""  # the replication link to it: a standby of this node streams through it
    region: str = ""  # where the node lives


class Postgres(_Part):
    """``primary``/``standby`` are the roles as last recorded (``sandbox up``, then a failover's
    rebuild); read them live (``pg_is_in_recovery()``) when it matters."""

    primary: PostgresNode
    standby: PostgresNode
    base_dir: str = ""


class Loadgen(_Part):
    url: str
    rps: float = 0.0  # requests per second
    acked_file: str = ""  # one acknowledged write id per line


class Instance(_Part):
    id: str
    service: str = ""
    region: str = ""
    region_type: str = ""  # Full | Read-Only | Lightweight
    zone: str = ""
    tier: str = ""
    port: int
    program: str = ""  # its supervisord program name
    proxy: str = ""  # the fault-proxy proxy between HAProxy and it
    proxy_port: int | None = None
    url: str = ""
    proxy_url: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Proxy(_Part):
    name: str
    listen: str  # ``127.0.0.1:PORT``
    upstream: str  # ``127.0.0.1:PORT``
    kind: str = ""  # instance | database | replication | link | cdn-edge
    between: list[str] = Field(default_factory=list)  # what the path joins: regions, ``app``, ``cdn``


class CdnEdge(_Part):
    id: str
    vendor: str = ""  # varnish | nginx
    role: str = ""  # primary | secondary (the steering layer's preference)
    port: int
    url: str = ""
    proxy: str = ""  # the fault-proxy proxy between the steering layer and this edge
    proxy_port: int | None = None


class Cdn(_Part):
    """The CDN tier: edges behind a steering layer (HAProxy) that health-checks them."""

    url: str  # where clients fetch images (``/images/<n>``)
    stats_socket: str
    metrics: str = ""
    backend: str = "cdn"
    edges: list[CdnEdge] = Field(default_factory=list)

    def serving(self, steering: dict[str, str]) -> str | None:
        """The edge fetches go to, given the steering layer's server states: the primary while it is UP,
        else the first UP edge, else None."""
        up = [e for e in self.edges if steering.get(e.id) == "UP"]
        return next((e.id for e in up if e.role == "primary"), up[0].id if up else None)

    def edge(self, edge_id: str) -> CdnEdge:
        for e in self.edges:
            if e.id == edge_id:
                return e
        raise ValueError(f"no CDN edge {edge_id!r} (have {[e.id for e in self.edges]})")


class UpOptions(_Part):
    """The options ``sandbox up`` built the estate with."""

    rps: float  # load generator rate, requests per second
    image_rps: float = 0.0  # image fetches through the CDN, per second
    write_ratio: float  # share of writes in the load, 0..1
    replacement_delay_s: float  # extra boot time of a replaced instance
    base_port: int | None = None  # None: free ports


class SandboxState(_Part):
    version: int = STATE_VERSION
    root: str
    created_at: float | None = None  # epoch seconds; an idempotent ``up`` keeps it
    supervisor: Supervisor
    prometheus: Endpoint
    toxiproxy: Toxiproxy
    haproxy: Haproxy
    postgres: Postgres
    loadgen: Loadgen
    cdn: Cdn | None = None  # an estate from before the CDN tier has none
    instances: list[Instance] = Field(default_factory=list)
    proxies: list[Proxy] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list)  # every TCP port of the estate
    up_timings: dict[str, float] = Field(default_factory=dict)  # phase → seconds since ``up`` started
    options: UpOptions | None = None

    def instance(self, instance_id: str) -> Instance:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        raise ValueError(f"no sandbox instance {instance_id!r}")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def sandbox_root(root: str | Path | None = None) -> Path:
    """``root`` if given, else ``$CHAOSRUNNER_SANDBOX``, else ``./.sandbox`` — always absolute."""
    return Path(root or os.environ.get("CHAOSRUNNER_SANDBOX") or DEFAULT_ROOT).absolute()


def state_path(explicit: str | Path | None = None) -> Path:
    """The state file: an explicit file path, else ``<sandbox_root()>/state.json``."""
    if explicit:
        return Path(explicit).absolute()
    return sandbox_root() / STATE_FILE


def load_state(path: str | Path | None = None) -> SandboxState:
    """The sandbox state at ``path`` (default :func:`state_path`); raises :class:`SandboxStateMissing`
    naming the file (and every bad key, for a malformed one)."""
    p = state_path(path)
    if not p.is_file():
        raise SandboxStateMissing(p, [("", "no sandbox state: run `chaosrunner sandbox up` first")])
    try:
        return load_model(SandboxState, p)
    except InvalidInput as e:
        raise SandboxStateMissing(p, e.problems) from None


def save_state(state: SandboxState, path: str | Path | None = None) -> None:
    """Replace the state file (default ``<state.root>/state.json``) atomically (owner-only)."""
    atomic_write_json(state_path(path) if path else Path(state.root) / STATE_FILE, state.to_json())
