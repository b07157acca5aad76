"""Tuesday: a latency toxic on a fault-proxy path of the sandbox, through the Toxiproxy HTTP API.

Two paths (``path`` argument):

* ``database`` — the proxy in front of the *current* primary (found live): every query of the Full
  region's instances is slowed, so the service's own latency histogram (what the guard reads) shows it;
* ``instance`` — the proxy between HAProxy and each chosen instance: clients of that instance see it,
  the instance's own histogram does not (it is measured inside the instance).

The toxic carries our fault proxy's self-expiry (``expires_in_s``) when the estate runs the builtin proxy
(a real ``toxiproxy-server`` has no such attribute; the ledger entry is then the only backstop). Every API
call has a 3 s timeout (toxiproxy-python and chaostoolkit-toxiproxy set none). Units: milliseconds for
latency/jitter, seconds for durations.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.drivers.sandbox.state import (
    TIMEOUT_S,
    chosen_instances,
    database_roles,
    load_state,
    loadgen_stats,
    sample_latency,
    state_file,
    toxiproxy,
)
from chaosrunner.sandbox.control import http_json
from chaosrunner.sandbox.loadgen import percentile
from chaosrunner.sandbox.state import SandboxState

FAULT = "sandbox-latency-toxic"
TOXIC = "chaosrunner-latency"


def _proxies(
    st: SandboxState, path: str, configuration: dict[str, Any] | None, instance: str | None, state: str | None
) -> list[str]:
    if path == "database":
        primary = [n for n, r in database_roles(st).items() if r == "primary"]
        if len(primary) != 1:
            raise RuntimeError(f"no single primary to slow down: {database_roles(st)}")
        return [next(node.proxy for node in (st.postgres.primary, st.postgres.standby) if node.name == primary[0])]
    if path == "instance":
        _, chosen = chosen_instances(configuration, instance, state)
        return [i.proxy for i in chosen]
    raise ValueError(f"path must be 'instance' or 'database', not {path!r}")


def add_latency(
    latency_ms: float = 100.0,
    jitter_ms: float = 0.0,
    path: str = "instance",
    expires_in_s: float = 300.0,
    instance: str | None = None,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Add ``latency_ms`` ± ``jitter_ms`` (downstream) on the chosen path; one ledger entry per proxy."""
    if latency_ms <= 0 or jitter_ms < 0 or expires_in_s <= 0:
        raise ValueError("latency_ms and expires_in_s must be > 0, jitter_ms >= 0")
    st = load_state(configuration, state)
    path_file = str(state_file(configuration, state))
    attributes: dict[str, Any] = {"latency": round(latency_ms), "jitter": round(jitter_ms)}  # Toxiproxy takes integers
    if st.toxiproxy.kind == "builtin":
        attributes["expires_in_s"] = expires_in_s
    done = []
    for proxy in _proxies(st, path, configuration, instance, state):
        faults.record(FAULT, proxy, "remove_latency", {"proxies": [proxy], "state": path_file}, module=__name__,
                      expires_at=time.time() + expires_in_s)
        toxiproxy(st, f"/proxies/{proxy}/toxics",
                  {"name": TOXIC, "type": "latency", "stream": "downstream", "toxicity": 1.0,
                   "attributes": attributes})
        done.append(proxy)
    return {"proxies": done, "latency_ms": latency_ms, "jitter_ms": jitter_ms}


def remove_latency(
    proxies: list[str] | None = None,
    path: str = "instance",
    instance: str | None = None,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo (idempotent): delete our toxic from the given proxies, or from every proxy of the estate."""
    st = load_state(configuration, state)
    names = proxies or [p.name for p in st.proxies]
    removed = []
    for proxy in names:
        try:
            toxiproxy(st, f"/proxies/{proxy}/toxics/{TOXIC}", method="DELETE")
            removed.append(proxy)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        faults.settle(FAULT, proxy)
    return {"removed": removed}


def measure_latency(
    duration_s: float = 5.0,
    path: str = "instance",
    instance: str | None = None,
    figure_prefix: str = "under_latency",
    rate_per_s: float = 20.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Time paced requests (``rate_per_s``, one at a time) for ``duration_s`` seconds along the path;
    figures in milliseconds.

    ``instance`` path: ``GET /healthz`` through the chosen instance's proxy (what HAProxy sees).
    ``database`` path: ``GET /pins/{id}`` straight to a Full-region instance (a read through the DB path).
    Also reports the load generator's client-side p99 over the same window.
    """
    st = load_state(configuration, state)
    if path == "instance":
        _, chosen = chosen_instances(configuration, instance, state)
        url = chosen[0].proxy_url + "/healthz"
    else:
        acked = http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)
        pin = acked["ids"][0] if acked.get("ids") else 1
        full = next(i for i in st.instances if i.region_type == "Full")
        url = f"{full.url}/pins/{pin}"
    samples, errors = sample_latency(url, duration_s, rate_per_s)
    client = loadgen_stats(st, duration_s)
    figures = {
        f"p50_ms_{figure_prefix}": _round(percentile(samples, 50)),
        f"p99_ms_{figure_prefix}": _round(percentile(samples, 99)),
        f"requests_{figure_prefix}": len(samples),
        f"errors_{figure_prefix}": errors,
        f"client_p99_ms_{figure_prefix}": _round(client.get("p99_ms")),
    }
    return {"url": url, "chaosrunner_figures": figures}


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 2)
