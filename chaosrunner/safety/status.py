"""What the state home says right now: the kill switch, open faults, held target locks, running runs —
``chaosrunner status`` — and state left in the current directory by versions that kept it there.

Before state had a home, every command kept it in ``./.chaosrunner`` of the directory it was started
from, so a ``halt`` in one directory never reached a run started in another. That directory is no
longer read; every command reports it (with what it holds, so no open fault is forgotten) until
``chaosrunner state migrate`` has moved it into the home.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.core import storage
from chaosrunner.core.config import LEGACY_STATE
from chaosrunner.faults.heartbeat import heartbeat_path
from chaosrunner.faults.ledger import Ledger, owner_alive
from chaosrunner.faults.runs import leases
from chaosrunner.safety import killswitch
from chaosrunner.safety.locks import held_locks


def state_report(state: Path | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON (times in epoch seconds, ages in seconds)."""
    home = Path(state) if state is not None else storage.state_dir()
    ks = killswitch.status(home)
    ledger = Ledger(home)
    now = time.time()
    runs = []
    for lease in leases(home):
        try:
            beat = heartbeat_path(home, lease.run_id).stat().st_mtime
        except FileNotFoundError:
            beat = None
        runs.append({
            "run_id": lease.run_id, "pid": lease.pid, "alive": owner_alive(lease.pid, lease.pid_started_at),
            "journal": lease.journal, "running_for_s": round(now - lease.started_at, 1),
            "heartbeat_age_s": round(now - beat, 1) if beat is not None else None,
        })
    return {
        "state_home": str(home),
        "kill_switch": {"engaged": ks.engaged, "reason": ks.reason, "engaged_at": ks.engaged_at,
                        "engaged_by": ks.engaged_by, "scope": ks.scope},
        "open_faults": [{**e.journal_view(), "run_id": e.run_id, "pid": e.pid} for e in ledger.open_entries()],
        "unreadable_ledger_entries": [str(p) for _, _, p in ledger.unreadable_open()],
        "locks": held_locks(home),
        "runs": runs,
    }


@dataclass(frozen=True)
class LegacyState:
    path: Path
    open_faults: int
    kill_switch_engaged: bool

    def describe(self) -> str:
        parts = [f"{self.open_faults} open fault(s)"]
        if self.kill_switch_engaged:
            parts.append("an engaged kill switch")
        return (f"chaosrunner state found in {self.path} ({', '.join(parts)}): it is no longer read; "
                f"move it into the state home with `chaosrunner state migrate`")


def legacy_state(cwd: Path | None = None) -> LegacyState | None:
    """State an older version left in ``<cwd>/.chaosrunner``, unless that *is* the home."""
    path = (Path(cwd) if cwd is not None else Path.cwd()) / LEGACY_STATE
    if not path.is_dir() or path.resolve() == storage.state_dir().resolve():
        return None
    return LegacyState(path, len(Ledger(path).open_entries()), killswitch.status(path, with_fleet=False).engaged)


def migrate(source: Path, home: Path | None = None) -> dict[str, Any]:
    """Move ledger entries, run leases, heartbeats and an engaged kill switch from ``source`` into the home,
    then remove ``source``. Refuses (ValueError) when a file would be overwritten. Locks are not moved:
    a lock is held by a live process's open file, not by its path."""
    home = Path(home) if home is not None else storage.state_dir()
    moved: list[str] = []
    plan: list[tuple[Path, Path]] = []
    for sub in ("ledger", "runs", "heartbeats"):
        root = source / sub
        if root.is_dir():
            for f in sorted(p for p in root.rglob("*") if p.is_file()):
                plan.append((f, home / f.relative_to(source)))
    ks = source / killswitch.FILENAME
    if ks.is_file():
        plan.append((ks, home / killswitch.FILENAME))
    clashes = [str(dst) for _, dst in plan if dst.exists()]
    if clashes:
        raise ValueError(f"would overwrite {len(clashes)} file(s) in the state home, e.g. {clashes[0]}")
    for src, dst in plan:
        storage.ensure_private_dir(dst.parent)
        shutil.move(str(src), str(dst))
        moved.append(str(dst.relative_to(home)))
    shutil.rmtree(source)
    return {"from": str(source), "to": str(home), "moved": moved}
