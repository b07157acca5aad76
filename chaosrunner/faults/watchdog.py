"""The dead-man's switch: a process that outlives the runner and reverts its faults if it dies.

The runner calls :func:`spawn_watchdog` (a ``python -m chaosrunner.faults.watchdog`` in its own session, so
``kill -9`` of the runner, its process group or its terminal leaves the watchdog running) and starts a
:class:`Heartbeat` that touches ``<state>/heartbeats/<run_id>`` every 0.5 s. The watchdog polls every
0.2 s and decides with :func:`decide`:

* the runner wrote ``<state>/heartbeats/<run_id>.done`` (finished cleanly) → exit quietly;
* the runner pid is gone → revert the run's open ledger entries, mark the journal, exit;
* the heartbeat is older than 3 s while the runner still exists and entries are open → the runner is
  hung: SIGKILL it (so it cannot inject after we revert), revert, mark the journal, exit.

Marking the journal: ``chaosrunner.recovered_by = "watchdog"``, ``complete = true``, verdict ``aborted`` when
every undo succeeded else ``rollback-failed``, the ledger outcomes merged into ``chaosrunner.ledger``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaosrunner.core import storage
from chaosrunner.faults.ledger import (
    DEFAULT_UNDO_TIMEOUT_S,
    Ledger,
    UndoOutcome,
    check_run_id,
    owner_alive,
    process_start_time,
    revert_open,
)

HEARTBEAT_INTERVAL_S = 0.5
STALE_AFTER_S = 3.0
POLL_S = 0.2
JOURNAL_RUN_ID_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T\d{6}Z-[a-z0-9-]{1,64}-[0-9a-f]{6}$")

log = logging.getLogger("chaosrunner.faults.watchdog")


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


class Decision(StrEnum):
    WAIT = "wait"
    EXIT = "exit"  # the runner finished, or died with nothing open: nothing to do
    REVERT = "revert"  # the runner died with faults open
    KILL_AND_REVERT = "kill-and-revert"  # the runner is alive but stopped beating: presumed hung


def decide(
    *,
    runner_alive: bool,
    done: bool,
    heartbeat_age_s: float,
    open_entries: int,
    stale_after_s: float = STALE_AFTER_S,
) -> Decision:
    """Pure: what the watchdog does now. ``heartbeat_age_s`` is seconds since the last beat (or start)."""
    if done:
        return Decision.EXIT
    if not runner_alive:
        return Decision.REVERT if open_entries else Decision.EXIT
    if heartbeat_age_s > stale_after_s and open_entries:
        return Decision.KILL_AND_REVERT
    return Decision.WAIT


def journal_path_for(run_id: str, journals: Path | None = None) -> Path | None:
    """Where the journal store keeps ``run_id`` (``<journals>/YYYY/MM/DD/<run_id>.json``), if it exists."""
    m = JOURNAL_RUN_ID_RE.match(run_id)
    if not m:
        return None
    path = (journals or storage.journal_dir()) / m.group(1) / m.group(2) / m.group(3) / f"{run_id}.json"
    return path if path.is_file() else None


def mark_journal(
    path: Path,
    ledger: Ledger,
    run_id: str,
    outcomes: Sequence[UndoOutcome],
    recovered_by: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Record in the run's journal that ``recovered_by`` reverted its faults; atomic write. Returns it.

    A missing or unreadable journal is replaced by a minimal one, so the record of the recovery survives.
    """
    from chaosrunner.core.verdict import Verdict, exit_code

    try:
        journal = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(journal, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        journal = {"status": "interrupted"}
    cr = journal.get("chaosrunner")
    if not isinstance(cr, dict):
        cr = journal["chaosrunner"] = {"format": 1, "run_id": run_id}
    failed = [o for o in outcomes if not o.ok]
    verdict = Verdict.ROLLBACK_FAILED if failed else Verdict.ABORTED
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if reason is None:
        reason = (
            f"the runner died; {recovered_by} reverted {len(outcomes) - len(failed)} of {len(outcomes)} open fault(s)"
        )
        if failed:
            reason += "; still in place: " + ", ".join(f"{o.fault} on {o.target} ({o.detail})" for o in failed)
    cr.update(
        {
            "complete": True,
            "verdict": str(verdict),
            "exit_code": int(exit_code(verdict)),
            "reason": reason,
            "recovered_by": recovered_by,
        }
    )
    cr.setdefault("ended_at", now_iso)
    journal.setdefault("end", now_iso)
    if journal.get("status") in (None, "running"):
        journal["status"] = "interrupted"
    views = {e.id: e.journal_view() for e in ledger.entries(run_id)}
    merged = []
    for item in cr.get("ledger") or []:
        if isinstance(item, dict) and item.get("id") in views:
            merged.append({**item, **views.pop(item["id"])})
        else:
            merged.append(item)
    cr["ledger"] = merged + list(views.values())
    storage.atomic_write_json(Path(path), journal)
    return journal


def watch(
    run_id: str,
    pid: int,
    journal: Path | None,
    state: Path,
    *,
    stale_after_s: float = STALE_AFTER_S,
    poll_s: float = POLL_S,
    undo_timeout_s: float = DEFAULT_UNDO_TIMEOUT_S,
) -> int:
    """The watchdog loop. Returns the process exit code (0 nothing to do / all reverted, 5 an undo failed)."""
    import chaoslib.activity  # noqa: F401 - imported now so a revert does not pay for it later

    ledger = Ledger(state)
    started_at = process_start_time(pid)
    beat = heartbeat_path(state, run_id)
    done = done_path(state, run_id)
    watching_since = time.time()
    log.info("watching run %s (pid %s)", run_id, pid)
    try:
        while True:
            try:
                last = max(beat.stat().st_mtime, watching_since)
            except FileNotFoundError:
                last = watching_since
            decision = decide(
                runner_alive=owner_alive(pid, started_at),
                done=done.exists(),
                heartbeat_age_s=time.time() - last,
                open_entries=len(ledger.open_entries(run_id)) + len(ledger.unreadable_open(run_id)),
                stale_after_s=stale_after_s,
            )
            if decision is Decision.WAIT:
                time.sleep(poll_s)
                continue
            if decision is Decision.EXIT:
                if not done.exists() and journal is not None:
                    _mark_unfinished(journal, ledger, run_id)
                log.info("run %s finished; exiting", run_id)
                return 0
            if decision is Decision.KILL_AND_REVERT:
                log.warning("run %s: no heartbeat for %.1f s; killing pid %s", run_id, time.time() - last, pid)
                if owner_alive(pid, started_at):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            outcomes = revert_open(ledger, run_id, undo_timeout_s)
            for o in outcomes:
                log.info(
                    "run %s: %s on %s → %s %s (%.3f s)",
                    run_id,
                    o.fault,
                    o.target,
                    o.outcome,
                    o.detail,
                    o.seconds,
                )
            target = journal if journal is not None else journal_path_for(run_id)
            if target is not None:
                try:
                    mark_journal(target, ledger, run_id, outcomes, "watchdog")
                except (OSError, ValueError) as e:
                    log.error("run %s: cannot mark journal %s: %s", run_id, target, e)
            return 0 if all(o.ok for o in outcomes) else 5
    finally:
        for p in (beat, done):
            with contextlib.suppress(OSError):
                p.unlink()


def _mark_unfinished(journal: Path, ledger: Ledger, run_id: str) -> None:
    """The runner died with nothing open: if its journal was left "running", say what happened."""
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
        cr = data.get("chaosrunner") if isinstance(data, dict) else None
        if isinstance(cr, dict) and cr.get("complete"):
            return
    except (OSError, ValueError):
        pass
    with contextlib.suppress(OSError, ValueError):
        mark_journal(
            journal,
            ledger,
            run_id,
            [],
            "watchdog",
            reason="the runner died before finishing its journal; no fault was left open",
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaosrunner.faults.watchdog", description=__doc__.split("\n")[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--pid", required=True, type=int)
    parser.add_argument("--journal", type=Path, default=None)
    parser.add_argument("--state", type=Path, default=None)
    parser.add_argument("--stale-after", type=float, default=STALE_AFTER_S, help="seconds without a heartbeat")
    parser.add_argument("--undo-timeout", type=float, default=DEFAULT_UNDO_TIMEOUT_S, help="seconds per undo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        check_run_id(args.run_id)
    except ValueError as e:
        parser.error(str(e))
    state = args.state if args.state is not None else storage.state_dir()
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return watch(
        args.run_id,
        args.pid,
        args.journal,
        state,
        stale_after_s=args.stale_after,
        undo_timeout_s=args.undo_timeout,
    )


if __name__ == "__main__":
    sys.exit(main())
