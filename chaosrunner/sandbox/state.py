"""The sandbox's description of itself: ``<root>/state.json``, written by ``sandbox up``, read by the
inventory, the guard (where Prometheus is) and the fault drivers.

This module is its one schema and its one loader. Where the sandbox lives is decided here too:
an explicit path, else ``$CHAOSRUNNER_SANDBOX``, else ``./.sandbox`` (the sandbox is a per-checkout
playground, unlike the host-wide safety state). Unknown keys are kept (a newer ``sandbox up`` may add
parts), known keys must have their type, so a hand-edited or truncated file is reported with its key
instead of failing later inside a driver.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaosrunner.core.storage import atomic_write_json

STATE_VERSION = 1
DEFAULT_ROOT = ".sandbox"
STATE_FILE = "state.json"


class SandboxStateMissing(RuntimeError):
    """There is no readable sandbox state: the sandbox is not up (or its state file is damaged)."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class Supervisor(_Part):
    url: str
    conf: str = ""
    pid: int | None = None


class Endpoint(_Part):
    url: str


class Toxiproxy(_Part):
    url: str
    kind: str = "builtin"


class Haproxy(_Part):
    url: str
    stats_socket: str
    metrics: str = ""
    stats: str = ""
    backend: str = "pinboard"


class PostgresNode(_Part):
    port: int
    name: str = ""
    data_dir: str = ""
    proxy: str = ""


class Postgres(_Part):
    primary: PostgresNode
    standby: PostgresNode
    base_dir: str = ""


class Loadgen(_Part):
    url: str
    rps: float = 0.0
    acked_file: str = ""


class Instance(_Part):
    id: str
    service: str = ""
    region: str = ""
    region_type: str = ""
    zone: str = ""
    tier: str = ""
    port: int
    program: str = ""
    proxy: str = ""
    proxy_port: int | None = None
    url: str = ""
    proxy_url: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Proxy(_Part):
    name: str
    listen: str
    upstream: str
    kind: str = ""


class SandboxState(_Part):
    version: int = STATE_VERSION
    root: str
    supervisor: Supervisor
    prometheus: Endpoint
    toxiproxy: Toxiproxy
    haproxy: Haproxy
    postgres: Postgres
    loadgen: Loadgen
    instances: list[Instance] = Field(default_factory=list)
    proxies: list[Proxy] = Field(default_factory=list)

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
    naming the file (and the key, for a malformed one)."""
    p = state_path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SandboxStateMissing(f"{p}: no sandbox state; run `chaosrunner sandbox up` first") from None
    except (OSError, ValueError) as e:
        raise SandboxStateMissing(f"{p}: unreadable sandbox state ({e})") from None
    try:
        return SandboxState.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise SandboxStateMissing(f"{p}: {key}: {err['msg']}") from None


def save_state(state: SandboxState, path: str | Path | None = None) -> None:
    """Replace the state file atomically (owner-only)."""
    atomic_write_json(state_path(path) if path else Path(state.root) / STATE_FILE, state.to_json())
