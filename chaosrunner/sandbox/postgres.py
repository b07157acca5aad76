"""PostgreSQL 15 clusters for the sandbox and for tests: a primary, streaming standbys, promotion.

Debian's PostgreSQL refuses to run as root, so every server-side command (``initdb``, ``pg_ctl``,
``pg_basebackup``) runs as the ``postgres`` user through ``runuser`` when we are root. The cluster's
data directory is owned by ``postgres`` with mode 0700, which means ``postgres`` must be able to
traverse every parent of ``base_dir``: pytest's ``tmp_path`` (``/tmp/pytest-of-root``, 0700) is NOT
traversable — use :func:`pg_base_dir` to get a suitable directory.

API::

    base = pg_base_dir(root)                          # <root>/pg when traversable, else a /tmp dir
    primary = PostgresCluster(base, "pg-a", port=free_port())
    primary.init_primary()                            # initdb (trust auth, 127.0.0.1 only, wal_level=replica)
    primary.start(timeout_s=30)                       # pg_ctl start -w; returns when it accepts connections
    standby = PostgresCluster(base, "pg-b", port=free_port())
    standby.init_standby(primary, slot="pg_b")        # pg_basebackup -R -X stream -C -S pg_b
    standby.start()
    standby.wait_ready(timeout_s=10)                  # SELECT 1 succeeds (a hot standby answers reads)
    standby.in_recovery()                             # True: it is a standby
    standby.promote(timeout_s=10)                     # pg_ctl promote -w; then writable
    primary.stop(mode="immediate")                    # "fast" (default) | "smart" | "immediate" (crash-like)
    primary.dsn                                       # libpq DSN: host=127.0.0.1 port=P user=postgres ...
    primary.destroy()                                 # stop, then remove the cluster directory

Each cluster lives in ``<base_dir>/<name>/`` with ``data/`` (PGDATA), ``sock/`` (its own UNIX socket
directory, so it never clashes with Debian's default cluster on 5432) and ``postgres.log``. The server
is started by ``pg_ctl`` (it daemonizes), so it outlives the Python process that started it: another
process can stop it with a fresh ``PostgresCluster(base, name, port)`` — the pid is in
``data/postmaster.pid``.

Sandbox tuning (not production!): ``fsync=off`` and small ``shared_buffers`` make start-up fast and
RSS small; asynchronous streaming replication is kept, so writes acknowledged by the primary just
before a failover can really be lost — which is what the data-loss (RPO) figure measures.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

from chaosrunner.core.ports import LOOPBACK

PG_BIN = Path(os.environ.get("CHAOSRUNNER_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"
CONNECT_TIMEOUT_S = 3


class PostgresError(RuntimeError):
    """A PostgreSQL command failed; the message carries the tail of its output."""


def _as_pg_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *argv]
    return argv


def _pg_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


def _traversable_by_pg(path: Path) -> bool:
    """True when the ``postgres`` user can reach ``path`` (every ancestor has the x bit for it)."""
    if os.geteuid() != 0:
        return os.access(path, os.X_OK)
    result = subprocess.run(
        _as_pg_user(["test", "-x", str(path)]), capture_output=True, timeout=10, check=False
    )
    return result.returncode == 0


def pg_base_dir(root: Path) -> Path:
    """Directory to put clusters in for a sandbox/test rooted at ``root``.

    ``<root>/pg`` when the ``postgres`` user can traverse ``root``; otherwise a directory under
    ``/tmp`` derived from ``root``'s path (stable, so ``sandbox down`` finds it again).
    """
    root = root.absolute()
    root.mkdir(parents=True, exist_ok=True)
    if _traversable_by_pg(root):
        base = root / "pg"
    else:
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        base = Path("/tmp") / f"chaosrunner-pg-{digest}"
    base.mkdir(mode=0o755, exist_ok=True)
    os.chmod(base, 0o755)
    return base


class PostgresCluster:
    """One PostgreSQL 15 server: its directory, port and the commands that drive it."""

    def __init__(self, base_dir: Path, name: str, port: int) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.name = name
        self.port = port
        self.dir = self.base_dir / name
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"

    # ----------------------------------------------------------------- properties
    @property
    def dsn(self) -> str:
        """libpq connection string over TCP on 127.0.0.1 (trust auth, user ``postgres``)."""
        return (
            f"host={LOOPBACK} port={self.port} user={PG_USER} dbname=postgres "
            f"connect_timeout={CONNECT_TIMEOUT_S}"
        )

    # ----------------------------------------------------------------- running commands
    def _run(self, argv: list[str], timeout_s: float) -> str:
        try:
            result = subprocess.run(
                _as_pg_user(argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=self.dir if self.dir.exists() else self.base_dir,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{self.name}: {' '.join(argv[:2])} timed out after {timeout_s}s") from exc
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-8:]
            raise PostgresError(f"{self.name}: {Path(argv[0]).name} failed: " + " | ".join(tail))
        return result.stdout

    def _prepare_dirs(self) -> None:
        uid, gid = _pg_ids()
        for d in (self.dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, gid)
        os.chmod(self.dir, 0o755)
        os.chmod(self.socket_dir, 0o700)
        if self.data_dir.exists():
            raise PostgresError(f"{self.name}: data directory {self.data_dir} already exists")
        self.data_dir.mkdir(mode=0o700)
        os.chown(self.data_dir, uid, gid)
        os.chmod(self.data_dir, 0o700)

    def _append_conf(self, lines: list[str]) -> None:
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as f:
            f.write("\n# chaosrunner sandbox\n" + "\n".join(lines) + "\n")

    # ----------------------------------------------------------------- lifecycle
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init_primary(self, timeout_s: float = 60) -> None:
        """initdb a fresh primary: trust auth, listens on 127.0.0.1 only, ready to stream WAL."""
        self._prepare_dirs()
        self._run(
            [str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", PG_USER, "--auth=trust",
             "--no-sync", "-E", "UTF8", "--locale=C"],
            timeout_s,
        )
        self._append_conf([
            f"listen_addresses = '{LOOPBACK}'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "hot_standby = on",
            "fsync = off",
            "full_page_writes = off",
            "shared_buffers = 16MB",
            "max_connections = 100",
            "wal_keep_size = 64MB",
            "logging_collector = off",
        ])

    def init_standby(self, primary: PostgresCluster, slot: str | None = None, timeout_s: float = 60,
                     stream_port: int | None = None) -> None:
        """Base-backup ``primary`` into a new streaming standby (``-R``: writes standby.signal and
        primary_conninfo; ``-C -S slot``: a replication slot, so the primary keeps WAL it needs).

        ``stream_port``: the standby streams through this port on 127.0.0.1 instead of the primary's own
        (the sandbox's replication link through the fault proxy, so a partition can cut it); the base
        backup itself is taken directly. A broken stream is retried every second."""
        slot = slot or self.name.replace("-", "_")
        self._prepare_dirs()
        primary.drop_slot(slot)
        self._run(
            [str(PG_BIN / "pg_basebackup"), "-h", LOOPBACK, "-p", str(primary.port), "-U", PG_USER,
             "-D", str(self.data_dir), "-R", "-X", "stream", "-C", "-S", slot, "--no-sync",
             "--checkpoint=fast"],
            timeout_s,
        )
        auto = self.data_dir / "postgresql.auto.conf"
        text = auto.read_text()
        if stream_port is not None:
            text = re.sub(r"(primary_conninfo = '[^\n]*?\bport=)\d+", rf"\g<1>{stream_port}", text)
        auto.write_text(text + "wal_retrieve_retry_interval = '1s'\n")

    def start(self, timeout_s: float = 30) -> None:
        """Start (idempotent) and return once it accepts connections; PostgresError otherwise."""
        if self.running():
            self.wait_ready(timeout_s)
            return
        self._run(
            [str(PG_BIN / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_path),
             "-w", "-t", str(int(max(1, timeout_s))),
             "-o", f"-p {self.port} -k {self.socket_dir} -c listen_addresses={LOOPBACK}"],
            timeout_s + 5,
        )
        self.wait_ready(timeout_s)

    def stop(self, mode: str = "fast", timeout_s: float = 30) -> None:
        """Stop (no-op when not running). ``immediate`` is a crash: no checkpoint, recovery on start."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"stop mode must be smart|fast|immediate, not {mode!r}")
        if not self.running():
            return
        self._run(
            [str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w",
             "-t", str(int(max(1, timeout_s)))],
            timeout_s + 5,
        )

    def pid(self) -> int | None:
        """Postmaster pid from ``postmaster.pid`` when that process is alive, else None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Poll ``SELECT 1`` until it succeeds; PostgresError after ``timeout_s`` seconds."""
        import psycopg

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.1)
        raise PostgresError(f"{self.name}: not ready after {timeout_s}s: {last}")

    def execute(self, sql: str, params: tuple[object, ...] | None = None) -> list[tuple[object, ...]]:
        """Run one statement in autocommit mode; returns its rows (empty for statements without)."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def in_recovery(self) -> bool:
        """True for a standby (read-only, replaying WAL), False for a primary."""
        return bool(self.execute("SELECT pg_is_in_recovery()")[0][0])

    def drop_slot(self, slot: str) -> None:
        """Drop a replication slot if it exists (so a standby can be rebuilt with ``-C``)."""
        if not self.running():
            return
        self.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s AND NOT active",
            (slot,),
        )

    def promote(self, timeout_s: float = 10) -> float:
        """Promote this standby to primary; returns seconds until it accepted a write transaction."""
        started = time.monotonic()
        self._run(
            [str(PG_BIN / "pg_ctl"), "promote", "-D", str(self.data_dir), "-w",
             "-t", str(int(max(1, timeout_s)))],
            timeout_s + 5,
        )
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if not self.in_recovery():
                return time.monotonic() - started
            time.sleep(0.05)
        raise PostgresError(f"{self.name}: still in recovery {timeout_s}s after promote")

    def destroy(self) -> None:
        """Stop (immediately) and remove the cluster directory — and a /tmp base dir left empty."""
        try:
            self.stop(mode="immediate")
        except PostgresError:
            pid = self.pid()
            if pid:
                os.kill(pid, 9)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.base_dir.name.startswith("chaosrunner-pg-"):
            try:
                self.base_dir.rmdir()  # only succeeds when no other cluster lives there
            except OSError:
                pass
