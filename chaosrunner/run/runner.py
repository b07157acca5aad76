"""One experiment in one process: preflight, ledger + watchdog + guard around chaoslib, rollbacks
always, an honest verdict, a journal written after every activity.

Why one process per experiment: chaoslib interrupts a run by signalling its *own* process
(SIGUSR1 → ``SystemExit`` in the main thread) and keeps module-level globals, so the scheduler
spawns ``chaosrunner run`` children instead of running experiments in threads.

Signals during a run (installed once chaoslib has registered its own, see :class:`_RunEvents`):

* SIGUSR1 (the guard's abort), SIGTERM, SIGINT → ``SystemExit`` in the main thread, which
  interrupts a pause or a blocking python call at once (chaoslib's own SIGTERM handler raises an
  ``Exception`` that a python activity would swallow as a mere failure and carry on);
* once rollbacks start, those signals are recorded but no longer raise: rollbacks are never cut short;
* SIGALRM enforces python-activity timeouts (raises :class:`ActivityTimedOut`, a chaoslib
  ``ActivityFailed``, so the activity is recorded as failed and the run goes on to its rollbacks).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.run import RunEventHandler
from chaoslib.run import Runner as ChaoslibRunner
from chaoslib.types import Strategy

from chaosrunner.core import context
from chaosrunner.core.context import RunContext
from chaosrunner.core.storage import state_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.core.verdict import Verdict, decide, exit_code
from chaosrunner.experiment.loader import Experiment, activity_timeout
from chaosrunner.faults.heartbeat import Heartbeat, spawn_watchdog
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.recovery import recover_orphans
from chaosrunner.faults.undo import revert_open, rollbacks_undo
from chaosrunner.guard.sampler import Guard
from chaosrunner.journal.writer import JournalWriter, new_run_id, now_iso, secret_values
from chaosrunner.run.plan import evaluate_preflight
from chaosrunner.safety.blast_radius import touched

log = logging.getLogger("chaosrunner.run.runner")

PHASES = {
    "before": "steady-state-before",
    "method": "method",
    "after": "steady-state-after",
    "rollback": "rollback",
}


class ActivityTimedOut(ActivityFailed):
    """A python activity ran longer than its timeout."""


@dataclass
class RunOptions:
    variables: dict[str, Any] = field(default_factory=dict)
    trigger: str = "cli"
    calendar: Path | None = None
    calendar_entry: str | None = None
    journal_root: Path | None = None
    on_update: Callable[[dict[str, Any]], None] | None = None  # live view; gets the chaosrunner section


@dataclass
class RunResult:
    run_id: str
    verdict: Verdict
    reason: str
    journal_path: Path | None

    @property
    def exit_code(self) -> int:
        return int(exit_code(self.verdict))


class AbortController:
    """The single way to stop a running experiment. ``trigger`` may be called from any thread.

    The first reason wins. While not shielded, it signals the runner's own process with SIGUSR1 so
    the main thread is interrupted wherever it is; once rollbacks begin (``shield()``) it only
    records, so rollbacks always complete.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.decided_at: str | None = None
        self.decided_mono: float | None = None
        self.shielded = False

    def trigger(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.decided_at = now_iso()
            self.decided_mono = time.monotonic()
            signal_now = not self.shielded
        log.warning("abort: %s", reason)
        if signal_now:
            os.kill(os.getpid(), signal.SIGUSR1)

    def shield(self) -> None:
        with self._lock:
            self.shielded = True


class _RunEvents(RunEventHandler):  # type: ignore[misc]
    """Journal after every activity, phases, timeouts, guard start/stop, rollback shielding."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.phase = "setup"
        self._current: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def started(self, experiment: dict, journal: dict) -> None:
        self.run.writer.ctk = journal
        self.run.flush()

    def running(self, experiment, journal, configuration, secrets, schedule, settings) -> None:  # noqa: ANN001
        # chaoslib installed its handlers just before this event; ours replace them for the run.
        signal.signal(signal.SIGUSR1, self._on_abort_signal)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGALRM, self._on_alarm)

    def start_hypothesis_before(self, experiment: dict) -> None:
        self.phase = PHASES["before"]

    def start_method(self, experiment: dict) -> None:
        self.phase = PHASES["method"]
        self.run.method_started()

    def method_completed(self, experiment: dict, state: Any = None) -> None:
        self.run.method_ended()

    def start_hypothesis_after(self, experiment: dict) -> None:
        self.phase = PHASES["after"]

    def start_rollbacks(self, experiment: dict) -> None:
        self.phase = PHASES["rollback"]
        self.run.abort.shield()
        self.run.rollbacks_started()

    def rollbacks_completed(self, experiment: dict, journal: dict) -> None:
        self.run.rollbacks_ended()

    # -- activities ------------------------------------------------------------------------------
    def start_activity(self, activity: dict) -> None:
        provider = activity.get("provider") or {}
        record = {
            "name": activity.get("name"),
            "phase": self.phase,
            "type": activity.get("type"),
            "provider": provider.get("type"),
            "status": "running",
            "start": now_iso(),
            "end": None,
            "duration": None,
            "error": None,
        }
        self._current = record
        self.run.writer.section["activities"].append(record)
        self.run.flush()
        limit = activity_timeout(activity, self.run.experiment.extension.timeouts.activity)
        if limit is not None:
            signal.setitimer(signal.ITIMER_REAL, limit)
            record["timeout_s"] = limit

    def activity_completed(self, activity: dict, run: dict) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        record = self._current or {}
        record["status"] = run.get("status", "interrupted")
        record["end"] = run.get("end")
        record["duration"] = run.get("duration")
        if run.get("exception"):
            exc = run["exception"]
            record["error"] = str(exc[-1] if isinstance(exc, list) else exc).strip()
        output = run.get("output")
        if isinstance(output, dict) and isinstance(output.get("chaosrunner_figures"), dict):
            self.run.writer.section["figures"].update(output["chaosrunner_figures"])
        self._current = None
        self.run.flush()

    # -- signals (main thread) -------------------------------------------------------------------
    def _on_abort_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.run.abort.shielded:
            raise SystemExit(20)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.run.abort.trigger(f"{name} received")  # signals ourselves with SIGUSR1 unless shielded

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        record = self._current or {}
        raise ActivityTimedOut(f"activity '{record.get('name')}' timed out after {record.get('timeout_s')}s")


class LedgerUnavailable(Exception):
    """The run-level ledger entry could not be made durable: nothing may be injected."""


class _Runner(ChaoslibRunner):  # type: ignore[misc]
    """chaoslib's Runner, plus configuration chaosrunner adds after chaoslib loaded the experiment's,
    and the run-level ledger entry, recorded once the configuration is known and before any activity."""

    def __init__(self, run: _Run, extra_configuration: dict[str, Any]) -> None:
        super().__init__(Strategy.DEFAULT)
        self._owner = run
        self._extra = extra_configuration

    def configure(self, experiment: dict, settings: dict, experiment_vars: Any) -> None:
        super().configure(experiment, settings, experiment_vars)
        self.config.update(self._extra)
        self._owner.writer.add_secrets(secret_values(self.secrets))
        try:
            self._owner.record_rollbacks(self.config)
        except (OSError, ValueError) as e:
            raise LedgerUnavailable(f"fault ledger not writable, nothing injected: {e}") from None


class _Run:
    """State of one run; owned by :func:`run_experiment`."""

    def __init__(self, experiment: Experiment, options: RunOptions) -> None:
        self.experiment = experiment
        self.options = options
        self.run_id = new_run_id(experiment.title)
        self.writer = JournalWriter(self.run_id, options.journal_root)
        self.abort = AbortController()
        self.guard: Any = None
        self.ledger_entry: str | None = None
        self._last_sample_flush = 0.0
        self._rollback_started: float | None = None
        self._method_started: float | None = None
        s = self.writer.section
        s.update(
            trigger=options.trigger,
            calendar_entry=options.calendar_entry,
            experiment_path=str(experiment.path),
            experiment_title=experiment.title,
        )
        if experiment.extension.blast_radius is not None:
            s["blast_radius"] = {"declared": experiment.extension.blast_radius.model_dump(mode="json")}

    def flush(self) -> None:
        self.writer.flush()
        if self.options.on_update is not None:
            self.options.on_update(self.writer.section)

    def record_rollbacks(self, configuration: dict[str, Any]) -> None:
        """Record the run-level undo (replay this experiment's rollbacks) before anything runs, so a
        crash at any later moment is reverted by the watchdog or the next chaosrunner command."""

        if not self.experiment.doc.get("rollbacks"):
            return
        undo = rollbacks_undo(self.experiment.path, configuration, self.experiment.doc)
        self.ledger_entry = Ledger(state_dir()).record(
            self.run_id, "experiment", self.experiment.title, undo, pid=os.getpid()
        )

    def on_sample(self, sample: dict[str, Any]) -> None:
        """Called by the guard's sampler thread after every sample: journal (at most every 2 s) and
        live view."""
        with self.writer.lock:
            guard = self.writer.section.setdefault("guard", None) or {"samples": []}
            guard.setdefault("samples", []).append(sample)
            self.writer.section["guard"] = guard
        now = time.monotonic()
        if now - self._last_sample_flush >= 2.0:
            self._last_sample_flush = now
            self.writer.flush()
        if self.options.on_update is not None:
            self.options.on_update(self.writer.section)

    def method_started(self) -> None:
        self._method_started = time.monotonic()
        if self.guard is not None:
            self.guard.start()

    def method_ended(self) -> None:
        if self.guard is not None:
            self.guard.stop()

    def rollbacks_started(self) -> None:
        self._rollback_started = time.monotonic()
        if self.guard is not None:
            self.guard.stop()  # idempotent: the method may have been interrupted before it ended
        self.flush()

    def rollbacks_ended(self) -> None:
        timings = self.writer.section["timings"]
        if self.abort.decided_mono is not None:
            timings["time_to_rollback_s"] = round(time.monotonic() - self.abort.decided_mono, 3)
            self.writer.section["abort"] = {
                "reason": self.abort.reason,
                "decided_at": self.abort.decided_at,
                "rollback_completed_at": now_iso(),
            }
        self.flush()


def run_experiment(experiment: Experiment, options: RunOptions | None = None) -> RunResult:
    """Run one experiment to its verdict. Must be called from the main thread of its own process."""

    options = options or RunOptions()
    recover_orphans()  # faults a crashed run left behind are reverted before anything new starts
    run = _Run(experiment, options)
    secret_filter = run.writer.log_filter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    try:
        run.writer.flush(durable=True)  # the store must take a durable write before anything is touched
    except OSError as e:
        return RunResult(run.run_id, Verdict.REFUSED, f"journal store not writable, nothing injected: {e}", None)

    # The dead-man's switch watches from here on: a kill during preflight still gets the journal marked.
    context.export(RunContext(run.run_id, os.getpid()))  # drivers record their faults under this run
    heartbeat = Heartbeat(run.run_id).start()
    spawn_watchdog(run.run_id, os.getpid(), run.writer.path)
    try:
        try:
            pre = _preflight(run)
        except InvalidInput as e:
            run.writer.finish(Verdict.INVALID, e.render())
            return RunResult(run.run_id, Verdict.INVALID, e.render(), run.writer.path)
        if not pre.allowed:
            reason = "preflight refused: " + "; ".join(c.detail for c in pre.checks if not c.ok)
            run.writer.finish(Verdict.REFUSED, reason)
            return RunResult(run.run_id, Verdict.REFUSED, reason, run.writer.path)
        try:
            return _execute(run, pre)
        finally:
            if pre.locks is not None:
                pre.locks.release()
    finally:
        heartbeat.stop(done=True)  # after the journal's last write: the watchdog leaves quietly


def _preflight(run: _Run) -> Any:
    """Preflight through :func:`chaosrunner.run.plan.evaluate_preflight` (the one place ``plan`` shares);
    records the result in the journal and builds the guard when the experiment declares one."""

    ext = run.experiment.extension
    outcome = evaluate_preflight(
        run.experiment, run.run_id, calendar=run.options.calendar, calendar_entry=run.options.calendar_entry
    )
    pre = outcome.result
    s = run.writer.section
    s["preflight"] = outcome.journal_view()
    s["targets"] = [t.to_dict() for t in pre.targets]
    if s.get("blast_radius") is not None:
        s["blast_radius"]["touched"] = touched(pre.targets)
    if pre.allowed and ext.slo_guard is not None:

        run.guard = Guard(
            ext.slo_guard,
            ext.blast_radius,
            pre.targets,
            outcome.catalog,
            outcome.source,
            on_abort=run.abort.trigger,
            record=run.on_sample,
        )
    run.flush()
    return pre


def _execute(run: _Run, pre: Any) -> RunResult:
    """Heartbeat + watchdog around chaoslib's run; rollbacks always; leftovers reverted; verdict."""

    runner = _Runner(run, {**run.options.variables, "chaosrunner_targets": run.writer.section["targets"]})
    runner.register_event_handler(_RunEvents(run))
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    try:
        journal = runner.run(
            run.experiment.doc, settings=settings, experiment_vars=(dict(run.options.variables), {})
        )
    except LedgerUnavailable as e:
        run.writer.finish(Verdict.REFUSED, str(e))
        return RunResult(run.run_id, Verdict.REFUSED, str(e), run.writer.path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    run.writer.ctk = journal

    ledger = Ledger(state_dir())
    rollbacks_ok = all(r.get("status") == "succeeded" for r in journal.get("rollbacks") or [])
    if run.ledger_entry is not None and rollbacks_ok:
        ledger.close(run.ledger_entry, "undone", "experiment rollbacks succeeded", run_id=run.run_id)
    # Faults our drivers recorded and the rollbacks did not close: revert them now, never leave them.
    leftovers = [e for e in ledger.open_entries(run.run_id) if e.id != run.ledger_entry]
    outcomes = revert_open(ledger, run.run_id) if leftovers else []
    run.writer.section["ledger"] = [e.journal_view() for e in ledger.entries(run.run_id)]
    still_open = len(ledger.open_entries(run.run_id))

    recovery_problem = None
    if run.guard is not None:
        if run.abort.reason is None and rollbacks_ok:
            result = run.guard.wait_recovery()
            if not result.recovered:
                recovery_problem = f"system did not recover: {result.reason}"
        summary = run.guard.summary()
        run.writer.section["guard"] = summary
        timings = run.writer.section["timings"]
        for key in ("time_to_detect_s", "time_to_abort_s", "time_to_recover_s"):
            timings[key] = summary["timings"].get(key)
    if outcomes and any(not o.ok for o in outcomes):
        recovery_problem = recovery_problem or "a driver's fault could not be reverted"

    verdict, reason = decide(
        journal, abort_reason=run.abort.reason, open_faults=still_open, recovery_problem=recovery_problem
    )
    reason = run.writer.redact(reason)
    run.writer.finish(verdict, reason)
    if run.options.on_update is not None:
        run.options.on_update(run.writer.section)
    return RunResult(run.run_id, verdict, reason, run.writer.path)
