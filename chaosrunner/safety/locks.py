"""Target locks: two runs touching the same target at once → the second is refused, across processes.

One lock file per target key, ``<state>/locks/<sha256(key)[:32]>.lock`` (hashed: keys are free text such
as ``sandbox:pinboard-us-east-a-1`` and must never become a path), locked with ``fcntl.flock``
non-blocking. The kernel releases a flock when its holder dies — ``kill -9`` included — so a crashed run
never leaves a stale lock. The holder's run id, pid and key are written into the file for the refusal
message; the file's content is advisory, the flock is the lock.

With a fleet configured the same keys are also locked fleet-wide (:class:`chaosrunner.faults.fleet.FleetLocks`:
PostgreSQL advisory locks held by the run's own connection): all or none, host and fleet together.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from chaosrunner.core import storage
from chaosrunner.faults.fleet import FleetLocks


def lock_file_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".lock"


class TargetLocks:
    """Locks held by this process for one run. Keep the object alive for the run's life."""

    def __init__(self, state: Path | None = None, fleet: FleetLocks | None = None) -> None:
        self.dir = (Path(state) if state is not None else storage.state_dir()) / "locks"
        self._held: dict[str, int] = {}
        self.fleet = fleet
        self.fleet_holder: dict[str, object] | None = None  # who holds a key fleet-wide, after a refusal

    def acquire(self, run_id: str, keys: Iterable[str]) -> bool:
        """Lock every key or none: True when all are now held by this object, False if any is taken."""
        wanted = sorted({str(k) for k in keys} - set(self._held))
        storage.ensure_private_dir(self.dir)
        got: list[str] = []
        for key in wanted:
            fd = os.open(self.dir / lock_file_name(key), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                for k in got:
                    self._release_one(k)
                return False
            except BaseException:
                os.close(fd)
                raise
            self._held[key] = fd
            got.append(key)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({"run_id": run_id, "pid": os.getpid(), "key": key}).encode(), 0)
        if self.fleet is not None and got:
            try:
                self.fleet_holder = self.fleet.acquire(run_id, got)
            except BaseException:  # FleetUnavailable included: no lock is held unless all are
                self.release(got)
                raise
            if self.fleet_holder is not None:
                self.release(got)
                return False
        return True

    def health(self) -> str | None:
        """None while every lock is held (the sentinel asks); why not, once the fleet's lock session broke."""
        return self.fleet.health() if self.fleet is not None else None

    def holder(self, key: str) -> dict[str, object] | None:
        """Who holds ``key`` (run id, pid — and host, fleet-wide), when someone does; None when it is free."""
        if self.fleet_holder is not None and self.fleet_holder.get("key") == key:
            return self.fleet_holder
        return _holder_of(self.dir / lock_file_name(key))

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    def release(self, keys: Iterable[str] | None = None) -> None:
        """Release some keys, or all of them (all of them releases the fleet's too)."""
        for key in list(self._held if keys is None else keys):
            self._release_one(key)
        if self.fleet is not None and (keys is None or not self._held):
            self.fleet.release()

    def _release_one(self, key: str) -> None:
        fd = self._held.pop(key, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


    def __enter__(self) -> TargetLocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

def held_locks(state: Path | None = None) -> list[dict[str, object]]:
    """Every target lock currently held in the state home, with its holder (run id, pid, key)."""
    root = (Path(state) if state is not None else storage.state_dir()) / "locks"
    try:
        files = sorted(root.glob("*.lock"))
    except OSError:
        return []
    return [h for h in (_holder_of(f) for f in files) if h is not None]


def _holder_of(path: Path) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                data = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                data = {}
            return data if isinstance(data, dict) else {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
