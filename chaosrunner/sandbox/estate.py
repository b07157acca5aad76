"""Bring the sandbox estate up, describe it, tear it down (``chaosrunner sandbox up|status|down``).

Process model: PostgreSQL primary + standby are started by ``pg_ctl`` (they daemonize); everything else
— the fault proxy, the ten pinboard instances, HAProxy, the CDN edges (Varnish, nginx) and their steering
HAProxy, Prometheus and the load generator — runs
under one supervisord (the "auto-scaling group": ``autorestart``, XML-RPC on 127.0.0.1). supervisord
itself runs in its own session, so it outlives the ``sandbox up`` command; ``<root>/state.json`` (the
model in :mod:`chaosrunner.sandbox.state`) tells every later command where everything is.

``up`` is idempotent: a healthy estate described by ``state.json`` is returned as is; a stale or
broken one is torn down first. ``down`` works from ``state.json`` plus supervisord's pid file and the
PostgreSQL pid files, and removes ``<root>`` entirely: no process, no port, no stale state.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from chaosrunner.core import regions
from chaosrunner.core.ports import LOOPBACK, port_open
from chaosrunner.sandbox import configs
from chaosrunner.sandbox.configs import Program
from chaosrunner.sandbox.control import HTTP_TIMEOUT_S, haproxy_servers, http_json, supervisor_rpc
from chaosrunner.sandbox.pinboard import SCHEMA, db_dsn
from chaosrunner.sandbox.postgres import PostgresCluster, pg_base_dir
from chaosrunner.sandbox.processes import ManagedProcess, stop_group
from chaosrunner.sandbox.prometheus import PrometheusServer, render_config
from chaosrunner.sandbox.state import (
    STATE_FILE,
    Cdn,
    CdnEdge,
    Endpoint,
    Haproxy,
    Instance,
    Loadgen,
    Postgres,
    PostgresNode,
    Proxy,
    SandboxState,
    SandboxStateMissing,
    Supervisor,
    Toxiproxy,
    UpOptions,
    load_state,
    save_state,
)
from chaosrunner.sandbox.topology import CDN_EDGES, NODE_REGION, SERVICE, Ports, allocate_ports, instances

PRIMARY, STANDBY = "pg-a", "pg-b"


class SandboxError(RuntimeError):
    """The estate could not be brought up / reached; the message names the part and its log."""


@dataclass
class SandboxOptions:
    root: Path
    base_port: int | None = None         # consecutive ports from here (order: topology.FIXED_PORTS…)
    rps: float = 50.0                     # load generator rate (requests/s)
    image_rps: float = 20.0               # image fetches through the CDN (requests/s)
    write_ratio: float = 0.2              # share of writes in the load
    replacement_delay_s: float = 0.0      # extra boot time of a replaced (restarted) instance, seconds
    toxiproxy_server: str | None = "auto"  # "auto": use `toxiproxy-server` if on PATH; None: builtin
    ready_timeout_s: float = 60.0


# ----------------------------------------------------------------------------- waiting
def _servers_up(stats_socket: Path) -> int:
    return sum(1 for st in haproxy_servers(stats_socket).values() if st == "UP")


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait(what: str, check: Any, timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            pass
        time.sleep(0.1)
    hint = f" (log: {log})" if log else ""
    raise SandboxError(f"{what} not ready after {timeout_s:.0f}s{hint}")


# ----------------------------------------------------------------------------- state
def _existing_state(root: Path) -> SandboxState | None:
    """The state ``<root>/state.json`` describes, or None when there is none or it is damaged (``up``
    then rebuilds; ``down`` falls back to the pid files)."""
    try:
        return load_state(root / STATE_FILE)
    except SandboxStateMissing:
        return None


def _running(state: SandboxState) -> bool:
    """True when the estate's supervisord answers — the estate exists, perhaps degraded by a fault.

    ``up`` deliberately does not "repair" a running estate (a killed database during a failover
    experiment must stay killed); ``down`` then ``up`` rebuilds it.
    """
    try:
        return bool(supervisor_rpc(state.supervisor.url).supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Error, KeyError):
        return False


# ----------------------------------------------------------------------------- up
def _toxiproxy_binary(choice: str | None) -> str | None:
    if choice is None:
        return None
    if choice == "auto":
        return shutil.which("toxiproxy-server")
    return choice


def _programs(opts: SandboxOptions, ports: Ports, paths: dict[str, Path], dsns: dict[str, str],
              toxi_bin: str | None) -> list[Program]:
    py = sys.executable
    root = opts.root
    if toxi_bin:
        fault = Program("faultproxy", [toxi_bin, "-host", LOOPBACK, "-port", str(ports.toxiproxy)], 10)
    else:
        fault = Program("faultproxy", [py, "-m", "chaosrunner.sandbox.faultproxy", "--port",
                                       str(ports.toxiproxy), "--proxies", str(paths["proxies"])], 10)
    progs = [fault]
    for spec in instances():
        progs.append(Program(spec.id, [
            py, "-m", "chaosrunner.sandbox.pinboard", "--id", spec.id, "--region", spec.region,
            "--region-type", spec.region_type, "--zone", spec.zone, "--tier", spec.tier,
            "--port", str(ports.instance[spec.id]),
            "--write-dsn", dsns["link_write"] if spec.region_type == "Lightweight" else dsns["write"],
            "--read-dsn", dsns[{"Full": "read_full", "Lightweight": "link_read"}.get(spec.region_type, "read_replica")],
            "--start-delay", str(opts.replacement_delay_s),
            "--boot-marker", str(root / "run" / f"{spec.id}.booted"),
        ], 20, stop_wait_s=2))
    progs.append(Program("haproxy", ["haproxy", "-db", "-f", str(paths["haproxy"])], 30, autostart=False,
                         stop_wait_s=1))
    for edge, vendor, _ in CDN_EDGES:
        if vendor == "varnish":
            argv = ["varnishd", "-F", "-j", "none", "-T", "none", "-n", str(root / "cdn" / edge / "work"),
                    "-a", f"{LOOPBACK}:{ports.edge[edge]}", "-f", str(root / "cdn" / f"{edge}.vcl"),
                    "-s", "malloc,32m", "-l", "8m", "-p", "thread_pool_min=5", "-p", "thread_pools=1"]
        else:
            argv = ["nginx", "-p", str(root / "cdn" / edge), "-c", str(root / "cdn" / f"{edge}.conf"),
                    "-e", str(root / "logs" / f"{edge}-error.log")]
        progs.append(Program(edge, argv, 35, autostart=False, stop_wait_s=2))
    progs.append(Program("cdn-steering", ["haproxy", "-db", "-f", str(paths["cdn"])], 36, autostart=False,
                         stop_wait_s=1))
    progs.append(Program("prometheus", [
        "prometheus", f"--config.file={paths['prometheus']}", f"--storage.tsdb.path={root / 'prometheus' / 'data'}",
        "--storage.tsdb.retention.time=1d", f"--web.listen-address={LOOPBACK}:{ports.prometheus}",
        "--web.enable-lifecycle", "--log.level=warn"], 40, autostart=False, stop_wait_s=1))
    progs.append(Program("loadgen", [
        py, "-m", "chaosrunner.sandbox.loadgen", "--target", f"http://{LOOPBACK}:{ports.haproxy}",
        "--cdn", f"http://{LOOPBACK}:{ports.cdn}", "--image-rps", str(opts.image_rps),
        "--port", str(ports.loadgen), "--rps", str(opts.rps), "--write-ratio", str(opts.write_ratio),
        "--acked", str(root / "loadgen" / "acked.txt")], 50, autostart=False))
    return progs


def _proxy_list(ports: Ports) -> list[Proxy]:
    """Every path the fault proxy stands on, with what it joins (a partition cuts the paths between two sides)."""

    def proxy(name: str, listen: int, upstream: int, kind: str, between: list[str]) -> Proxy:
        return Proxy(name=name, listen=f"{LOOPBACK}:{listen}", upstream=f"{LOOPBACK}:{upstream}", kind=kind,
                     between=between)

    out = [proxy(spec.proxy, ports.instance_proxy[spec.id], ports.instance[spec.id], "instance",
                 ["router", spec.region]) for spec in instances()]
    a, b = NODE_REGION[PRIMARY], NODE_REGION[STANDBY]
    out += [
        # the app tier of the regions with a database (Full and Read-Only) to each node
        proxy(PRIMARY, ports.db_proxy_primary, ports.pg_primary, "database", ["app", "database", PRIMARY]),
        proxy(STANDBY, ports.db_proxy_standby, ports.pg_standby, "database", ["app", "database", STANDBY]),
        # replication: a standby streams from the primary through the primary's stream proxy
        proxy(f"stream-{PRIMARY}", ports.repl_proxy_a, ports.pg_primary, "replication", [b, a]),
        proxy(f"stream-{STANDBY}", ports.repl_proxy_b, ports.pg_standby, "replication", [a, b]),
        # the Lightweight region's inter-region links to each node
        # (part of the app tier's paths to the database too)
        proxy(f"ap-south-{PRIMARY}", ports.link_pg_a, ports.pg_primary, "link",
              ["ap-south", a, "app", "database", PRIMARY]),
        proxy(f"ap-south-{STANDBY}", ports.link_pg_b, ports.pg_standby, "link",
              ["ap-south", b, "app", "database", STANDBY]),
    ]
    out += [proxy(edge, ports.edge_proxy[edge], ports.edge[edge], "cdn-edge", ["cdn", edge])
            for edge, _, _ in CDN_EDGES]
    return out


def _populate(proxies: list[Proxy]) -> list[dict[str, Any]]:
    """The fault proxy's own format (``--proxies`` file, Toxiproxy's ``/populate``): every proxy enabled."""
    return [{"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": True} for p in proxies]


def _node(cluster: PostgresCluster, proxy: str) -> PostgresNode:
    return PostgresNode(name=cluster.name, port=cluster.port, data_dir=str(cluster.data_dir), dsn=cluster.dsn,
                        proxy=proxy, stream_proxy=f"stream-{cluster.name}", region=NODE_REGION[cluster.name])


def _paths(root: Path) -> dict[str, Path]:
    """Where ``up`` writes the parts' configuration (and HAProxy its runtime socket)."""
    return {
        "proxies": root / "faultproxy" / "proxies.json",
        "haproxy": root / "haproxy" / "haproxy.cfg",
        "prometheus": root / "prometheus" / "prometheus.yml",
        "rules": root / "prometheus" / "rules.yml",
        "supervisor": root / "supervisor" / "supervisord.conf",
        "stats_socket": root / "run" / "haproxy.sock",
        "cdn": root / "cdn" / "steering.cfg",
        "cdn_socket": root / "run" / "cdn.sock",
    }


def _write_cdn_configs(root: Path, ports: Ports, paths: dict[str, Path]) -> None:
    """The edges' and the steering layer's configuration files (the edges' own directories too)."""
    user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    for edge, vendor, _ in CDN_EDGES:
        (root / "cdn" / edge).mkdir(parents=True, exist_ok=True)
        if vendor == "varnish":
            (root / "cdn" / f"{edge}.vcl").write_text(configs.varnish_vcl(edge, ports.haproxy))
        else:
            (root / "cdn" / f"{edge}.conf").write_text(configs.nginx_conf(edge, ports.edge[edge], ports.haproxy,
                                                                          root, user))
    paths["cdn"].write_text(configs.cdn_steering_cfg(ports, paths["cdn_socket"]))


def describe(opts: SandboxOptions, ports: Ports, primary: PostgresCluster, standby: PostgresCluster,
             toxiproxy_kind: str) -> SandboxState:
    """Pure: the state of the estate under ``opts.root`` on ``ports`` — what ``up`` writes once every part
    answers, after adding ``created_at``, supervisord's pid and the phase timings."""
    root = opts.root
    paths = _paths(root)
    return SandboxState(
        root=str(root),
        supervisor=Supervisor(url=f"http://{LOOPBACK}:{ports.supervisor}/RPC2", conf=str(paths["supervisor"])),
        prometheus=Endpoint(url=f"http://{LOOPBACK}:{ports.prometheus}"),
        toxiproxy=Toxiproxy(url=f"http://{LOOPBACK}:{ports.toxiproxy}", kind=toxiproxy_kind),
        haproxy=Haproxy(url=f"http://{LOOPBACK}:{ports.haproxy}", stats_socket=str(paths["stats_socket"]),
                        metrics=f"http://{LOOPBACK}:{ports.haproxy_metrics}/metrics",
                        stats=f"http://{LOOPBACK}:{ports.haproxy_metrics}/stats", backend=SERVICE),
        postgres=Postgres(primary=_node(primary, PRIMARY), standby=_node(standby, STANDBY),
                          base_dir=str(primary.base_dir)),
        loadgen=Loadgen(url=f"http://{LOOPBACK}:{ports.loadgen}", rps=opts.rps,
                        acked_file=str(root / "loadgen" / "acked.txt")),
        cdn=Cdn(url=f"http://{LOOPBACK}:{ports.cdn}", stats_socket=str(paths["cdn_socket"]),
                metrics=f"http://{LOOPBACK}:{ports.cdn_metrics}/metrics", backend="cdn",
                edges=[CdnEdge(id=edge, vendor=vendor, role=role, port=ports.edge[edge],
                               url=f"http://{LOOPBACK}:{ports.edge[edge]}", proxy=edge,
                               proxy_port=ports.edge_proxy[edge]) for edge, vendor, role in CDN_EDGES]),
        instances=[
            Instance(id=s.id, service=SERVICE, region=s.region, region_type=s.region_type, zone=s.zone,
                     tier=s.tier, port=ports.instance[s.id], program=s.id, proxy=s.proxy,
                     proxy_port=ports.instance_proxy[s.id], url=f"http://{LOOPBACK}:{ports.instance[s.id]}",
                     proxy_url=f"http://{LOOPBACK}:{ports.instance_proxy[s.id]}")
            for s in instances()
        ],
        proxies=_proxy_list(ports),
        ports=sorted(ports.all()),
        options=UpOptions(rps=opts.rps, image_rps=opts.image_rps, write_ratio=opts.write_ratio,
                          replacement_delay_s=opts.replacement_delay_s,
                          base_port=opts.base_port),
    )


def up(opts: SandboxOptions) -> SandboxState:
    """Bring the estate up (idempotent) and return the state written to ``<root>/state.json``."""

    root = opts.root = opts.root.absolute()
    existing = _existing_state(root)
    if existing is not None and _running(existing):
        return existing
    if (root / STATE_FILE).exists() or (root / "supervisor").exists():
        down(root)
    for d in ("supervisor", "logs", "run", "haproxy", "prometheus", "loadgen", "faultproxy", "cdn"):
        (root / d).mkdir(parents=True, exist_ok=True)
    ports = allocate_ports(opts.base_port)
    specs = instances()
    toxi_bin = _toxiproxy_binary(opts.toxiproxy_server)

    pg_base = pg_base_dir(root)
    primary = PostgresCluster(pg_base, PRIMARY, ports.pg_primary)
    standby = PostgresCluster(pg_base, STANDBY, ports.pg_standby)
    state = describe(opts, ports, primary, standby, "toxiproxy-server" if toxi_bin else "builtin")
    paths = _paths(root)
    stats_socket = paths["stats_socket"]
    supervisord: ManagedProcess | None = None
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    try:
        paths["proxies"].write_text(json.dumps(_populate(state.proxies), indent=2))
        paths["haproxy"].write_text(configs.haproxy_cfg(specs, ports, stats_socket))
        prom_doc = render_config(configs.prometheus_jobs(specs, ports), scrape_interval_s=1.0)
        paths["prometheus"].write_text(yaml.safe_dump(configs.finish_prometheus_config(prom_doc, paths["rules"]),
                                                      sort_keys=False))
        paths["rules"].write_text(yaml.safe_dump(configs.recording_rules(), sort_keys=False))
        _write_cdn_configs(root, ports, paths)
        db_a, db_b = (LOOPBACK, ports.db_proxy_primary), (LOOPBACK, ports.db_proxy_standby)
        link_a, link_b = (LOOPBACK, ports.link_pg_a), (LOOPBACK, ports.link_pg_b)
        dsns = {
            "write": db_dsn([db_a, db_b], "read-write"),
            "read_full": db_dsn([db_a, db_b], "any"),
            "read_replica": db_dsn([db_b, db_a], "prefer-standby"),
            "link_write": db_dsn([link_a, link_b], "read-write"),
            "link_read": db_dsn([link_a, link_b], "any"),
        }
        programs = _programs(opts, ports, paths, dsns, toxi_bin)
        paths["supervisor"].write_text(configs.supervisord_conf(programs, ports.supervisor, root))
        supervisord = ManagedProcess(
            "supervisord", [sys.executable, "-m", "supervisor.supervisord", "-c", str(paths["supervisor"])],
            root / "supervisor" / "supervisord.out",
        ).start()
        (root / "supervisor" / "supervisord.pid.launch").write_text(str(supervisord.pid))
        # PostgreSQL is built while supervisord's Python processes start (instances connect lazily)
        for c in (primary, standby):
            if c.dir.exists():
                c.destroy()
        primary.init_primary()
        primary.start()
        primary.execute(SCHEMA)
        standby.init_standby(primary, slot="pg_b", stream_port=ports.repl_proxy_a)
        standby.start()
        phases["postgres_s"] = round(time.monotonic() - t0, 2)
        sup_url, api = state.supervisor.url, state.toxiproxy.url
        deadline_s = opts.ready_timeout_s
        _wait("supervisord", lambda: supervisor_rpc(sup_url).supervisor.getState()["statename"] == "RUNNING",
              deadline_s, root / "supervisor" / "supervisord.log")
        _wait("fault proxy", lambda: http_json(f"{api}/version"), deadline_s, root / "logs" / "faultproxy.log")
        if toxi_bin:
            http_json(f"{api}/populate", _populate(state.proxies))
        phases["supervisord_s"] = round(time.monotonic() - t0, 2)
        for spec in specs:
            _wait(spec.id, lambda s=spec: http_json(f"http://{LOOPBACK}:{ports.instance[s.id]}/healthz")["ok"],
                  deadline_s, root / "logs" / f"{spec.id}.log")
        phases["instances_s"] = round(time.monotonic() - t0, 2)
        rpc = supervisor_rpc(sup_url, timeout_s=deadline_s)
        for name in ("haproxy", *(edge for edge, _, _ in CDN_EDGES), "cdn-steering", "prometheus"):
            rpc.supervisor.startProcess(name, True)
        _wait("haproxy (all Full-region servers UP)",
              lambda: _servers_up(stats_socket) >= sum(1 for s in specs if s.region_type == "Full"),
              deadline_s, root / "logs" / "haproxy.log")
        phases["router_s"] = round(time.monotonic() - t0, 2)
        _wait("CDN steering (primary edge UP)",
              lambda: haproxy_servers(paths["cdn_socket"], "cdn").get(CDN_EDGES[0][0]) == "UP",
              deadline_s, root / "logs" / "cdn-steering.log")
        rpc.supervisor.startProcess("loadgen", True)
        _wait("prometheus", lambda: urllib.request.urlopen(
            f"{state.prometheus.url}/-/ready", timeout=HTTP_TIMEOUT_S).status == 200,
            deadline_s, root / "logs" / "prometheus.log")
        _wait("loadgen", lambda: http_json(f"{state.loadgen.url}/stats"), deadline_s, root / "logs" / "loadgen.log")
        phases["total_s"] = round(time.monotonic() - t0, 2)
    except BaseException:
        if supervisord is not None:
            supervisord.stop(10)
        for c in (standby, primary):
            c.destroy()
        raise

    state.created_at = time.time()
    state.supervisor.pid = supervisord.pid
    state.up_timings = phases
    save_state(state)
    return state


def wait_scraped(state: SandboxState, timeout_s: float = 30.0) -> None:
    """Block until Prometheus has scraped every target once (``up == 1`` for all of them)."""

    port = int(state.prometheus.url.rsplit(":", 1)[1])
    jobs = {SERVICE: [i.url for i in state.instances], "haproxy": ["h"], "loadgen": ["l"], "cdn-steering": ["c"]}
    prom = PrometheusServer(Path(state.root) / "prometheus", jobs, port=port)
    deadline = time.monotonic() + timeout_s
    for job in jobs:
        prom.wait_for_up(job, timeout=max(1.0, deadline - time.monotonic()))


# ----------------------------------------------------------------------------- down
def down(root: Path, timeout_s: float = 20.0) -> dict[str, Any]:
    """Stop everything under ``root`` and delete it. Returns what was stopped (for the CLI)."""
    root = root.absolute()
    state = _existing_state(root)
    stopped: list[str] = []
    pids: set[int] = set()
    for f in ("supervisord.pid", "supervisord.pid.launch"):
        try:
            pids.add(int((root / "supervisor" / f).read_text().strip()))
        except (OSError, ValueError):
            pass
    if state is not None and state.supervisor.pid:
        pids.add(state.supervisor.pid)
    if state is not None:
        try:
            rpc = supervisor_rpc(state.supervisor.url, timeout_s=10)
            # stop every program at once (stopAllProcesses goes one priority group at a time: ~7 s)
            for info in rpc.supervisor.getAllProcessInfo():
                if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                    try:
                        rpc.supervisor.stopProcess(info["name"], False)
                    except xmlrpc.client.Fault:
                        pass  # already stopping / not running
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and any(
                i["statename"] in ("RUNNING", "STARTING", "STOPPING", "BACKOFF")
                for i in rpc.supervisor.getAllProcessInfo()
            ):
                time.sleep(0.05)
            rpc.supervisor.shutdown()
            stopped.append("supervisor programs")
        except (OSError, xmlrpc.client.Error):
            pass
    for pid in pids:
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            stop_group(pid, 5)
        stopped.append(f"supervisord pid {pid}")
    pg = state.postgres if state is not None else None
    base = Path(pg.base_dir) if pg is not None and pg.base_dir else pg_base_dir(root)
    node_ports = {n.name: n.port for n in (pg.primary, pg.standby)} if pg is not None else {}
    for name in (PRIMARY, STANDBY):
        cluster = PostgresCluster(base, name, node_ports.get(name, 0))
        if cluster.running():
            stopped.append(f"postgres {name}")
        cluster.destroy()
    if base.name.startswith("chaosrunner-pg-") or base == root / "pg":
        shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return {"root": str(root), "stopped": stopped}


# ----------------------------------------------------------------------------- status
def _cdn_status(state: SandboxState, procs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The CDN tier: each edge's process and what the steering layer thinks of it (UP/DOWN, serving)."""
    if state.cdn is None:
        return None
    try:
        steering = haproxy_servers(state.cdn.stats_socket, state.cdn.backend)
    except OSError:
        steering = {}
    edges = [{**e.model_dump(mode="json"), "pid": procs.get(e.id, {}).get("pid") or None,
              "state": procs.get(e.id, {}).get("statename", "UNKNOWN"), "steering": steering.get(e.id, "?")}
             for e in state.cdn.edges]
    return {"url": state.cdn.url, "metrics": state.cdn.metrics, "serving": state.cdn.serving(steering),
            "edges": edges}


def status(root: Path) -> dict[str, Any]:
    """The inventory: instances (pid, up/down), DB roles, proxies and URLs. ``{"up": false}`` if none.

    A damaged state file raises :class:`SandboxStateMissing` (naming the key) rather than reading as "down"."""
    if not (root / STATE_FILE).is_file():
        return {"up": False, "root": str(root)}
    state = load_state(root / STATE_FILE)
    procs: dict[str, dict[str, Any]] = {}
    try:
        for info in supervisor_rpc(state.supervisor.url).supervisor.getAllProcessInfo():
            procs[info["name"]] = info
        supervisor_ok = True
    except (OSError, xmlrpc.client.Error):
        supervisor_ok = False
    instances_out = []
    for inst in state.instances:
        info = procs.get(inst.program, {})
        instances_out.append({**inst.model_dump(mode="json"), "pid": info.get("pid") or None,
                              "state": info.get("statename", "UNKNOWN"),
                              "up": info.get("statename") == "RUNNING" and port_open(inst.port)})
    db = {}
    for role, node in (("primary", state.postgres.primary), ("standby", state.postgres.standby)):
        entry: dict[str, Any] = node.model_dump(mode="json")
        cluster = PostgresCluster(Path(state.postgres.base_dir), node.name, node.port)
        entry["pid"] = cluster.pid()
        try:
            entry["role"] = "standby" if cluster.in_recovery() else "primary"
            entry["up"] = True
        except Exception:  # noqa: BLE001 - down or unreachable
            entry["role"], entry["up"] = "unknown", False
        db[role] = entry
    proxies = [p.model_dump(mode="json") for p in state.proxies]
    try:
        live = http_json(f"{state.toxiproxy.url}/proxies")
        proxies = [{**p, "enabled": live.get(p["name"], {}).get("enabled"),
                    "toxics": [t["name"] for t in live.get(p["name"], {}).get("toxics", [])]} for p in proxies]
    except (OSError, ValueError, urllib.error.URLError):
        pass
    programs = {i.program for i in state.instances} | {e.id for e in (state.cdn.edges if state.cdn else [])}
    others = {name: {"pid": info.get("pid") or None, "state": info.get("statename")}
              for name, info in procs.items() if name not in programs}
    region_rows = []
    for region in dict.fromkeys(i.region for i in state.instances):
        members = [i for i in instances_out if i["region"] == region]
        rtype = members[0]["region_type"]
        region_rows.append({"region": region, "type": rtype, "serves": list(regions.serves(rtype)),
                            "alone": list(regions.serves(rtype, full_database_reachable=False)),
                            "instances": len(members), "up": sum(1 for i in members if i["up"])})
    return {
        "up": supervisor_ok,
        "root": state.root,
        "urls": {"pinboard": state.haproxy.url, "prometheus": state.prometheus.url,
                 "toxiproxy": state.toxiproxy.url, "loadgen": state.loadgen.url,
                 "haproxy_stats": state.haproxy.stats, "supervisor": state.supervisor.url,
                 **({"cdn": state.cdn.url} if state.cdn else {})},
        "regions": region_rows,
        "instances": instances_out,
        "cdn": _cdn_status(state, procs),
        "databases": db,
        "proxies": proxies,
        "processes": others,
    }
