"""The host's reaper: the keeper of last resort for faults and journals whose run is gone.

Each run has two keepers outside its own process: its watchdog (a process in a session of its own,
:mod:`chaosrunner.faults.watchdog`) and the reaper, which runs in a process that does not belong to any
run — the scheduler daemon, or ``chaosrunner reaper`` as a service (a systemd unit ships in ``deploy/``).
When both the runner and its watchdog die together (a container or systemd stop kills the whole cgroup, a
CI timeout kills the job), only the reaper is left to act. Every pass it:

1. finds the run leases (:mod:`chaosrunner.faults.runs`) whose owner is gone, reverts their open ledger
   entries and marks their journals (``recovered_by: "reaper"``) — so a journal never stays ``running``
   after its run is gone, even when the run injected nothing;
2. finds leases whose owner is alive but has not beaten for :data:`STALE_AFTER_S` (the watchdog would
   have acted after 3 s, so it is gone too, and the runner is hung or stopped): kills the owner so it
   cannot inject after the revert, then reverts and marks as above;
3. reverts any other open ledger entry whose owner is gone (faults recorded outside a run lease).

A pass with nothing to do is a directory listing or two: cheap enough to run every second.

The service (:func:`serve`) only looks; when there is something to revert it runs the pass in a fresh
interpreter (``python -m chaosrunner.faults.reaper --state S``): a long-lived keeper must never execute undo
code it imported earlier. Seen: after chaosrunner was upgraded under a running reaper, an undo module new
on disk imported a helper from a module the reaper had loaded before the upgrade — ImportError, the fault
stayed in place until its own restore deadline. A fresh interpreter also takes a hung undo with it when the
pass is cut at :data:`PASS_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaosrunner.core import storage
from chaosrunner.faults.heartbeat import heartbeat_path
from chaosrunner.faults.ledger import Ledger, owner_alive
from chaosrunner.faults.recovery import mark_journal, recover_orphans
from chaosrunner.faults.runs import RunLease, leases, release
from chaosrunner.faults.undo import DEFAULT_UNDO_TIMEOUT_S, UndoOutcome, revert_open
from chaosrunner.notify.metrics import RunMetrics, faults_of, push
from chaosrunner.notify.outbox import outbox
from chaosrunner.notify.webhook import notify

log = logging.getLogger("chaosrunner.reaper")

STALE_AFTER_S = 10.0  # a lease whose owner has not beaten for this long is presumed hung (seconds)
INTERVAL_S = 1.0  # ``chaosrunner reaper`` passes (seconds)
RETRY_S = 30.0  # a run whose undo is still running (timed out) is retried this often by the service (seconds)
FLUSH_S = 2.0  # how long a pass that finished a run's record waits for its notifications to leave (seconds)
PASS_TIMEOUT_S = 1800.0  # a fresh-interpreter pass still running after this is killed (seconds)


@dataclass
class ReapReport:
    runs: list[str] = field(default_factory=list)  # runs whose record the reaper finished
    outcomes: list[UndoOutcome] = field(default_factory=list)
    attempted: dict[str, float] | None = None  # run id → when the reaper last acted on it

    @property
    def failed(self) -> list[UndoOutcome]:
        return [o for o in self.outcomes if not o.ok]


def _journal_complete(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    section = doc.get("chaosrunner") if isinstance(doc, dict) else None
    return isinstance(section, dict) and section.get("complete") is True


def _beat_age(state: Path, lease: RunLease) -> float:
    try:
        last = heartbeat_path(state, lease.run_id).stat().st_mtime
    except FileNotFoundError:
        last = lease.started_at
    return time.time() - max(last, lease.started_at)


def _finish(
    state: Path, ledger: Ledger, lease: RunLease, timeout_s: float, report: ReapReport, why: str, by: str
) -> None:
    if report.attempted is not None:
        report.attempted[lease.run_id] = time.time()
    outcomes = revert_open(ledger, lease.run_id, timeout_s)
    report.outcomes += outcomes
    if any(o.outcome == "skipped" for o in outcomes):
        return  # another keeper (the watchdog) is reverting this run right now; it marks the journal
    journal = Path(lease.journal)
    title, verdict = lease.run_id, "aborted"
    first_time = not _journal_complete(journal)
    if first_time:
        reason = None if outcomes else f"the runner {why}; nothing was left to revert"
        try:
            section = mark_journal(journal, ledger, lease.run_id, outcomes, by, reason=reason)["chaosrunner"]
            title, verdict = str(section.get("experiment_title") or title), str(section["verdict"])
        except (OSError, ValueError) as e:
            log.error("run %s: cannot mark journal %s: %s", lease.run_id, journal, e)
    push(RunMetrics(lease.run_id, title, running=False, verdict=verdict,
                    faults=faults_of(e.journal_view() for e in ledger.entries(lease.run_id))))
    whole = not ledger.open_entries(lease.run_id)  # nothing left to retry (a failed undo is closed, on record)
    left = not whole or any(not o.ok for o in outcomes)
    if first_time or whole:  # announced when found and when finished — not at every retry
        notify("fault-left" if left else "recovered", lease.run_id, title,
               reason=f"the runner {why}; {by} reverted {sum(o.ok for o in outcomes)} of {len(outcomes)} "
                      "open fault(s)")
    if whole:
        release(state, lease.run_id)
    report.runs.append(lease.run_id)
    log.warning("run %s: the runner %s; reaper reverted %d fault(s)", lease.run_id, why, len(outcomes))


def reap(
    state: Path | None = None,
    *,
    kill_stale: bool = True,
    stale_after_s: float = STALE_AFTER_S,
    timeout_s: float = DEFAULT_UNDO_TIMEOUT_S,
    recovered_by: str = "reaper",
    attempted: dict[str, float] | None = None,
) -> ReapReport:
    """One pass (see the module docstring). ``kill_stale=False`` leaves hung-but-alive runners alone;
    ``recovered_by`` is what the marked journals say did it (``reaper``, or ``recover`` at a command's start).
    ``attempted`` (run id → when) paces retries of runs whose undo keeps failing to one per :data:`RETRY_S`
    (leased runs and orphaned entries alike)."""
    state = Path(state) if state is not None else storage.state_dir()
    ledger = Ledger(state)
    report = ReapReport(attempted=attempted)
    now = time.time()
    leased = leases(state)
    for lease in leased:
        if attempted is not None and now - attempted.get(lease.run_id, -RETRY_S) < RETRY_S:
            continue  # acted on within RETRY_S: its undo failed, the next try comes later
        if not owner_alive(lease.pid, lease.pid_started_at):
            _finish(state, ledger, lease, timeout_s, report, "is gone", recovered_by)
        elif kill_stale and _beat_age(state, lease) > stale_after_s:
            log.warning("run %s: no heartbeat for %.0fs; killing pid %d", lease.run_id, stale_after_s, lease.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(lease.pid, signal.SIGKILL)
            _finish(state, ledger, lease, timeout_s, report, f"stopped beating for {stale_after_s:g}s", recovered_by)
    recent = frozenset(r for r, t in (attempted or {}).items() if now - t < RETRY_S)
    orphans = recover_orphans(state, timeout_s, recovered_by=recovered_by,
                              skip_runs=frozenset(lease.run_id for lease in leased) | recent)
    if attempted is not None:
        attempted.update({o.run_id: time.time() for o in orphans})
    report.outcomes += orphans
    if report.runs:
        outbox().flush(FLUSH_S)  # `recover` exits right after: let the gauges and the notice leave first
    return report


def pending(state: Path, attempted: dict[str, float]) -> bool:
    """Cheap: is there a run or an open entry a pass would act on now (not acted on within RETRY_S)?"""
    now = time.time()

    def due(run_id: str) -> bool:
        return now - attempted.get(run_id, -RETRY_S) >= RETRY_S

    for lease in leases(state):
        if due(lease.run_id) and (not owner_alive(lease.pid, lease.pid_started_at)
                                  or _beat_age(state, lease) > STALE_AFTER_S):
            return True
    ledger = Ledger(state)
    for rid, eid, pid in ledger.open_markers():
        if due(rid):
            entry = ledger.get(eid, rid)
            if not owner_alive(pid, entry.pid_started_at if entry is not None else None):
                return True
    return False


def fresh_pass(state: Path, attempted: dict[str, float], timeout_s: float = PASS_TIMEOUT_S) -> dict[str, object]:
    """One pass in a fresh interpreter (its log on our stderr); records the runs it acted on in ``attempted``."""
    now = time.time()
    skip = sorted(r for r, t in attempted.items() if now - t < RETRY_S)
    argv = [sys.executable, "-m", "chaosrunner.faults.reaper", "--state", str(state), "--skip", ",".join(skip)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, timeout=timeout_s,
                          check=False)
    try:
        result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"reaper pass exited {proc.returncode} without a report") from None
    acted = result.get("acted_on")
    for run_id in acted if isinstance(acted, list) else []:
        attempted[str(run_id)] = time.time()
    return result


def serve(state: Path | None = None, *, interval_s: float = INTERVAL_S, stop: threading.Event | None = None) -> None:
    """Look every ``interval_s`` until ``stop`` is set; run a fresh-interpreter pass when there is work. A
    failing pass is logged and retried after :data:`RETRY_S`: the reaper itself must not die of one bad entry."""
    stop = stop or threading.Event()
    home = Path(state) if state is not None else storage.state_dir()
    log.info("reaper watching %s every %gs", home, interval_s)
    attempted: dict[str, float] = {}
    backoff_until = 0.0
    while True:
        try:
            if time.monotonic() >= backoff_until and pending(home, attempted):
                fresh_pass(home, attempted)
        except Exception:  # noqa: BLE001 - the next try comes after RETRY_S; the error is logged with its traceback
            log.exception("reaper pass failed")
            backoff_until = time.monotonic() + RETRY_S
        if stop.wait(interval_s):
            return


def main(argv: list[str] | None = None) -> None:
    """``python -m chaosrunner.faults.reaper --state S [--skip RUN,…]``: one pass, its report as JSON on stdout.
    Undos that timed out are given one more undo timeout to finish before the pass ends."""
    import argparse

    from chaosrunner.faults.undo import still_running

    parser = argparse.ArgumentParser(description="one reaper pass in this (fresh) interpreter")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--skip", default="", help="run ids acted on recently (comma-separated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    now = time.time()
    attempted = {r: now for r in args.skip.split(",") if r}
    report = reap(args.state, attempted=attempted)
    deadline = time.monotonic() + DEFAULT_UNDO_TIMEOUT_S
    while still_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    acted = sorted({o.run_id for o in report.outcomes} | set(report.runs)
                   | {r for r, t in attempted.items() if t > now})
    print(json.dumps({"runs": report.runs, "acted_on": acted, "failed": len(report.failed),
                      "outcomes": [o.outcome for o in report.outcomes], "still_running": still_running()}))


if __name__ == "__main__":
    main()
