"""One scheduled run as a child process: its hard timeout, its SIGTERM-then-SIGKILL stop, the APScheduler
executor that hands fires to the daemon, and what the child left in its log (the journal it wrote).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor

log = logging.getLogger("chaosrunner.scheduler")


class Fires(Protocol):
    """What the executor hands a due job to (the daemon)."""

    def fire(self, job_id: str, scheduled_at: datetime, kwargs: dict[str, Any]) -> Any: ...


@dataclass
class ChildRun:
    entry: str
    scheduled_at: datetime
    argv: list[str]
    proc: subprocess.Popen[bytes]
    started: float  # monotonic
    deadline: float  # monotonic: hard timeout
    term_grace: float
    term_sent: float | None = None
    reason: str | None = None  # why we sent SIGTERM (timeout, restricted window, daemon stopping)

    def terminate(self, reason: str) -> None:
        """SIGTERM the runner once — the runner only, not its group: it aborts the method (killing the
        method's own processes) and rolls back; a rollback's processes must not get the signal too."""
        if self.term_sent is None and self.proc.poll() is None:
            self.reason = reason
            self.term_sent = time.monotonic()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, stopping: threading.Event | None = None, poll_s: float = 0.1) -> int:
        """Wait for the child, enforcing the hard timeout and the SIGTERM → SIGKILL grace."""
        while True:
            try:
                return self.proc.wait(timeout=poll_s)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self.term_sent is None and now >= self.deadline:
                self.terminate(f"hard timeout after {self.deadline - self.started:.0f}s")
            if self.term_sent is not None and now >= self.term_sent + self.term_grace:
                self.kill()


class FireExecutor(BaseExecutor):
    """Runs fires in threads and hands the daemon the scheduled time (APScheduler's own executors
    only pass it to ``run_job``). Coalescing means ``run_times`` has one element; we take the last."""

    def __init__(self, daemon: Fires, max_workers: int = 16) -> None:
        super().__init__()
        self.daemon = daemon
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="chaosrunner-fire")

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        at = run_times[-1]
        job_id, kwargs = job.id, dict(job.kwargs)

        def work() -> None:
            try:
                self.daemon.fire(job_id, at, kwargs)
            except Exception:  # noqa: BLE001 - one fire must not stop the daemon
                log.exception("fire %s@%s failed", job_id, at)
            finally:
                self._run_job_success(job_id, [JobExecutionEvent(EVENT_JOB_EXECUTED, job_id, "default", at)])

        self.pool.submit(work)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


def child_var(v: Any) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v)


def journal_from_log(logfile: Path) -> str | None:
    """The runner prints one JSON line (``--json``) with the journal path; take it if present."""
    import json

    try:
        lines = logfile.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines[-50:]):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict) and data.get("journal"):
                    return str(data["journal"])
    return None
