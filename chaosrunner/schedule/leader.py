"""One leader at a time: only the leading daemon runs the scheduler; the others stand by.

* :class:`FileLeader` (SQLite job store, one machine): an exclusive ``flock`` on a file next to the
  database, so two daemons started by mistake on the same store never both schedule.
* :class:`PgAdvisoryLeader` (PostgreSQL job store, several machines): ``pg_try_advisory_lock(key)``
  held on a dedicated connection. PostgreSQL releases the lock when that session ends - also when
  the leader is killed with ``kill -9`` (the kernel closes its socket) - so a standby polling every
  ``poll_s`` seconds takes over within ``poll_s`` + connection time. The leader checks its
  connection every tick; if it cannot prove it still holds the session, it steps down (fail
  closed: two leaders are worse than none for a few seconds).

Exactly-once is not left to the lock alone: every fire is also claimed in the fire ledger
(``daemon.FireLedger``) with a primary key, so a deposed leader cannot repeat a run either.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Protocol

CONNECT_TIMEOUT_S = 3
CHECK_TIMEOUT_MS = 2000


class Leadership(Protocol):
    def acquire(self, stop: threading.Event) -> bool:
        """Block until this daemon leads (True) or ``stop`` is set (False)."""

    def still_leader(self) -> bool:
        """Cheap check, called every tick while leading."""

    def release(self) -> None: ...


class FileLeader:
    """Leadership through an exclusive ``flock`` on ``path`` (one host, e.g. the SQLite store)."""

    def __init__(self, path: Path, poll_s: float = 1.0) -> None:
        self.path = path
        self.poll_s = poll_s
        self._fd: int | None = None

    def acquire(self, stop: threading.Event) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                stop.wait(self.poll_s)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return True
        return False

    def still_leader(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def lock_key(group: str) -> int:
    """A signed 64-bit advisory-lock key from the HA group name (stable across hosts)."""
    return int.from_bytes(hashlib.sha256(f"chaosrunner-scheduler:{group}".encode()).digest()[:8], "big", signed=True)


def conninfo_from_url(url: str) -> dict[str, Any]:
    """psycopg keyword arguments from a SQLAlchemy ``postgresql+psycopg://`` URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    kw: dict[str, Any] = {"host": u.host or "127.0.0.1", "port": u.port or 5432, "dbname": u.database or "postgres"}
    if u.username:
        kw["user"] = u.username
    if u.password:
        kw["password"] = u.password
    return kw


class PgAdvisoryLeader:
    """Leadership through a PostgreSQL session-level advisory lock (see module doc)."""

    def __init__(self, url: str, group: str = "default", poll_s: float = 1.0) -> None:
        self.url = url
        self.key = lock_key(group)
        self.poll_s = poll_s
        self._conn: Any = None

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            **conninfo_from_url(self.url), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
            keepalives=1, keepalives_idle=5, keepalives_interval=1, keepalives_count=3,
            options=f"-c statement_timeout={CHECK_TIMEOUT_MS}",
        )

    def acquire(self, stop: threading.Event) -> bool:
        import psycopg

        while not stop.is_set():
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    return True
            except psycopg.Error:
                self._drop()
            stop.wait(self.poll_s)
        return False

    def still_leader(self) -> bool:
        import psycopg

        if self._conn is None or self._conn.closed:
            return False
        try:
            # A session-level advisory lock lives as long as the session: a live session is proof.
            row = self._conn.execute("SELECT 1").fetchone()
        except psycopg.Error:
            self._drop()
            return False
        return bool(row and row[0])

    def release(self) -> None:
        import psycopg

        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except psycopg.Error:
                pass
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not raise
                pass
        self._conn = None
