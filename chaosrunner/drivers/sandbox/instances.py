"""Monday (Chaos Monkey): ``kill -9`` one sandbox instance; supervisor (the "auto-scaling group") replaces it.

``kill_instance`` records the undo (:func:`ensure_instance_running`) in the ledger, then sends SIGKILL to
the instance's pid (from supervisor). It leaves a marker ``<root>/run/killed-<id>.json`` (pid, epoch
seconds) so :func:`replacement_time` — a separate probe, so the journal shows the wait — measures from the
kill itself. Figures (seconds): ``replacement_time_s`` (kill → a new pid answers ``/healthz``) and
``back_in_rotation_s`` (kill → HAProxy marks it UP again).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.drivers.sandbox.state import TIMEOUT_S, chosen_instances, state_file, supervisor
from chaosrunner.sandbox.control import haproxy_servers
from chaosrunner.sandbox.state import Instance, SandboxState

FAULT = "sandbox-instance-kill"
POLL_S = 0.05


def _marker(state: SandboxState, instance_id: str) -> Path:
    return Path(state.root) / "run" / f"killed-{instance_id}.json"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=TIMEOUT_S) as r:
            return r.status == 200
    except OSError:
        return False


def kill_instance(
    instance: str | None = None,
    max_kills: int = 1,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """SIGKILL the chosen instance(s): at most ``max_kills`` (default exactly one, the Chaos Monkey).

    Returns ``{"instance", "pid", "killed_at"}`` of the first, ``{"killed": [...]}`` for several.
    """
    st, chosen = chosen_instances(configuration, instance, state)
    if not 1 <= len(chosen) <= max_kills:
        raise ValueError(f"kill_instance kills 1..{max_kills} instance(s), {len(chosen)} chosen")
    if len(chosen) > 1:
        return {"killed": [_kill_one(st, inst, configuration, state) for inst in chosen]}
    return _kill_one(st, chosen[0], configuration, state)


def _kill_one(
    st: SandboxState, inst: Instance, configuration: dict[str, Any] | None, state: str | None
) -> dict[str, Any]:
    info = supervisor(st).supervisor.getProcessInfo(inst.program)
    pid = int(info.get("pid") or 0)
    if info["statename"] != "RUNNING" or pid <= 0:
        raise RuntimeError(f"{inst.id} is {info['statename']}, not running: nothing to kill")
    path = str(state_file(configuration, state))
    faults.record(FAULT, inst.id, "ensure_instance_running", {"instance": inst.id, "state": path},
                  module=__name__, expires_at=time.time() + 60)
    killed_at = time.time()
    marker = _marker(st, inst.id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"pid": pid, "killed_at": killed_at}))
    os.kill(pid, signal.SIGKILL)
    return {"instance": inst.id, "pid": pid, "killed_at": killed_at}


def replacement_time(
    instance: str | None = None, timeout_s: float = 30.0, configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Wait until a new process serves the killed instance and HAProxy has it UP again; figures in seconds.

    Raises TimeoutError after ``timeout_s`` (the experiment then fails: self-healing did not happen).
    """

    st, chosen = chosen_instances(configuration, instance, state)
    inst = chosen[0]
    mark = json.loads(_marker(st, inst.id).read_text())
    rpc = supervisor(st)
    deadline = time.monotonic() + timeout_s
    replaced_at = None
    while time.monotonic() < deadline:
        info = rpc.supervisor.getProcessInfo(inst.program)
        if replaced_at is None and info["statename"] == "RUNNING" and info["pid"] not in (0, mark["pid"]) \
                and _healthy(inst.url):
            replaced_at = time.time()
        if replaced_at is not None:
            status = haproxy_servers(st.haproxy.stats_socket, st.haproxy.backend)
            if status.get(inst.id) == "UP":
                rotation = time.time()
                return {
                    "instance": inst.id, "new_pid": info["pid"],
                    "chaosrunner_figures": {
                        "replacement_time_s": round(replaced_at - mark["killed_at"], 3),
                        "back_in_rotation_s": round(rotation - mark["killed_at"], 3),
                    },
                }
        time.sleep(POLL_S)
    raise TimeoutError(f"{inst.id} not replaced within {timeout_s:g}s of the kill")


def ensure_instance_running(
    instance: str | None = None, timeout_s: float = 20.0, configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo of a kill (idempotent): start the instance if supervisor has not, wait for ``/healthz``."""
    st, chosen = chosen_instances(configuration, instance, state)
    rpc = supervisor(st)
    started = []
    deadline = time.monotonic() + timeout_s
    for inst in chosen:
        info = rpc.supervisor.getProcessInfo(inst.program)
        if info["statename"] not in ("RUNNING", "STARTING", "BACKOFF"):
            rpc.supervisor.startProcess(inst.program, False)
            started.append(inst.id)
        while not _healthy(inst.url):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{inst.id} not healthy within {timeout_s:g}s")
            time.sleep(POLL_S)
        faults.settle(FAULT, inst.id)
        _marker(st, inst.id).unlink(missing_ok=True)
    return {"started": started, "instances": [i.id for i in chosen]}
