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
import signal
import sys
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from chaosrunner.core import storage
from chaosrunner.faults import runs
from chaosrunner.faults.heartbeat import STALE_AFTER_S, done_path, heartbeat_path
from chaosrunner.faults.ledger import Ledger, check_run_id, owner_alive, process_start_time
from chaosrunner.faults.recovery import journal_path_for, mark_journal
from chaosrunner.faults.undo import DEFAULT_UNDO_TIMEOUT_S, revert_open

POLL_S = 0.2
PRELOAD_AFTER_S = 1.0

log = logging.getLogger("chaosrunner.faults.watchdog")


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
    ledger = Ledger(state)
    started_at = process_start_time(pid)
    beat = heartbeat_path(state, run_id)
    done = done_path(state, run_id)
    watching_since = time.time()
    preloaded = False
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
                if not preloaded and time.time() - watching_since >= PRELOAD_AFTER_S:
                    preloaded = _preload_undo_machinery(run_id)
                time.sleep(poll_s)
                continue
            if decision is Decision.EXIT:
                target = journal_path_for(run_id, state=state) or journal
                if not done.exists() and target is not None:
                    _mark_unfinished(target, ledger, run_id)
                    runs.release(state, run_id)
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
            target = journal_path_for(run_id, state=state) or journal
            marked = True
            if target is not None:
                try:
                    mark_journal(target, ledger, run_id, outcomes, "watchdog")
                except Exception:  # noqa: BLE001 - the reverts are done; the run's lease stays for the reaper
                    marked = False
                    log.exception("run %s: cannot mark journal %s; the reaper will", run_id, target)
            if marked and not ledger.open_entries(run_id):
                runs.release(state, run_id)
            return 0 if all(o.ok for o in outcomes) else 5
    finally:
        for p in (beat, done):
            with contextlib.suppress(OSError):
                p.unlink()


def _preload_undo_machinery(run_id: str) -> bool:
    """Load chaoslib's activity runner once the run has lasted: a revert then does not wait ~50 ms for it,
    and a short run's watchdog, which only sees the run end, never pays for it. A failure here must not
    stop the watching: it is logged, and a revert tries the import again and reports each undo it could
    not run."""
    try:
        import chaoslib.activity  # noqa: F401
    except Exception:  # noqa: BLE001 - keep watching; the revert path reports what it cannot do
        log.exception("run %s: cannot preload the undo machinery; still watching", run_id)
    return True


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
