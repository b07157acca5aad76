"""End-to-end on the real sandbox: up, steady traffic, kill → replaced, latency toxic, DB promotion, down.

One estate for the whole module (bring-up is the expensive part); the tests run in file order and the
last one tears it down and checks nothing is left. The module fixture tears down again in `finally`.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from chaosrunner.core.ports import port_open
from chaosrunner.sandbox import control, estate
from chaosrunner.sandbox.postgres import PostgresCluster
from chaosrunner.sandbox.state import STATE_FILE, SandboxState

pytestmark = pytest.mark.slow
T = 5.0
SLO = 0.999


def _cli(*args: str, root: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOSRUNNER_SANDBOX": str(root)}
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxState]:
    root = tmp_path_factory.mktemp("sbx") / "root"
    try:
        result = _cli("sandbox", "up", "--json", "--replacement-delay", "1", root=root)
        assert result.returncode == 0, result.stderr
        state = SandboxState.model_validate(json.loads(result.stdout))
        estate.wait_scraped(state, 40)
        yield state
    finally:
        estate.down(root)


def _stats(state: SandboxState, window: float) -> dict[str, Any]:
    return requests.get(f"{state.loadgen.url}/stats", params={"window": window}, timeout=T).json()


def _prom(state: SandboxState, query: str) -> float:
    r = requests.get(f"{state.prometheus.url}/api/v1/query", params={"query": query}, timeout=T).json()
    assert r["status"] == "success", r
    result = r["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def _program_pid(state: SandboxState, program: str) -> int:
    return int(control.supervisor_rpc(state.supervisor.url).supervisor.getProcessInfo(program)["pid"])


def test_up_writes_the_state_contract_and_status_lists_everything(sandbox: SandboxState) -> None:
    on_disk = json.loads((Path(sandbox.root) / STATE_FILE).read_text())
    assert on_disk == sandbox.to_json()
    for key in ("version", "root", "created_at", "supervisor", "prometheus", "toxiproxy", "haproxy", "postgres",
                "loadgen", "instances", "proxies", "ports", "up_timings", "options"):
        assert key in on_disk
    assert sandbox.toxiproxy.kind == "builtin"
    insts = sandbox.instances
    assert len(insts) == 10
    assert {i.region_type for i in insts if i.region == "us-east"} == {"Full"}
    assert {i.region_type for i in insts if i.region == "eu-west"} == {"Read-Only"}
    assert {i.region_type for i in insts if i.region == "ap-south"} == {"Lightweight"}
    assert sorted(i.id for i in insts if i.tier == "critical") == [
        "pinboard-ap-south-a-1", "pinboard-eu-west-a-1", "pinboard-us-east-a-1"]
    assert len({i.zone for i in insts}) == 5
    result = _cli("sandbox", "status", "--json", root=Path(sandbox.root))
    assert result.returncode == 0, result.stderr
    st = json.loads(result.stdout)
    assert all(i["up"] and i["pid"] for i in st["instances"])
    assert {d["role"] for d in st["databases"].values()} == {"primary", "standby"}
    assert {p["kind"] for p in st["proxies"]} == {"instance", "database", "replication", "link", "cdn-edge"}
    assert [(r["region"], r["type"], r["serves"], r["up"]) for r in st["regions"]] == [
        ("us-east", "Full", ["reads", "writes"], 4), ("eu-west", "Read-Only", ["reads"], 4),
        ("ap-south", "Lightweight", ["reads", "writes"], 2)]
    assert st["cdn"]["serving"] == "edge-a" and {e["steering"] for e in st["cdn"]["edges"]} == {"UP"}
    servers = control.haproxy_servers(sandbox.haproxy.stats_socket)
    assert len(servers) == 10 and all(s == "UP" for s in servers.values())
    # every listening socket of every process of the estate (and their children: Varnish's worker) is on
    # 127.0.0.1, and each is a port the state file lists (nothing unaccounted for, e.g. a management port)
    procs = [psutil.Process(sandbox.supervisor.pid)]
    procs += [psutil.Process(d["pid"]) for d in st["databases"].values() if d.get("pid")]
    listening = {(c.laddr.ip, c.laddr.port) for p in procs for q in [p, *p.children(recursive=True)]
                 for c in q.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    assert {port for _, port in listening} <= set(sandbox.ports), sorted(listening)
    human = _cli("sandbox", "status", root=Path(sandbox.root))
    assert "ap-south   Lightweight" in human.stdout and "edge-b     nginx" in human.stdout, human.stdout


def test_up_is_idempotent(sandbox: SandboxState) -> None:
    again = _cli("sandbox", "up", "--json", root=Path(sandbox.root))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created_at"] == sandbox.created_at


def test_read_only_region_fails_writes_fast(sandbox: SandboxState) -> None:
    eu = next(i for i in sandbox.instances if i.region == "eu-west")
    start = time.monotonic()
    r = requests.post(f"{eu.url}/pins", json={"body": "x"}, timeout=T)
    assert r.status_code == 503 and "read-only" in r.json()["error"]
    assert time.monotonic() - start < 1.0
    us = next(i for i in sandbox.instances if i.region == "us-east")
    assert requests.post(f"{us.url}/pins", json={"body": "x"}, timeout=T).status_code == 201


def test_30s_of_steady_traffic_meets_the_slo_for_clients_and_in_prometheus(sandbox: SandboxState) -> None:
    start = time.monotonic()
    while time.monotonic() - start < 31:
        time.sleep(0.5)
    st = _stats(sandbox, 30)
    assert st["requests"] >= 0.8 * 50 * 30, st
    assert st["success_ratio"] >= SLO, st
    client_errors = _prom(sandbox, 'sum(increase(loadgen_requests_total{outcome="error"}[30s]))')
    client_total = _prom(sandbox, "sum(increase(loadgen_requests_total[30s]))")
    assert client_total >= 0.8 * 50 * 30
    assert 1 - client_errors / client_total >= SLO
    server_5xx = _prom(sandbox, 'sum(increase(http_requests_total{code=~"5..",region="us-east"}[30s]))')
    server_total = _prom(sandbox, 'sum(increase(http_requests_total{region="us-east"}[30s]))')
    assert server_total >= 0.8 * 50 * 30 and 1 - server_5xx / server_total >= SLO
    assert _prom(sandbox, "loadgen:requests_errors:ratio_rate10s") <= 1 - SLO


def test_killed_instance_is_replaced_and_success_stays_within_slo(sandbox: SandboxState) -> None:
    victim = "pinboard-us-east-b-2"
    old_pid = _program_pid(sandbox, victim)
    killed_at = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    port = sandbox.instance(victim).port
    deadline = killed_at + 20
    new_pid = 0
    while time.monotonic() < deadline:
        try:
            new_pid = _program_pid(sandbox, victim)
            if new_pid not in (0, old_pid) and requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                break
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.05)
    replaced_s = time.monotonic() - killed_at
    assert new_pid not in (0, old_pid) and replaced_s < 20
    assert replaced_s >= 1.0  # the configured --replacement-delay 1 is honoured
    # back in rotation in HAProxy
    deadline = time.monotonic() + 10
    while control.haproxy_servers(sandbox.haproxy.stats_socket).get(victim) != "UP":
        assert time.monotonic() < deadline, "replacement never came back UP in HAProxy"
        time.sleep(0.1)
    window = time.monotonic() - killed_at + 2
    st = _stats(sandbox, window)
    assert st["success_ratio"] >= SLO, st


def _p50_ms(url: str, n: int = 15) -> float:
    samples = []
    with requests.Session() as s:
        for _ in range(n):
            t0 = time.perf_counter()
            assert s.get(url, timeout=T).ok
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def test_latency_toxic_via_toxiproxy_python_adds_200ms_on_that_path(sandbox: SandboxState) -> None:
    from toxiproxy import Toxiproxy

    inst = sandbox.instance("pinboard-us-east-a-2")
    path = f"{inst.proxy_url}/healthz"
    api_host, api_port = sandbox.toxiproxy.url.removeprefix("http://").split(":")
    server = Toxiproxy()
    server.update_api_consumer(api_host, int(api_port))
    proxy = server.get_proxy(inst.proxy)
    assert proxy is not None
    base = _p50_ms(path)
    proxy.add_toxic(name="lat200", type="latency", attributes={"latency": 200, "jitter": 0})
    try:
        slow = _p50_ms(path)
    finally:
        proxy.destroy_toxic("lat200")
    assert 180 <= slow - base <= 220, (base, slow)
    assert _p50_ms(path) - base < 20


def test_promoted_standby_takes_writes(sandbox: SandboxState) -> None:
    pg = sandbox.postgres
    base = Path(pg.base_dir)
    primary = PostgresCluster(base, pg.primary.name, pg.primary.port)
    standby = PostgresCluster(base, pg.standby.name, pg.standby.port)
    acked_before = _stats(sandbox, 1)["acked_writes"]
    primary.stop(mode="immediate")
    standby.promote()
    router = sandbox.haproxy.url
    deadline = time.monotonic() + 15
    new_id = None
    while time.monotonic() < deadline:
        r = requests.post(f"{router}/pins", json={"body": "after failover"}, timeout=T)
        if r.status_code == 201:
            new_id = r.json()["id"]
            break
        time.sleep(0.1)
    assert new_id is not None, "no write succeeded after promotion"
    assert standby.execute("SELECT body FROM pins WHERE id = %s", (new_id,)) == [("after failover",)]
    deadline = time.monotonic() + 10
    while _stats(sandbox, 1)["acked_writes"] <= acked_before + 10:
        assert time.monotonic() < deadline, "load generator writes did not continue"
        time.sleep(0.2)


def test_demo_then_down_leave_no_process_no_port_no_state(sandbox: SandboxState, tmp_path: Path) -> None:
    """The demo reuses the running estate, runs the calendar's week (here: one entry), reports, tears down."""
    root = Path(sandbox.root)
    st = estate.status(root)
    pids = [i["pid"] for i in st["instances"] if i["pid"]]
    pids += [p["pid"] for p in st["processes"].values() if p["pid"]]
    pids += [d["pid"] for d in st["databases"].values() if d.get("pid")]
    pids += [e["pid"] for e in st["cdn"]["edges"] if e["pid"]]
    pids.append(sandbox.supervisor.pid)
    assert len(pids) >= 10 + 2 + 5 + 1
    experiment = tmp_path / "quick.yaml"
    experiment.write_text(json.dumps({
        "title": "quick", "description": "one harmless action",
        "method": [{"type": "action", "name": "noop", "provider": {"type": "process", "path": "/bin/true"}}],
    }))
    calendar = tmp_path / "week.yaml"
    calendar.write_text(json.dumps({
        "name": "tiny-week", "timezone": "UTC",
        "entries": [{"name": "mon-quick", "day": "mon", "at": "10:00", "experiment": str(experiment)}],
    }))
    demo = _cli("demo", "--calendar", str(calendar), "--json", root=root)
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert [(r["experiment"], r["verdict"]) for r in summary["runs"]] == [("quick.yaml", "passed")]
    assert Path(summary["report"]).read_text().count("quick") >= 1
    result = _cli("sandbox", "down", "--json", root=root)  # idempotent: nothing left to stop
    assert result.returncode == 0 and json.loads(result.stdout)["stopped"] == []
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert [p for p in sandbox.ports if port_open(p)] == []
    assert not root.exists()
    assert not Path(sandbox.postgres.base_dir).exists()
