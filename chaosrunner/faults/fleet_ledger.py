"""The fleet's view of the fault ledger: every host's faults as rows in PostgreSQL (``fleet:``).

The host's ledger stays the record its watchdog and reaper act on; with a fleet configured each entry is
also a row of ``chaosrunner_faults`` — written **before** the host's entry (a fault the fleet cannot see is
not injected: the write raises, the driver does not inject), closed after it (a failed close is logged; the
row stays open and a later fleet recovery runs the idempotent undo again).

Whether a run is alive is the fleet's to know, not a pid's: the process that records a run's first entry
holds a session-level advisory lock on ``run:<run id>`` until it exits. ``chaosrunner recover --fleet`` on
any host takes the lock of each run with open rows on other hosts; when it can, the run's process is gone,
and every open row whose undo can run from anywhere is reverted from here — an ``http`` undo, or a python
undo whose module says so (``UNDO_FROM_ANY_HOST = True``: API-driven drivers such as Toxiproxy's, AWS and
Kubernetes) — the rest are listed with the host that must revert them.
"""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from chaosrunner.faults.fleet import Fleet, FleetUnavailable

TABLE = "chaosrunner_faults"
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, run_id text NOT NULL, host text NOT NULL, "
          "fault text NOT NULL, target text NOT NULL, undo jsonb, recorded_at double precision NOT NULL, "
          "closed_at double precision, outcome text, detail text NOT NULL DEFAULT '')")

_liveness: dict[str, Any] = {}  # run id → the connection that holds its liveness lock in this process


def host_id() -> str:
    """Who recorded a fault: the host and its state home (each home has its own ledger, watchdog and reaper,
    so two homes on one machine are two hosts to the fleet)."""
    from chaosrunner.core.storage import state_dir

    return f"{socket.gethostname()}:{state_dir()}"
_lock = threading.Lock()


@dataclass(frozen=True)
class RemoteFault:
    id: str
    run_id: str
    host: str
    fault: str
    target: str
    undo: dict[str, Any] | None

    @property
    def revertible_here(self) -> bool:
        provider = (self.undo or {}).get("provider", self.undo or {})
        kind = provider.get("type")
        if kind == "http":
            return True
        if kind == "python":
            try:
                return bool(getattr(importlib.import_module(str(provider.get("module"))), "UNDO_FROM_ANY_HOST", False))
            except ImportError:
                return False
        return False


def _hold_run(f: Fleet, run_id: str) -> None:
    """This process is the run's: hold ``run:<run id>`` until it exits (once per run per process)."""
    import psycopg

    with _lock:
        if run_id in _liveness:
            return
        try:
            conn = f._connect()
            conn.execute(SCHEMA)
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"run:{run_id}",))
        except psycopg.Error as e:
            raise FleetUnavailable(f"fleet state at {f.where} unreachable: {type(e).__name__}: "
                                   f"{str(e).strip()[:200]}") from None
        _liveness[run_id] = conn


def record(f: Fleet, entry: Any) -> None:
    _hold_run(f, entry.run_id)
    f._run(f"INSERT INTO {TABLE} (id, run_id, host, fault, target, undo, recorded_at) VALUES "
           "(%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
           (entry.id, entry.run_id, host_id(), entry.fault, entry.target,
            None if entry.undo is None else json.dumps(entry.undo), entry.recorded_at))


def close(f: Fleet, entry_id: str, outcome: str, detail: str, closed_at: float) -> None:
    f._run(f"UPDATE {TABLE} SET closed_at = %s, outcome = %s, detail = %s WHERE id = %s AND closed_at IS NULL",
           (closed_at, outcome, detail, entry_id))


def open_elsewhere(f: Fleet) -> list[RemoteFault]:
    """Open rows recorded on other hosts, oldest first."""
    f._run(SCHEMA)
    rows = f._run(f"SELECT id, run_id, host, fault, target, undo FROM {TABLE} WHERE closed_at IS NULL AND host <> %s "
                  "ORDER BY recorded_at", (host_id(),))
    return [RemoteFault(r[0], r[1], r[2], r[3], r[4], r[5] if isinstance(r[5], dict) or r[5] is None
                        else json.loads(r[5])) for r in rows]


def run_is_gone(f: Fleet, run_id: str) -> bool:
    """True when no process holds the run's liveness lock (its runner died, or ended without closing)."""
    got = f._run("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"run:{run_id}",))[0][0]
    if got:
        f._run("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"run:{run_id}",))
    return bool(got)


@dataclass
class FleetRecovery:
    reverted: list[dict[str, Any]]  # faults undone from here (or whose undo failed: ``ok`` False)
    elsewhere: list[dict[str, Any]]  # faults of dead runs whose undo must run on their own host
    alive: list[str]  # runs with open faults whose process still lives: left to them


def recover_elsewhere(f: Fleet, timeout_s: float) -> FleetRecovery:
    """Revert, from this host, the open faults of other hosts' dead runs that can be reverted from anywhere."""
    from chaosrunner.faults.undo import as_activity, run_undo_activity

    out = FleetRecovery([], [], [])
    by_run: dict[str, list[RemoteFault]] = {}
    for fault in open_elsewhere(f):
        by_run.setdefault(fault.run_id, []).append(fault)
    here = host_id()
    for run_id, faults in by_run.items():
        if not run_is_gone(f, run_id):
            out.alive.append(run_id)
            continue
        for fault in reversed(faults):  # newest first, as a run's own revert goes
            item = {"id": fault.id, "run_id": run_id, "host": fault.host, "fault": fault.fault, "target": fault.target}
            if fault.undo is None or not fault.revertible_here:
                out.elsewhere.append(item)
                continue
            activity, configuration = as_activity(fault.undo, f"fleet-undo-{fault.fault}")
            try:
                run_undo_activity(activity, configuration, {}, timeout_s)
            except Exception as e:  # noqa: BLE001 - the decision: the row stays open, the failure is reported
                out.reverted.append({**item, "ok": False, "detail": f"{type(e).__name__}: {e}"})
                continue
            close(f, fault.id, "undone", f"reverted from {here} (its run on {fault.host} was gone)", time.time())
            out.reverted.append({**item, "ok": True, "detail": f"reverted from {here}"})
    return out
