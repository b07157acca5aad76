"""Wednesday: CPU (and memory) starvation scoped to one sandbox instance with stress-ng and taskset.

Scoping on a small machine (no cgroup CPU controller here): the target instance's process is pinned to
one CPU (``cpu``, default the last one) and stress-ng runs pinned to the same CPU (``taskset -c``); both
run at niceness 19, so they compete as equals (the target gets ~1/(workers+1) of that CPU) while every
other process the scheduler puts on that CPU outweighs them (CFS weight 1024 vs 15) and barely notices.
Measured on a 2-core box: at the default niceness the other instances suffered as much as the target (the
guard aborted, out-of-scope latency burning 38x); moving the rest of the estate to the other CPU
(``isolate``, kept as an option) halved its capacity and it still burned 25x. stress-ng always
gets ``--timeout`` (it expires by itself); the ledger entry's undo kills its process group, restores
the target's niceness and gives every process of the estate every CPU back.

The stress-ng process group and the instance's original affinity go to ``<root>/run/stress-<id>.json``
so the undo, in any process, finds them. :func:`measure_impact` times requests straight to the target
(``GET /pins/{id}``: event loop + database round trip) and reports p50/p99 (milliseconds) and errors;
run it before and during the stress to get the impact.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from chaosrunner.drivers import faults
from chaosrunner.drivers.sandbox.state import (
    STRESS_ENV,
    chosen_instances,
    database_nodes,
    sample_latency,
    state_file,
    stress_processes,
    supervisor,
)
from chaosrunner.sandbox.loadgen import percentile
from chaosrunner.sandbox.state import SandboxState

FAULT = "sandbox-stress"
NICE = 19  # stress-ng and the target both run at this niceness: they compete as equals, everyone else wins


def _marker(st: SandboxState, instance_id: str) -> Path:
    return Path(st.root) / "run" / f"stress-{instance_id}.json"


def stress_command(cpu: int, workers: int, vm_bytes: str | None, timeout_s: int, nice: int = NICE) -> list[str]:
    """Pure: the argv — taskset-pinned, niced stress-ng with its own ``--timeout`` (seconds)."""
    argv = ["taskset", "-c", str(cpu), "nice", "-n", str(nice), shutil.which("stress-ng") or "stress-ng",
            "--cpu", str(workers), "--timeout", f"{int(timeout_s)}s", "--quiet"]
    if vm_bytes:
        argv += ["--vm", "1", "--vm-bytes", vm_bytes]
    return argv


def stress_instance(
    duration_s: int = 15,
    workers: int = 2,
    vm_bytes: str | None = "64M",
    cpu: int | None = None,
    isolate: bool = False,
    instance: str | None = None,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Pin the chosen instance and ``workers`` stress-ng CPU workers (+ one ``vm_bytes`` memory worker) to one
    CPU for ``duration_s`` seconds. Returns ``{"instance", "pid", "cpu", "stress_pgid"}``."""
    if not 1 <= duration_s <= 600 or not 1 <= workers <= 64:
        raise ValueError("duration_s must be in 1..600 and workers in 1..64")
    st, chosen = chosen_instances(configuration, instance, state)
    if len(chosen) != 1:
        raise ValueError(f"stress_instance starves exactly one instance, {len(chosen)} chosen")
    inst = chosen[0]
    cpu = (os.cpu_count() or 1) - 1 if cpu is None else int(cpu)
    info = supervisor(st).supervisor.getProcessInfo(inst.program)
    pid = int(info.get("pid") or 0)
    if info["statename"] != "RUNNING" or pid <= 0:
        raise RuntimeError(f"{inst.id} is {info['statename']}: nothing to starve")
    faults.record(FAULT, inst.id, "stop_stress", {"instance": inst.id, "state": str(state_file(configuration,
                  state))}, module=__name__, expires_at=time.time() + duration_s + 10)
    marker = _marker(st, inst.id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    target = psutil.Process(pid)
    original, original_nice = target.cpu_affinity(), target.nice()
    marker.write_text(json.dumps({"pid": pid, "affinity": original, "nice": original_nice, "pgid": None}))
    target.cpu_affinity([cpu])
    target.nice(NICE)
    others = [c for c in range(os.cpu_count() or 1) if c != cpu]
    isolated = _pin_estate(st, others, skip={pid}) if isolate and others else 0  # the option, off by default
    proc = subprocess.Popen(stress_command(cpu, workers, vm_bytes, duration_s), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, STRESS_ENV: st.root})
    marker.write_text(json.dumps({"pid": pid, "affinity": original, "nice": original_nice, "pgid": proc.pid,
                                  "started_at": time.time(), "duration_s": duration_s}))
    pinned = _pinned_stressors(proc.pid, cpu, want=workers + (2 if vm_bytes else 0), wait_s=5.0)
    return {"instance": inst.id, "pid": pid, "cpu": cpu, "stress_pgid": proc.pid,
            "chaosrunner_figures": {"stress_cpu": cpu, "stress_processes_pinned": pinned,
                                    "estate_processes_moved_off": isolated,
                                    "target_pinned_to": target.cpu_affinity(), "target_nice": target.nice()}}


def _estate_processes(st: SandboxState) -> list[psutil.Process]:
    """Every process of the estate: supervisor programs and both PostgreSQL servers, children included."""
    roots = [int(i.get("pid") or 0) for i in supervisor(st).supervisor.getAllProcessInfo()]
    roots += [n.pid() or 0 for n in database_nodes(st)]
    out: list[psutil.Process] = []
    for pid in roots:
        try:
            proc = psutil.Process(pid) if pid > 0 else None
            if proc is not None:
                out += [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return out


def _pin_estate(st: SandboxState, cpus: list[int], skip: frozenset[int] | set[int] = frozenset()) -> int:
    """Set the CPU affinity of every estate process but ``skip``; returns how many were changed."""
    changed = 0
    for proc in _estate_processes(st):
        if proc.pid in skip:
            continue
        try:
            proc.cpu_affinity(cpus)
            changed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return changed


def _pinned_stressors(pgid: int, cpu: int, want: int, wait_s: float) -> int:
    """How many stress-ng processes of our group run pinned to ``cpu`` (polled until ``want`` or ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        count = 0
        for p in stress_processes(None):
            try:
                if _in_group(p, pgid) and p.cpu_affinity() == [cpu]:
                    count += 1
            except psutil.NoSuchProcess:
                continue
        if count >= want or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def stop_stress(
    instance: str | None = None, configuration: dict[str, Any] | None = None, state: str | None = None
) -> dict[str, Any]:
    """Undo (idempotent): kill the stress-ng group, give the instance all CPUs back, wait until no stress-ng."""
    st, chosen = chosen_instances(configuration, instance, state)
    all_cpus = list(range(os.cpu_count() or 1))
    killed = []
    for inst in chosen:
        marker = _marker(st, inst.id)
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pgid"):
            try:
                os.killpg(int(info["pgid"]), signal.SIGKILL)
                killed.append(int(info["pgid"]))
            except ProcessLookupError:
                pass
            _reap(int(info["pgid"]))
        for pid in {info.get("pid"), supervisor(st).supervisor.getProcessInfo(inst.program).get("pid")}:
            if pid:
                try:
                    psutil.Process(int(pid)).cpu_affinity(all_cpus)
                    psutil.Process(int(pid)).nice(int(info.get("nice") or 0))
                except psutil.NoSuchProcess:
                    pass
        _pin_estate(st, all_cpus)  # the estate's normal state: every process on every CPU
        deadline = time.monotonic() + 10
        while any(_in_group(p, info.get("pgid")) for p in stress_processes(st.root)) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        marker.unlink(missing_ok=True)
        faults.settle(FAULT, inst.id)
    killed += _kill_orphans(st)
    return {"killed_groups": killed, "instances": [i.id for i in chosen]}


def _kill_orphans(st: SandboxState) -> list[int]:
    """Kill this estate's stress-ng groups that no marker claims (a crash between starting stress-ng and
    writing its marker leaves one; it would expire by itself, but the estate is whole only without it)."""
    claimed = set()
    for path in (Path(st.root) / "run").glob("stress-*.json"):
        try:
            claimed.add(int(json.loads(path.read_text()).get("pgid") or 0))
        except (OSError, ValueError):
            continue
    killed = []
    for p in stress_processes(st.root):
        try:
            pgid = os.getpgid(p.pid)
        except ProcessLookupError:
            continue
        if pgid not in claimed and pgid not in killed:
            try:
                os.killpg(pgid, signal.SIGKILL)
                killed.append(pgid)
            except (ProcessLookupError, PermissionError):
                continue
            _reap(pgid, timeout_s=1.0)
    return killed


def _reap(pid: int, timeout_s: float = 5.0) -> None:
    """Reap stress-ng if it is our own child (same process that injected), so no zombie lingers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] != 0:
                return
        except ChildProcessError:
            return
        time.sleep(0.02)


def _in_group(p: psutil.Process, pgid: int | None) -> bool:
    try:
        return pgid is not None and os.getpgid(p.pid) == int(pgid)
    except (ProcessLookupError, PermissionError):
        return False


def measure_impact(
    duration_s: float = 5.0,
    label: str = "under_stress",
    instance: str | None = None,
    rate_per_s: float = 20.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Paced (``rate_per_s``) ``GET /pins/1`` straight to the chosen instance for ``duration_s`` seconds;
    p50/p99 in milliseconds and the count of errors."""
    _, chosen = chosen_instances(configuration, instance, state)
    url = chosen[0].url + "/pins/1"
    samples, errors = sample_latency(url, duration_s, rate_per_s)
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    return {"chaosrunner_figures": {
        f"p50_ms_{label}": None if p50 is None else round(p50, 2),
        f"p99_ms_{label}": None if p99 is None else round(p99, 2),
        f"requests_{label}": len(samples),
        f"errors_{label}": errors,
    }}
