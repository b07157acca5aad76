"""The fleet's kill switch: one row in PostgreSQL that every host naming the same database obeys.

``fleet:`` in the config file (or ``$CHAOSRUNNER_FLEET``) is a PostgreSQL URL. The row lives in
``chaosrunner_killswitch`` (at most one row, created on first use). One persistent connection per process,
shared by the sentinel's thread and the main thread under a lock; statements time out after 2 s, the
connection after 3 s. A broken connection is replaced once before the read fails; the caller treats a
failed read as an engaged switch (fail closed: docs/safety.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("chaosrunner.fleet")

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 2000
TABLE = "chaosrunner_killswitch"
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id int PRIMARY KEY CHECK (id = 1), reason text NOT NULL, "
          "engaged_at timestamptz NOT NULL, engaged_by text NOT NULL, host text NOT NULL)")


class FleetUnavailable(OSError):
    """The fleet's database could not be read or written (an OSError: like a full disk, the record cannot be
    made durable, so a driver that meets it does not inject)."""


class Fleet:
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
        conn.execute(SCHEMA)
        return conn

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            for attempt in (1, 2):  # a connection broken since the last check is replaced once
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                    cur = self._conn.execute(sql, params)
                    return cur.fetchall() if cur.description else []
                except psycopg.Error as e:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise FleetUnavailable(f"fleet state at {self.where} unreachable: "
                                               f"{type(e).__name__}: {str(e).strip()[:200]}") from None
        raise AssertionError("unreachable")

    @property
    def where(self) -> str:
        """The database without its password (for messages)."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            d = conninfo_to_dict(self.url)
        except Exception:  # noqa: BLE001 - a message helper: an unparsable URL is shown as "the fleet database"
            return "the fleet database"
        return f"{d.get('host', '?')}:{d.get('port', 5432)}/{d.get('dbname', '')}"

    def engage(self, reason: str, who: str) -> None:
        self._run(f"INSERT INTO {TABLE} VALUES (1, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                  "reason = EXCLUDED.reason, engaged_at = EXCLUDED.engaged_at, engaged_by = EXCLUDED.engaged_by, "
                  "host = EXCLUDED.host", (reason, datetime.now(UTC), who, socket.gethostname()))

    def release(self) -> bool:
        return bool(self._run(f"DELETE FROM {TABLE} RETURNING id"))

    def status(self) -> tuple[str, str, str, str] | None:
        """``(reason, engaged_at, engaged_by, host)`` while engaged, else None."""
        rows = self._run(f"SELECT reason, engaged_at, engaged_by, host FROM {TABLE}")
        if not rows:
            return None
        reason, at, who, host = rows[0]
        return str(reason), at.isoformat(timespec="seconds"), str(who), str(host)


_FLEETS: dict[str, Fleet] = {}


def fleet() -> Fleet | None:
    """The configured fleet (one per URL per process), or None."""
    from chaosrunner.core.config import fleet_setting

    url = fleet_setting().value
    if not url:
        return None
    if url not in _FLEETS:
        _FLEETS[url] = Fleet(url)
    return _FLEETS[url]


LOCKS_TABLE = "chaosrunner_locks"
LOCKS_SCHEMA = (f"CREATE TABLE IF NOT EXISTS {LOCKS_TABLE} (key text PRIMARY KEY, run_id text NOT NULL, "
                "host text NOT NULL, pid int NOT NULL, acquired_at timestamptz NOT NULL)")


class FleetLocks:
    """Target locks for the whole fleet: one PostgreSQL advisory lock per target key
    (``pg_try_advisory_lock(hashtextextended(key, 0))``), held by a connection of this run's own for the run's
    life — when the runner dies, its session ends and PostgreSQL releases them, as the kernel releases a
    host's flock. ``chaosrunner_locks`` says who holds which key (for the refusal and ``status``); the
    advisory lock is the lock, the row is advice (a row whose key can be locked is stale and overwritten)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._conn: Any = None
        self._run_id: str | None = None
        self._lock = threading.Lock()

    def acquire(self, run_id: str, keys: list[str]) -> dict[str, object] | None:
        """Lock every key or none: None when all are held, else the holder of a busy key ({} if unknown).
        Raises FleetUnavailable when the database cannot be asked (the caller refuses: fail closed)."""
        import psycopg

        try:
            conn = self.fleet._connect()
            conn.execute(LOCKS_SCHEMA)
            for key in sorted(set(keys)):
                if not conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]:
                    row = conn.execute(f"SELECT run_id, host, pid FROM {LOCKS_TABLE} WHERE key = %s", (key,)).fetchone()
                    conn.close()  # the session's locks go with it
                    return {"key": key, **({"run_id": row[0], "host": row[1], "pid": row[2]} if row else {})}
            for key in set(keys):
                conn.execute(f"INSERT INTO {LOCKS_TABLE} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                             "run_id = EXCLUDED.run_id, host = EXCLUDED.host, pid = EXCLUDED.pid, "
                             "acquired_at = EXCLUDED.acquired_at",
                             (key, run_id, socket.gethostname(), os.getpid(), datetime.now(UTC)))
        except psycopg.Error as e:
            raise FleetUnavailable(f"fleet state at {self.fleet.where} unreachable: {type(e).__name__}: "
                                   f"{str(e).strip()[:200]}") from None
        self._conn, self._run_id = conn, run_id
        return None

    def health(self) -> str | None:
        """None while the locks are held; why not, once the lock connection broke (the run must stop)."""
        import psycopg

        with self._lock:
            if self._conn is None:
                return None
            try:
                self._conn.execute("SELECT 1")
                return None
            except psycopg.Error as e:
                return (f"fleet target locks lost: the connection to {self.fleet.where} broke "
                        f"({type(e).__name__}) (fail closed)")

    def release(self) -> None:
        import psycopg

        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(f"DELETE FROM {LOCKS_TABLE} WHERE run_id = %s", (self._run_id,))
        except psycopg.Error as e:  # the decision: the advisory locks go with the session below; the rows are advice
            log.warning("fleet target locks: the holder rows of run %s stay (stale, overwritten on next lock): %s",
                        self._run_id, e)
        finally:
            conn.close()
