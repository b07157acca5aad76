"""The sandbox as the drivers see it: its state file, the run's chosen targets, and its steady state.

Drivers are python activities; chaoslib passes them ``configuration`` when they declare it. Targets come
from ``configuration["chaosrunner_targets"]`` (Target dicts chosen by the runner); under plain
``chaos run`` the explicit ``instance`` argument names the target instead. The state file is the
``state`` argument, else ``configuration["sandbox_state"]``, else the sandbox's own rule
(``$CHAOSRUNNER_SANDBOX`` or ``./.sandbox``, :func:`chaosrunner.sandbox.state.state_path`); it is read
into :class:`~chaosrunner.sandbox.state.SandboxState`, so a missing or malformed file fails the
activity with :class:`~chaosrunner.sandbox.state.SandboxStateMissing` naming the file and the key.

PostgreSQL roles are read live (``pg_is_in_recovery()``), never trusted from the state file: after a
Thursday failover the node named ``pg-b`` is the primary. :func:`swap_database_roles` keeps the state
file truthful when a failover's rollback leaves the roles swapped.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from chaosrunner.sandbox.control import haproxy_servers, http_json, supervisor_rpc
from chaosrunner.sandbox.postgres import PostgresCluster
from chaosrunner.sandbox.state import Instance, SandboxState, save_state, state_path
from chaosrunner.sandbox.state import load_state as load_state_file

TIMEOUT_S = 3.0  # every HTTP / XML-RPC / database call of the sandbox drivers, seconds


def state_file(configuration: dict[str, Any] | None = None, state: str | None = None) -> Path:
    """The state file: explicit ``state`` argument, ``configuration["sandbox_state"]``, else the sandbox rule."""
    return state_path(state or (configuration or {}).get("sandbox_state"))


def load_state(configuration: dict[str, Any] | None = None, state: str | None = None) -> SandboxState:
    """The estate this activity acts on; raises ``SandboxStateMissing`` (file and key) when there is none."""
    return load_state_file(state_file(configuration, state))


def chosen_ids(configuration: dict[str, Any] | None, fallback: str | list[str] | None = None) -> list[str]:
    """Ids of the runner's chosen targets; else ``fallback`` (plain ``chaos run``). Never empty."""
    targets = (configuration or {}).get("chaosrunner_targets")
    ids = [str(t["id"]) for t in targets or [] if isinstance(t, dict) and t.get("id")]
    if not ids and fallback:
        ids = [fallback] if isinstance(fallback, str) else [str(x) for x in fallback]
    if not ids:
        raise ValueError("no target: run through `chaosrunner run` or give the instance argument")
    return ids


def chosen_instances(
    configuration: dict[str, Any] | None, fallback: str | list[str] | None = None, state: str | None = None
) -> tuple[SandboxState, list[Instance]]:
    """``(state, [instances])`` of the chosen targets."""
    st = load_state(configuration, state)
    return st, [st.instance(i) for i in chosen_ids(configuration, fallback)]


def supervisor(state: SandboxState) -> Any:
    return supervisor_rpc(state.supervisor.url, timeout_s=TIMEOUT_S)


def toxiproxy(state: SandboxState, path: str, data: Any = None, method: str | None = None) -> Any:
    """One Toxiproxy API call against the estate's fault proxy, with a timeout (the clients set none)."""
    return http_json(state.toxiproxy.url.rstrip("/") + path, data, method, timeout_s=TIMEOUT_S)


def loadgen_stats(state: SandboxState, window_s: float) -> dict[str, Any]:
    return dict(http_json(f"{state.loadgen.url}/stats?window={window_s:g}", timeout_s=TIMEOUT_S))


def http_request(url: str, write: bool) -> tuple[int, float, str]:
    """One read (GET) or write (POST ``{"body": "probe"}``): (status, seconds, error message); 599 when
    no answer came (connection refused, timeout)."""
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=json.dumps({"body": "probe"}).encode() if write else None,
                                 method="POST" if write else "GET", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            r.read()
            return r.status, time.perf_counter() - t0, ""
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:
            msg = str(json.loads(body).get("error", body))
        except ValueError:
            msg = body
        return e.code, time.perf_counter() - t0, msg
    except OSError as e:
        return 599, time.perf_counter() - t0, str(e)


def database_nodes(state: SandboxState) -> list[PostgresCluster]:
    """Both PostgreSQL clusters of the estate, whatever their current role."""
    pg = state.postgres
    return [PostgresCluster(Path(pg.base_dir), node.name, node.port) for node in (pg.primary, pg.standby)]


def database_roles(state: SandboxState) -> dict[str, str]:
    """Node name → ``primary`` | ``standby`` | ``down`` (live, via ``pg_is_in_recovery()``)."""
    roles = {}
    for node in database_nodes(state):
        try:
            roles[node.name] = "standby" if node.in_recovery() else "primary"
        except Exception:  # noqa: BLE001 - down, starting, unreachable: all mean "not usable"
            roles[node.name] = "down"
    return roles


def stream_port(state: SandboxState, node_name: str) -> int | None:
    """The port of the replication link to ``node_name`` (a standby of it streams through it); None for an
    estate from before the links were proxied (its standby streams directly)."""
    node = next(n for n in (state.postgres.primary, state.postgres.standby) if n.name == node_name)
    for proxy in state.proxies:
        if node.stream_proxy and proxy.name == node.stream_proxy:
            return int(proxy.listen.rsplit(":", 1)[1])
    return None


def streaming_standbys(primary: Any) -> int:
    """How many standbys stream from ``primary`` right now (``pg_stat_replication`` state streaming)."""
    rows = primary.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
    return int(rows[0][0])


def swap_database_roles(path: Path, primary_name: str) -> None:
    """Rewrite ``postgres.primary/standby`` in the state file so ``primary`` names ``primary_name``."""
    st = load_state_file(path)
    pg = st.postgres
    if pg.primary.name != primary_name:
        pg.primary, pg.standby = pg.standby, pg.primary
        save_state(st, path)


STRESS_ENV = "CHAOSRUNNER_SANDBOX_STRESS"  # set in every stress-ng our driver starts: the estate's root


def stress_processes(root: str | None = None) -> list[psutil.Process]:
    """Live stress-ng processes started for the estate at ``root`` (any of our estates when None).

    The stress-ng we start carries ``CHAOSRUNNER_SANDBOX_STRESS=<root>`` in its environment: other
    estates (and other people's tests) on the same machine run stress-ng too. Its workers rewrite their
    process title over the environment, so a worker is ours when its stress-ng parent is. Zombies are
    excluded (no CPU, no memory).
    """
    candidates = []
    for p in psutil.process_iter(["name"]):
        try:
            if (p.info["name"] or "").startswith("stress-ng") and p.status() != psutil.STATUS_ZOMBIE:
                candidates.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    tagged: set[int] = set()
    for p in candidates:
        try:
            tag = p.environ().get(STRESS_ENV)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if tag is not None and (root is None or tag == str(root)):
            tagged.add(p.pid)
    out = []
    for p in candidates:
        try:
            if p.pid in tagged or any(a.pid in tagged for a in p.parents()):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def steady_state_problems(state: SandboxState) -> list[str]:
    """Empty when the estate is whole: every supervisor program RUNNING, every proxy enabled without
    toxics, no stress-ng, one primary with a streaming standby, every instance at full CPU affinity,
    all HAProxy servers of the Full region UP, every CDN edge UP at the steering layer.
    Otherwise one sentence per problem."""
    problems: list[str] = []
    try:
        for info in supervisor(state).supervisor.getAllProcessInfo():
            if info["statename"] != "RUNNING":
                problems.append(f"program {info['name']} is {info['statename']}")
            else:
                with_all = set(range(os.cpu_count() or 1))
                try:
                    proc = psutil.Process(info["pid"])
                    if set(proc.cpu_affinity()) != with_all:
                        problems.append(f"program {info['name']} is pinned to a CPU subset")
                    if proc.nice() != 0:
                        problems.append(f"program {info['name']} runs at nice {proc.nice()}")
                except psutil.NoSuchProcess:
                    problems.append(f"instance {info['name']} vanished")
    except Exception as e:  # noqa: BLE001 - supervisor unreachable is itself the problem
        problems.append(f"supervisor unreachable: {e}")
    try:
        for name, proxy in (toxiproxy(state, "/proxies") or {}).items():
            if not proxy.get("enabled", True):
                problems.append(f"proxy {name} disabled")
            if proxy.get("toxics"):
                problems.append(f"proxy {name} has toxics {[t['name'] for t in proxy['toxics']]}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"fault proxy unreachable: {e}")
    if stress_processes(state.root):
        problems.append("stress-ng is running")
    roles = database_roles(state)
    primaries = [n for n, r in roles.items() if r == "primary"]
    if len(primaries) != 1 or "standby" not in roles.values():
        problems.append(f"database roles {roles}: want one primary and one standby")
    else:
        node = next(n for n in database_nodes(state) if n.name == primaries[0])
        try:
            if streaming_standbys(node) < 1:
                problems.append(f"primary {node.name} has no streaming standby")
        except Exception as e:  # noqa: BLE001
            problems.append(f"primary {node.name} unreachable: {e}")
    try:
        full = {i.id for i in state.instances if i.region_type == "Full"}
        servers = haproxy_servers(state.haproxy.stats_socket, state.haproxy.backend)
        down = sorted(s for s, st in servers.items() if s in full and st != "UP")
        if down:
            problems.append(f"router servers not UP: {down}")
    except OSError as e:
        problems.append(f"router runtime API unreachable: {e}")
    if state.cdn is not None:
        try:
            steering = haproxy_servers(state.cdn.stats_socket, state.cdn.backend)
            dark = sorted(e.id for e in state.cdn.edges if steering.get(e.id) != "UP")
            if dark:
                problems.append(f"CDN edges not UP at the steering layer: {dark}")
        except OSError as e:
            problems.append(f"CDN steering runtime API unreachable: {e}")
    return problems


def estate_whole(configuration: dict[str, Any] | None = None, state: str | None = None) -> bool:
    """Steady-state probe: True when :func:`steady_state_problems` finds nothing (tolerance ``true``)."""
    problems = steady_state_problems(load_state(configuration, state))
    if problems:
        logging.getLogger("chaosrunner").warning("sandbox not whole: %s", "; ".join(problems))
    return not problems


def client_success_ratio(
    window_s: float = 5.0,
    wait_s: float = 0.0,
    min_ratio: float = 0.99,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> float:
    """Steady-state probe: the load generator's success ratio over the last ``window_s`` seconds (0..1).

    With ``wait_s`` > 0 it polls (every 0.5 s, at most ``wait_s`` seconds) until the ratio reaches
    ``min_ratio``: after a fault the window must first slide past the errors the fault caused.
    """
    st = load_state(configuration, state)
    return ratio_reaching(lambda: loadgen_stats(st, window_s).get("success_ratio"), wait_s, min_ratio)


def ratio_reaching(read: Any, wait_s: float, min_ratio: float) -> float:
    """Poll ``read()`` (a ratio, or None for "nothing measured" = 0.0) every 0.5 s, at most ``wait_s``
    seconds, until it reaches ``min_ratio``; the last value."""
    deadline = time.monotonic() + wait_s
    while True:
        ratio = read()
        value = 0.0 if ratio is None else float(ratio)
        if value >= min_ratio or time.monotonic() >= deadline:
            return value
        time.sleep(0.5)


def client_p99_ms(
    window_s: float = 5.0,
    wait_s: float = 0.0,
    max_ms: float = 200.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> float:
    """Steady-state probe: the load generator's client-side p99 (milliseconds) over the last ``window_s``.

    With ``wait_s`` > 0 it polls (every 0.5 s, at most ``wait_s`` seconds) until p99 ≤ ``max_ms``. An
    estate already slower than its latency objective is not a steady state to experiment on: the guard
    would abort on a slowdown the experiment did not cause.
    """
    st = load_state(configuration, state)
    deadline = time.monotonic() + wait_s
    while True:
        p99 = loadgen_stats(st, window_s).get("p99_ms")
        value = float("inf") if p99 is None else float(p99)
        if value <= max_ms or time.monotonic() >= deadline:
            return value if value != float("inf") else 1e9
        time.sleep(0.5)


def sample_latency(url: str, duration_s: float, rate_per_s: float) -> tuple[list[float], int]:
    """GET ``url`` at ``rate_per_s`` for ``duration_s``: ``(latencies in ms, count of errors)``.

    Paced, not flat out: a probe hammering one instance would itself load the 2-core estate. A 5xx
    or a failed connection is an error; every request has the drivers' timeout."""
    samples: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration_s
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        next_at += 1.0 / rate_per_s
        time.sleep(max(0.0, next_at - time.monotonic()))
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
                r.read()
        except urllib.error.HTTPError as e:
            errors += e.code >= 500
        except OSError:
            errors += 1
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples, errors
