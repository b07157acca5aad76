"""The runner's side of the dead-man's switch: the heartbeat it touches every 0.5 s and the watchdog
process it spawns in a session of its own (see :mod:`chaosrunner.faults.watchdog`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

from chaosrunner.core import storage
from chaosrunner.faults.ledger import check_run_id
from chaosrunner.faults.undo import DEFAULT_UNDO_TIMEOUT_S

HEARTBEAT_INTERVAL_S = 0.5  # the runner beats this often (seconds)
STALE_AFTER_S = 3.0  # a heartbeat older than this means the runner is hung (seconds)


def heartbeat_path(state: Path, run_id: str) -> Path:
    return Path(state) / "heartbeats" / check_run_id(run_id)


def done_path(state: Path, run_id: str) -> Path:
    return Path(state) / "heartbeats" / f"{check_run_id(run_id)}.done"


class Heartbeat:
    """The runner's pulse: a daemon thread touching ``<state>/heartbeats/<run_id>`` every ``interval_s``.

    ``stop(done=True)`` writes the "done" marker that tells the watchdog the runner finished cleanly —
    call it after the rollbacks and the final journal write.
    """

    def __init__(self, run_id: str, state: Path | None = None, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.run_id = check_run_id(run_id)
        self.state = Path(state) if state is not None else storage.state_dir()
        self.interval_s = interval_s
        self.path = heartbeat_path(self.state, run_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        storage.ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        os.utime(self.path)

    def start(self) -> Heartbeat:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="chaosrunner-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(OSError):
                self.beat()

    def stop(self, done: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s + 1)
        if done:
            path = done_path(self.state, self.run_id)
            storage.ensure_private_dir(path.parent)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def spawn_watchdog(
    run_id: str,
    pid: int,
    journal_path: str | Path | None,
    *,
    state: Path | None = None,
    stale_after_s: float = STALE_AFTER_S,
    undo_timeout_s: float = DEFAULT_UNDO_TIMEOUT_S,
) -> int:
    """Start the watchdog for ``run_id`` owned by ``pid`` in its own session; returns the watchdog pid.

    Its stdin/stdout/stderr are detached from the runner's terminal; it logs to
    ``<state>/watchdog/<run_id>.log``. It inherits the environment (drivers' credentials, CHAOSRUNNER_*).
    """
    check_run_id(run_id)
    state = Path(state) if state is not None else storage.state_dir()
    log_dir = storage.ensure_private_dir(state / "watchdog")
    argv = [
        sys.executable,
        "-m",
        "chaosrunner.faults.watchdog",
        "--run-id",
        run_id,
        "--pid",
        str(pid),
        "--state",
        str(state),
        "--stale-after",
        str(stale_after_s),
        "--undo-timeout",
        str(undo_timeout_s),
    ]
    if journal_path is not None:
        argv += ["--journal", str(Path(journal_path).absolute())]
    fd = os.open(log_dir / f"{run_id}.log", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
        )
    finally:
        os.close(fd)
    return proc.pid
