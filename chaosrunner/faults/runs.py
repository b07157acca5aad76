"""Run leases: while a run lives it holds a lease in the state home, ``<state>/runs/<run_id>.json``, naming
its owner process (pid and start time) and where its journal is.

The lease is what lets a keeper outside the run's processes finish the run's record: when the owner is
gone and the lease is still there, the run ended without saying so (``kill -9``, a container stop, a
full disk) and the reaper, ``recover`` or the watchdog reverts what it left and marks its journal. The
lease is taken right after the journal's first durable write and released after its last one. The
heartbeat (``<state>/heartbeats/<run_id>``, :mod:`chaosrunner.faults.heartbeat`) says whether the owner
is still beating.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaosrunner.core import storage
from chaosrunner.faults.ledger import check_run_id, process_start_time

RUNS_DIR = "runs"


@dataclass(frozen=True)
class RunLease:
    run_id: str
    pid: int
    pid_started_at: float | None
    journal: str
    started_at: float

    @classmethod
    def from_json(cls, data: Any) -> RunLease:
        if not isinstance(data, dict):
            raise ValueError("a run lease is an object")
        return cls(
            run_id=check_run_id(str(data["run_id"])),
            pid=int(data["pid"]),
            pid_started_at=float(data["pid_started_at"]) if data.get("pid_started_at") is not None else None,
            journal=str(data["journal"]),
            started_at=float(data["started_at"]),
        )


def _path(state: Path, run_id: str) -> Path:
    return Path(state) / RUNS_DIR / f"{check_run_id(run_id)}.json"


def take(state: Path, run_id: str, pid: int, journal: Path, started_at: float) -> RunLease:
    """Record that ``pid`` runs ``run_id`` (durably, owner-only); raises OSError when it cannot."""
    lease = RunLease(run_id, pid, process_start_time(pid), str(journal), started_at)
    storage.atomic_write_json(_path(state, run_id), asdict(lease))
    return lease


def move_journal(state: Path, run_id: str, journal: Path) -> None:
    """The run's journal now lives at ``journal`` (the store failed and the record moved next to the ledger)."""
    lease = read(state, run_id)
    if lease is not None:
        storage.atomic_write_json(_path(state, run_id), {**asdict(lease), "journal": str(journal)})


def release(state: Path, run_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(state, run_id).unlink()


def read(state: Path, run_id: str) -> RunLease | None:
    return _load(_path(state, run_id))


def leases(state: Path) -> list[RunLease]:
    """Every readable lease of the state home (unreadable or foreign-owned files are not trusted)."""
    root = Path(state) / RUNS_DIR
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(".json"):
            lease = _load(root / name)
            if lease is not None:
                out.append(lease)
    return out


def _load(path: Path) -> RunLease | None:
    try:
        st = path.stat()
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        return RunLease.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
