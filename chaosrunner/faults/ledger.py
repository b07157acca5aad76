"""The fault ledger: a durable record of every injected fault and how to undo it — no fault left behind.

Before a fault is injected its entry is written (fsync'd, atomically, owner-only) to
``<state>/ledger/<run_id>/<entry_id>.json``; after the undo succeeds the entry is closed. Whoever finds
an open entry whose owner is gone (the watchdog, ``chaosrunner recover``, the next command's
:func:`recover_orphans`) runs its undo.

Finding open entries must be cheap — every command that may inject calls :func:`recover_orphans` — so
besides the entries there is an index of *open* entries, one empty marker file per open entry in
``<state>/ledger/_open/<run_id>+<entry_id>+<pid>``: one directory listing answers "is anything open,
and is its owner alive?". Ordering keeps the index safe across crashes: the marker is created *before*
the entry on record and removed *after* the entry is closed, so the index can hold a stale marker
(cleaned up when seen) but never miss an open entry.

An undo is a Chaos Toolkit activity (a full activity dict, or just its ``provider`` dict such as
``{"type": "python", "module": ..., "func": ..., "arguments": {...}}``) executed through chaoslib's
activity machinery with a timeout; or the run-level kind ``{"type": "chaosrunner-rollbacks", ...}``
that replays an experiment's rollbacks (see :func:`rollbacks_undo`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosrunner.core import context, storage
from chaosrunner.core.ids import format_time
from chaosrunner.faults import fleet_ledger
from chaosrunner.faults.fleet import FleetUnavailable, fleet

OPEN_INDEX = "_open"
log = logging.getLogger("chaosrunner.ledger")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ENTRY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
OUTCOMES = ("undone", "expired", "undo-failed")
ROLLBACKS_UNDO = "chaosrunner-rollbacks"


def _now_iso(now: float | None = None) -> str:
    return format_time(datetime.fromtimestamp(time.time() if now is None else now, UTC))


def check_run_id(run_id: str) -> str:
    """Refuse run ids that could escape the ledger directory (``..``, ``/``, the index name)."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id) or run_id in (".", ".."):
        raise ValueError(f"invalid run id {run_id!r}")
    return run_id


def process_start_time(pid: int) -> float | None:
    """Start time of ``pid`` (epoch seconds), or None when no such process — to tell a reused pid apart."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


def owner_alive(pid: int, started: float | None) -> bool:
    """Is the process that owns an entry still running (same pid *and* same start time, ±1 s)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        actual = p.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    return started is None or abs(actual - started) <= 1.0


@dataclass
class LedgerEntry:
    """One injected fault. Times are epoch seconds (``*_at``) — ISO strings only in journals."""

    id: str
    run_id: str
    fault: str
    target: str
    undo: dict[str, Any] | None
    pid: int
    pid_started_at: float | None
    recorded_at: float
    expires_at: float | None = None
    status: str = "open"  # open | closed
    outcome: str | None = None  # undone | expired | undo-failed
    detail: str = ""
    closed_at: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> LedgerEntry:
        if not isinstance(data, dict):
            raise ValueError("entry is not an object")
        known = {f for f in cls.__dataclass_fields__}
        entry = cls(**{k: v for k, v in data.items() if k in known})
        check_run_id(entry.run_id)
        if not ENTRY_ID_RE.match(str(entry.id)):
            raise ValueError(f"invalid entry id {entry.id!r}")
        return entry

    def journal_view(self) -> dict[str, Any]:
        """The shape of ``chaosrunner.ledger[]`` in the journal (ISO times, no undo details)."""
        return {
            "id": self.id,
            "fault": self.fault,
            "target": self.target,
            "recorded_at": _now_iso(self.recorded_at),
            "expires_at": _now_iso(self.expires_at) if self.expires_at else None,
            "outcome": self.outcome,
            "detail": self.detail,
            "closed_at": _now_iso(self.closed_at) if self.closed_at else None,
        }


@dataclass(frozen=True)
class FaultWindow:
    """A fault of some run was live from ``injected`` to ``reverted`` (epoch s; None: still open)."""

    run_id: str
    injected: float
    reverted: float | None


@dataclass
class Ledger:
    """The ledger under ``state`` (normally ``storage.state_dir()``)."""

    state: Path
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.state = Path(self.state)
        self.root = self.state / "ledger"

    # -- writing --------------------------------------------------------------------------------

    def record(
        self,
        run_id: str,
        fault: str,
        target: str,
        undo: dict[str, Any] | None,
        expires_at: float | None = None,
        *,
        pid: int | None = None,
    ) -> str:
        """Record a fault about to be injected; returns its entry id once the entry is on disk.

        Call it *before* injecting: if it raises (disk full, read-only), do not inject. ``pid`` is the
        process that owns the fault (default: the runner of the current :mod:`~chaosrunner.core.context`,
        else this process) — when it is gone the entry is an orphan.
        """
        check_run_id(run_id)
        if undo is not None and not isinstance(undo, dict):
            raise ValueError("undo must be an activity dict or None")
        if pid is None:
            pid = context.current().runner_pid
        entry = LedgerEntry(
            id=secrets.token_hex(8),
            run_id=run_id,
            fault=str(fault),
            target=str(target),
            undo=undo,
            pid=pid,
            pid_started_at=process_start_time(pid),
            recorded_at=time.time(),
            expires_at=float(expires_at) if expires_at is not None else None,
        )
        f = fleet()
        if f is not None:  # the fleet sees it before it exists here: a fault the fleet cannot see is not injected
            fleet_ledger.record(f, entry)
        storage.ensure_private_dir(self.root)
        index = storage.ensure_private_dir(self.root / OPEN_INDEX)
        marker = index / f"{run_id}+{entry.id}+{pid}"
        fd = os.open(marker, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
        try:
            dfd = os.open(index, os.O_RDONLY)  # the marker must survive a power cut, like the entry
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            storage.atomic_write_json(self._entry_path(run_id, entry.id), asdict(entry))
        except BaseException:
            with contextlib.suppress(OSError):
                marker.unlink()
            raise
        return entry.id

    def close(
        self,
        entry_id: str,
        outcome: str = "undone",
        detail: str = "",
        *,
        run_id: str | None = None,
        overrule: bool = False,
    ) -> None:
        """Close an entry with its outcome. Closing an already-closed or unknown entry is a no-op, unless
        ``overrule``: then the outcome replaces the one recorded (a driver's undo may close its entry and
        still fail afterwards — the failure is the truth)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        path = self._find(entry_id, run_id)
        if path is None:
            return
        entry = self._read(path)
        if entry is None:
            return
        if entry.status != "closed" or overrule:
            entry.status, entry.outcome, entry.detail, entry.closed_at = (
                "closed",
                outcome,
                detail,
                time.time(),
            )
            storage.atomic_write_json(path, asdict(entry))
            f = fleet()
            if f is not None:
                try:
                    fleet_ledger.close(f, entry.id, outcome, detail, entry.closed_at or time.time())
                except FleetUnavailable as e:  # the decision: the host's record is closed; the fleet's row stays
                    log.warning("ledger %s: closed here, the fleet's row stays open (an idempotent undo may run "
                                "again from another host): %s", entry.id, e)
        self._drop_marker(entry.run_id, entry.id)

    # -- reading --------------------------------------------------------------------------------

    def open_markers(self) -> list[tuple[str, str, int]]:
        """``(run_id, entry_id, owner_pid)`` of open entries, from one listing of the index."""
        try:
            names = os.listdir(self.root / OPEN_INDEX)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            parts = name.split("+")
            if len(parts) == 3 and RUN_ID_RE.match(parts[0]) and ENTRY_ID_RE.match(parts[1]) and parts[2].isdigit():
                out.append((parts[0], parts[1], int(parts[2])))
        return out

    def open_entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """Open entries (of one run, or all), oldest first. Stale index markers are cleaned up here."""
        out = []
        for rid, eid, _pid in self.open_markers():
            if run_id is not None and rid != run_id:
                continue
            path = self._entry_path(rid, eid)
            entry = self._read(path)
            if entry is None and path.exists():
                continue  # unreadable: keep the marker, see unreadable_open()
            if entry is None or entry.status == "closed":
                self._drop_marker(rid, eid)
                continue
            out.append(entry)
        if run_id is not None:
            # Belt and braces: an entry whose marker was lost (manual cleanup) is still open.
            seen = {e.id for e in out}
            for entry in self.entries(run_id):
                if entry.status == "open" and entry.id not in seen:
                    out.append(entry)
        return sorted(out, key=lambda e: e.recorded_at)

    def unreadable_open(self, run_id: str | None = None) -> list[tuple[str, str, Path]]:
        """Open entries that cannot be trusted (corrupt, or not owner-only): ``(run_id, entry_id, path)``.

        They are never executed and never forgotten: their marker stays, and every recovery reports them
        as ``undo-failed`` until a human reverts the fault and deletes the file.
        """
        out = []
        for rid, eid, _pid in self.open_markers():
            if run_id is None or rid == run_id:
                path = self._entry_path(rid, eid)
                if path.exists() and self._read(path) is None:
                    out.append((rid, eid, path))
        return out

    def entries(self, run_id: str) -> list[LedgerEntry]:
        """Every entry of a run, open and closed, oldest first."""
        d = self.root / check_run_id(run_id)
        try:
            names = [n for n in os.listdir(d) if n.endswith(".json") and ENTRY_ID_RE.match(n[:-5])]
        except FileNotFoundError:
            return []
        found = [self._read(d / n) for n in names]
        return sorted((e for e in found if e is not None), key=lambda e: e.recorded_at)

    def fault_windows(self, since: float, *, other_than: str, lookback_s: float = 86_400.0) -> list[FaultWindow]:
        """When other runs' faults were live: ``(run_id, injected, reverted or None while open)`` of every
        entry of another run, except run-level ones, still open or reverted at or after ``since`` (epoch s).

        Reads the open index plus the runs whose id says they started within ``lookback_s`` of ``since``
        (run ids start with their UTC second, so the rest of the history is not opened), plus the faults
        injected outside any run (``adhoc``: our drivers under plain ``chaos run``, or called by hand)."""
        from chaosrunner.journal.schema import RUN_LEVEL_FAULT  # pydantic, not in the watchdog (start-up)

        horizon = datetime.fromtimestamp(since - lookback_s, UTC).strftime("%Y%m%dT%H%M%SZ")
        try:
            recent = {n for n in os.listdir(self.root)
                      if (n[:16] >= horizon and RUN_ID_RE.match(n)) or n == context.ADHOC_RUN_ID}
        except FileNotFoundError:
            return []
        runs = (recent | {run for run, _, _ in self.open_markers()}) - {other_than}
        out = []
        for run in sorted(runs):
            for e in self.entries(run):
                if e.fault != RUN_LEVEL_FAULT and (e.closed_at is None or e.closed_at >= since):
                    out.append(FaultWindow(run, e.recorded_at, e.closed_at))
        return out

    def get(self, entry_id: str, run_id: str | None = None) -> LedgerEntry | None:
        path = self._find(entry_id, run_id)
        return self._read(path) if path else None

    @contextlib.contextmanager
    def reverting(self, run_id: str) -> Iterator[bool]:
        """Non-blocking per-run revert lock: yields False when another process is reverting the run.

        Stops the watchdog and a concurrent ``chaosrunner recover`` from running the same undo twice.
        """
        d = storage.ensure_private_dir(self.root / check_run_id(run_id))
        fd = os.open(d / ".revert.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- internals ------------------------------------------------------------------------------

    def _entry_path(self, run_id: str, entry_id: str) -> Path:
        if not ENTRY_ID_RE.match(entry_id):
            raise ValueError(f"invalid entry id {entry_id!r}")
        return self.root / check_run_id(run_id) / f"{entry_id}.json"

    def _find(self, entry_id: str, run_id: str | None) -> Path | None:
        if not isinstance(entry_id, str) or not ENTRY_ID_RE.match(entry_id):
            raise ValueError(f"invalid entry id {entry_id!r}")
        if run_id is not None:
            p = self._entry_path(run_id, entry_id)
            return p if p.exists() else None
        for rid, eid, _pid in self.open_markers():
            if eid == entry_id:
                return self._entry_path(rid, eid)
        try:
            runs = os.listdir(self.root)
        except FileNotFoundError:
            return None
        for rid in runs:
            if rid != OPEN_INDEX and RUN_ID_RE.match(rid) and (self.root / rid / f"{entry_id}.json").exists():
                return self.root / rid / f"{entry_id}.json"
        return None

    def _drop_marker(self, run_id: str, entry_id: str) -> None:
        index = self.root / OPEN_INDEX
        try:
            names = os.listdir(index)
        except FileNotFoundError:
            return
        prefix = f"{run_id}+{entry_id}+"
        for name in names:
            if name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    (index / name).unlink()

    def _read(self, path: Path) -> LedgerEntry | None:
        """Read an entry, refusing files another user could have planted (the undo is code we run)."""
        try:
            st = path.stat()
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            return LedgerEntry.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def current_run_id() -> str:
    """The run a driver works for (:mod:`chaosrunner.core.context`), ``adhoc`` outside a chaosrunner run."""
    return check_run_id(context.current().run_id)


def record_fault(fault: str, target: str, undo: dict[str, Any] | None, expires_at: float | None = None) -> str:
    """For drivers: record a fault before injecting it; returns the entry id to close in the undo.

    Raises (OSError, ValueError) when the entry cannot be made durable — then the driver must not inject.
    """
    return Ledger(storage.state_dir()).record(current_run_id(), fault, target, undo, expires_at)


def close_fault(entry_id: str | None, outcome: str = "undone", detail: str = "") -> None:
    """For drivers: close the entry once the undo succeeded. ``None`` (nothing recorded) is a no-op."""
    if entry_id:
        Ledger(storage.state_dir()).close(entry_id, outcome, detail)
