"""The kill switch: one file, ``<state_dir>/killswitch.json``, that stops chaos everywhere on this host.

While it exists and says ``engaged``, preflight refuses every new run and the sentinel of every running
experiment, guarded or not, aborts it (it reads the file every 0.1 s, so a halt lands within a second). It
is a file in the host's state home rather than a signal so that it survives restarts and reaches runs
started by the scheduler, cron or another shell. ``resume`` removes it.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaosrunner.core.storage import atomic_write_json, state_dir

FILENAME = "killswitch.json"


@dataclass(frozen=True)
class KillSwitch:
    engaged: bool
    reason: str = ""
    engaged_at: str = ""
    engaged_by: str = ""


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
    atomic_write_json(path(root), state.__dict__)
    return state


def release(root: Path | None = None) -> bool:
    """Resume: remove the switch. True if it was engaged."""
    try:
        path(root).unlink()
        return True
    except FileNotFoundError:
        return False


def status(root: Path | None = None) -> KillSwitch:
    """Current state. An unreadable or corrupt file counts as engaged (fail closed)."""
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
