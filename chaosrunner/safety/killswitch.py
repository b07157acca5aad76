"""The kill switch: one file, ``<state_dir>/killswitch.json``, that stops chaos everywhere on this host.

While it exists and says ``engaged``, preflight refuses every new run and the sentinel of every running
experiment, guarded or not, aborts it (it reads the file every 0.1 s, so a halt lands within a second). It
is a file in the host's state home rather than a signal so that it survives restarts and reaches runs
started by the scheduler, cron or another shell. ``resume`` removes it.

With a fleet configured (``fleet:``, :mod:`chaosrunner.faults.fleet`) the switch is a row in PostgreSQL:
``engage`` writes the row (and this host's file only when the row cannot be written), ``release`` removes
both, ``status`` reads both, and a fleet row that cannot be read counts as engaged (fail closed).
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaosrunner.core.storage import atomic_write_json, state_dir
from chaosrunner.faults.fleet import FleetUnavailable, fleet

FILENAME = "killswitch.json"


@dataclass(frozen=True)
class KillSwitch:
    engaged: bool
    reason: str = ""
    engaged_at: str = ""
    engaged_by: str = ""
    scope: str = "host"  # host: this host's file; fleet: the fleet's row in PostgreSQL


def path(root: Path | None = None) -> Path:
    return (root or state_dir()) / FILENAME


def engage(reason: str, root: Path | None = None) -> KillSwitch:
    """Halt: refuse new runs, abort running ones. ``reason`` is required (it is shown on refusal)."""
    if not reason.strip():
        raise ValueError("a halt needs a reason")
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    state = KillSwitch(True, reason.strip(), datetime.now(UTC).isoformat(timespec="seconds"), who)
    f = fleet()
    if f is not None:
        try:
            f.engage(state.reason, who)  # the fleet's row is the switch: a resume on any host releases it
            return KillSwitch(True, state.reason, state.engaged_at, who, "fleet")
        except FleetUnavailable:
            atomic_write_json(path(root), state.__dict__)  # this host is halted all the same; the caller says so
            raise
    atomic_write_json(path(root), state.__dict__)
    return state


def release(root: Path | None = None) -> bool:
    """Resume: remove the switch (this host's and the fleet's). True if it was engaged."""
    try:
        path(root).unlink()
        was = True
    except FileNotFoundError:
        was = False
    f = fleet()
    if f is not None:
        was = f.release() or was
    return was


def status(root: Path | None = None, *, with_fleet: bool = True) -> KillSwitch:
    """Current state: this host's file, then the fleet's row (``with_fleet``). An unreadable or corrupt
    file, and a fleet row that cannot be read, count as engaged (fail closed)."""
    local = _file_status(root)
    f = fleet() if with_fleet else None
    if local.engaged or f is None:
        return local
    try:
        row = f.status()
    except FleetUnavailable as e:
        return KillSwitch(True, f"{e} (treated as engaged)", scope="fleet")
    if row is None:
        return local
    reason, at, who, host = row
    return KillSwitch(True, reason, at, f"{who}@{host}", "fleet")


def _file_status(root: Path | None) -> KillSwitch:
    p = path(root)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return KillSwitch(False)
    except (OSError, ValueError):
        return KillSwitch(True, f"kill switch file {p} is unreadable (treated as engaged)")
    if not isinstance(data, dict):
        return KillSwitch(True, f"kill switch file {p} is malformed (treated as engaged)")
    return KillSwitch(
        bool(data.get("engaged", True)),
        str(data.get("reason", "")),
        str(data.get("engaged_at", "")),
        str(data.get("engaged_by", "")),
    )
