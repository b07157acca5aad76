"""One experiment in one process: preflight, ledger + watchdog + sentinel + guard around chaoslib,
rollbacks always, an honest verdict, a journal written after every activity.

Why one process per experiment: chaoslib interrupts a run by signalling its *own* process
(SIGUSR1 → ``SystemExit`` in the main thread) and keeps module-level globals, so the scheduler
spawns ``chaosrunner run`` children instead of running experiments in threads.

The safety machinery is owned here, not inside chaoslib's event hooks (which swallow exceptions):

* the run's lease and heartbeat, its watchdog (:mod:`chaosrunner.faults`) — from before preflight;
* the :class:`~chaosrunner.guard.sentinel.Sentinel` — kill switch, ``max_duration`` and the SLO guard's
  health, for every run — from before chaoslib runs anything until rollbacks begin;
* the SLO guard, started when the method starts; if it cannot start, the run is aborted;
* per-activity deadlines (:mod:`chaosrunner.run.deadlines`) and the signals (:mod:`chaosrunner.run.signals`);
* the journal: if the store fails mid-run, the record moves next to the ledger in the state home and
  the run carries on to its rollbacks and verdict (see :meth:`Run.flush`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.run import Runner as ChaoslibRunner
from chaoslib.types import Strategy

from chaosrunner.core import context
from chaosrunner.core.context import RunContext
from chaosrunner.core.ids import new_run_id, now_iso
from chaosrunner.core.storage import atomic_write_json, state_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.core.verdict import Verdict, decide, exit_code
from chaosrunner.experiment.loader import Experiment, check_substituted
from chaosrunner.experiment.spec import OutageCheckSpec
from chaosrunner.faults import runs
from chaosrunner.faults.heartbeat import Heartbeat, spawn_watchdog
from chaosrunner.faults.ledger import RUN_LEVEL_FAULT, Ledger
from chaosrunner.faults.reaper import reap
from chaosrunner.faults.undo import revert_open, rollbacks_undo
from chaosrunner.guard.sampler import Guard
from chaosrunner.guard.sentinel import Sentinel
from chaosrunner.journal.schema import close_ctk, final_fields, refusal_ctk
from chaosrunner.journal.writer import JournalWriter, secret_values
from chaosrunner.notify.metrics import RunMetrics, faults_of, push
from chaosrunner.notify.outbox import outbox
from chaosrunner.notify.webhook import notify, verdict_event
from chaosrunner.run import signals
from chaosrunner.run.deadlines import Deadlines
from chaosrunner.run.events import RunEvents
from chaosrunner.run.plan import evaluate_preflight
from chaosrunner.run.signals import AbortController
from chaosrunner.run.toolkit import (
    Prepared,
    ToolkitError,
    ToolkitOptions,
    activity_cache,
    notify_ended,
    notify_started,
    prepare,
)
from chaosrunner.safety.blast_radius import Check, touched
from chaosrunner.safety.outage import AlertWatch, alertmanager_for

log = logging.getLogger("chaosrunner.run.runner")

FLUSH_S = 2.0  # at the end of a run, how long notifications may still take to leave (seconds)
FALLBACK_JOURNALS = "fallback-journals"  # under the state home: where a run's record goes when the store fails


@dataclass
class RunOptions:
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)  # secret values from var files, per secrets scope
    toolkit: ToolkitOptions = field(default_factory=ToolkitOptions)  # what `chaos run` takes besides vars
    trigger: str = "cli"
    calendar: Path | None = None
    calendar_entry: str | None = None
    journal_root: Path | None = None
    journal_copy: Path | None = None  # `--journal-path`: the final journal is also written here
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


class LedgerUnavailable(Exception):
    """The run-level ledger entry could not be made durable: nothing may be injected."""


class _Runner(ChaoslibRunner):  # type: ignore[misc]
    """chaoslib's Runner, plus configuration chaosrunner adds after chaoslib loaded the experiment's,
    and the run-level ledger entry, recorded once the configuration is known and before any activity."""

    def __init__(self, run: Run, extra_configuration: dict[str, Any], prepared: Prepared | None = None) -> None:
        if prepared is None:
            super().__init__(Strategy.DEFAULT)
        else:
            super().__init__(prepared.strategy, prepared.schedule)
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


class Run:
    """State of one run; owned by :func:`run_experiment`."""

    def __init__(self, experiment: Experiment, options: RunOptions) -> None:
        self.experiment = experiment
        self.options = options
        self.run_id = new_run_id(experiment.title)
        self.writer = JournalWriter(self.run_id, options.journal_root)
        self.abort = AbortController()
        self.guard: Guard | None = None
        self.sentinel: Sentinel | None = None
        self.ledger_entry: str | None = None
        self.rollbacks_ran = False
        self.journal_problem: str | None = None
        self._last_sample_flush = 0.0
        self._rollback_started: float | None = None
        self._method_started: float | None = None
        self.started_mono = time.monotonic()
        self.prepared: Prepared | None = None
        s = self.writer.section
        s.update(
            trigger=options.trigger,
            calendar_entry=options.calendar_entry,
            experiment_path=str(experiment.path),
            experiment_title=experiment.title,
        )
        if experiment.extension.blast_radius is not None:
            s["blast_radius"] = {"declared": experiment.extension.blast_radius.model_dump(mode="json")}

    def flush(self, durable: bool = False) -> None:
        """Write the journal; never raises. When the journal store fails (disk full, read-only, gone)
        the record moves to ``<state home>/fallback-journals/<run_id>.json`` next to the ledger, the run's lease
        points there, and the run carries on: a full disk must not stop the rollbacks."""
        try:
            self.writer.flush(durable=durable)
        except OSError as e:
            self._journal_failed(e, durable)
        if self.options.on_update is not None:
            self.options.on_update(self.writer.section)

    def _journal_failed(self, error: OSError, durable: bool) -> None:
        fallback = state_dir() / FALLBACK_JOURNALS / f"{self.run_id}.json"
        if self.writer.path == fallback:
            log.error("run %s: cannot write the journal even next to the ledger: %s", self.run_id, error)
            return
        log.error("run %s: journal store failed (%s); the record moves to %s", self.run_id, error, fallback)
        self.journal_problem = f"journal store failed mid-run ({error}); record kept at {fallback}"
        self.writer.section["journal_fallback"] = {"from": str(self.writer.path), "reason": str(error)}
        self.writer.path = fallback
        try:
            self.writer.flush(durable=durable)
            runs.move_journal(state_dir(), self.run_id, fallback)
        except OSError as e:
            log.error("run %s: cannot write the journal next to the ledger either: %s", self.run_id, e)

    def publish(self, verdict: str | None = None) -> None:
        """The run's metrics to the Pushgateway, if one is configured (queued: never waits)."""
        s = self.writer.section
        timings = s.get("timings") or {}
        push(RunMetrics(
            self.run_id, self.experiment.title, self.options.trigger, running=verdict is None, verdict=verdict,
            faults=faults_of(e.journal_view() for e in Ledger(state_dir()).entries(self.run_id)),
            numbers={"abort_seconds": timings.get("time_to_abort_s"),
                     "rollback_seconds": timings.get("time_to_rollback_s"),
                     "budget_spent_ratio": ((s.get("guard") or {}).get("budget") or {}).get("spent")},
        ))

    def finish(self, verdict: Verdict, reason: str) -> None:
        """The verdict, through :meth:`flush` so a failing store cannot lose it. A run that never reached
        chaoslib (refused, invalid) gets the Chaos Toolkit keys of a skipped run."""
        if not self.writer.ctk:
            self.writer.ctk = refusal_ctk(self.experiment.title, self.writer.section["started_at"], self.experiment.doc)
        self.writer.section.update(final_fields(verdict, reason, now_iso()))
        self.flush(durable=True)
        if self.options.journal_copy is not None:
            try:
                atomic_write_json(self.options.journal_copy, self.writer.document(), durable=True)
            except OSError as e:
                log.error("run %s: cannot write the journal copy to %s: %s", self.run_id, self.options.journal_copy, e)

    def record_rollbacks(self, configuration: dict[str, Any]) -> None:
        """Record the run-level undo (replay this experiment's rollbacks) before anything runs, so a
        crash at any later moment is reverted by the watchdog or the next chaosrunner command."""

        if not self.experiment.doc.get("rollbacks"):
            return
        undo = rollbacks_undo(self.experiment.path, configuration, self.experiment.doc)
        self.ledger_entry = Ledger(state_dir()).record(
            self.run_id, RUN_LEVEL_FAULT, self.experiment.title, undo, pid=os.getpid()
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
        """Called from chaoslib's start-of-method event (main thread). A guard that cannot start aborts
        the run right here: the abort's SIGUSR1 raises ``SystemExit`` in this thread, which chaoslib
        handles as an interruption (rollbacks run), unlike an ``Exception`` it would swallow."""
        self._method_started = time.monotonic()
        if self.sentinel is not None:
            self.sentinel.method_started()
        if self.guard is None:
            return
        try:
            self.guard.start()
        except Exception as e:  # noqa: BLE001 - the decision: abort and roll back, with the error on record
            log.exception("the SLO guard failed to start")
            self.abort.trigger(f"SLO guard failed to start (fail closed): {type(e).__name__}: {e}")
            return
        if self.sentinel is not None:
            self.sentinel.watch_guard(self.guard)

    def method_ended(self) -> None:
        if self.guard is not None:
            self.guard.stop()

    def rollbacks_started(self) -> None:
        self._rollback_started = time.monotonic()
        if self.sentinel is not None:
            self.sentinel.stop()
        if self.guard is not None:
            self.guard.stop()  # idempotent: the method may have been interrupted before it ended
        self.flush()

    def rollbacks_ended(self) -> None:
        self.rollbacks_ran = True
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
    reap(kill_stale=False, recovered_by="recover")  # what a crashed run left is reverted before anything new
    run = Run(experiment, options)
    secret_filter = run.writer.log_filter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    try:
        run.writer.flush(durable=True)  # the store must take a durable write before anything is touched
    except OSError as e:
        return RunResult(run.run_id, Verdict.REFUSED, f"journal store not writable, nothing injected: {e}", None)
    try:
        runs.take(state_dir(), run.run_id, os.getpid(), run.writer.path, time.time())
    except OSError as e:
        reason = f"state home not writable, nothing injected: {e}"
        run.finish(Verdict.REFUSED, reason)
        return RunResult(run.run_id, Verdict.REFUSED, reason, run.writer.path)

    # The dead-man's switch watches from here on: a kill during preflight still gets the journal marked.
    context.export(RunContext(run.run_id, os.getpid()))  # drivers record their faults under this run
    heartbeat = Heartbeat(run.run_id).start()
    spawn_watchdog(run.run_id, os.getpid(), run.writer.path)
    try:
        try:
            run.prepared = prepare(experiment.doc, options.toolkit)
        except ToolkitError as e:
            run.finish(Verdict.INVALID, str(e))
            return RunResult(run.run_id, Verdict.INVALID, str(e), run.writer.path)
        if run.prepared.overrides:
            run.writer.section["overrides"] = list(run.prepared.overrides)
        try:
            pre = _preflight(run)
        except InvalidInput as e:
            run.finish(Verdict.INVALID, e.render())
            return RunResult(run.run_id, Verdict.INVALID, e.render(), run.writer.path)
        if not pre.allowed:
            reason = "preflight refused: " + "; ".join(c.detail for c in pre.checks if not c.ok)
            run.finish(Verdict.REFUSED, reason)
            return RunResult(run.run_id, Verdict.REFUSED, reason, run.writer.path)
        try:
            return _execute(run, pre)
        finally:
            if pre.locks is not None:
                pre.locks.release()
    finally:
        if not Ledger(state_dir()).open_entries(run.run_id):
            runs.release(state_dir(), run.run_id)  # the record is complete: nothing left for a keeper
        heartbeat.stop(done=True)  # after the journal's last write: the watchdog leaves quietly


def _preflight(run: Run) -> Any:
    """Preflight through :func:`chaosrunner.run.plan.evaluate_preflight` (the one place ``plan`` shares);
    records the result in the journal and builds the guard when the experiment declares one."""

    ext = run.experiment.extension
    check_substituted(run.experiment.doc, run.options.variables, run.experiment.path)  # values after ${var}
    outcome = evaluate_preflight(
        run.experiment, run.run_id, calendar=run.options.calendar, calendar_entry=run.options.calendar_entry
    )
    pre = outcome.result
    if pre.allowed and ext.slo_guard is not None:
        try:
            if outcome.catalog is None or outcome.source is None:
                raise ValueError("no SLO catalog or no SLI source to read")
            run.guard = Guard(
                ext.slo_guard,
                ext.blast_radius,
                pre.targets,
                outcome.catalog,
                outcome.source,
                on_abort=run.abort.trigger,
                record=run.on_sample,
            )
        except Exception as e:  # noqa: BLE001 - no guard, no run: refused with the reason, nothing injected
            log.exception("the SLO guard cannot be built")
            pre.allowed = False
            pre.checks.append(Check("slo_guard", False, f"the SLO guard cannot be built: {type(e).__name__}: {e}"))
    s = run.writer.section
    s["preflight"] = outcome.journal_view()
    s["targets"] = [t.to_dict() for t in pre.targets]
    if s.get("blast_radius") is not None:
        s["blast_radius"]["touched"] = touched(pre.targets)
    run.flush()
    return pre


def _execute(run: Run, pre: Any) -> RunResult:
    """Sentinel and deadlines around chaoslib's run; rollbacks always; leftovers reverted; verdict."""

    ext = run.experiment.extension
    br = ext.blast_radius
    run.sentinel = Sentinel(run.abort.trigger, max_duration_s=br.max_duration if br is not None else None)
    am = alertmanager_for(ext.outage_check)
    alerts = None
    if am is not None:  # an alert that starts firing mid-run aborts it, like the kill switch
        spec = ext.outage_check or OutageCheckSpec()
        alerts = AlertWatch(am, spec.interval, spec.fail_open).start()
        run.sentinel.watch(alerts)
    deadlines = Deadlines()
    events = RunEvents(run, deadlines)
    prepared = run.prepared or prepare(run.experiment.doc, ToolkitOptions())
    runner = _Runner(run, {**run.options.variables, "chaosrunner_targets": run.writer.section["targets"]}, prepared)
    runner.register_event_handler(events)
    doc = run.experiment.doc
    if prepared.dry is not None:
        doc["dry"] = prepared.dry
    notify_started(prepared.settings, doc)
    signals.install(run.abort, deadlines.on_signal)  # before chaoslib: no moment runs on default handlers
    run.sentinel.start()
    notify("started", run.run_id, run.experiment.title, trigger=run.options.trigger,
           targets=[t["id"] for t in run.writer.section["targets"]])
    run.publish()
    try:
        with activity_cache(doc):
            journal = runner.run(
                doc,
                settings=prepared.settings,
                experiment_vars=(dict(run.options.variables), dict(run.options.secrets)),
            )
    except LedgerUnavailable as e:
        run.finish(Verdict.REFUSED, str(e))
        return RunResult(run.run_id, Verdict.REFUSED, str(e), run.writer.path)
    except SystemExit:
        # Stopped before chaoslib's own interruption handling began (before its first activity): there
        # were no rollbacks, so the run-level entry below replays them (fail closed: assume the worst).
        log.warning("run %s stopped before chaoslib could handle it: %s", run.run_id, run.abort.reason)
        journal = _closed(run, "interrupted")
    except Exception as e:  # noqa: BLE001 - chaoslib itself failed: record it, revert through the ledger
        log.exception("run %s: chaoslib failed outside any activity", run.run_id)
        run.writer.section["error"] = run.writer.redact(f"{type(e).__name__}: {e}")
        run.rollbacks_ran = False  # chaoslib did not finish them: the ledger's run-level entry replays them
        journal = _closed(run, "aborted")
    finally:
        run.sentinel.stop()
        if alerts is not None:
            alerts.stop()
        deadlines.close()
    if prepared.dry is not None:
        doc["dry"] = prepared.dry.value
        if isinstance(journal.get("experiment"), dict) and "dry" in journal["experiment"]:
            journal["experiment"]["dry"] = prepared.dry.value  # as `chaos run` writes it
    journal = _closed(run, "completed", journal)
    run.writer.ctk = journal
    for record in events.unfinished():
        record["status"] = "interrupted"

    judged = _judged(journal)
    ledger = Ledger(state_dir())
    rollbacks_ok = run.rollbacks_ran and all(r.get("status") == "succeeded" for r in judged["rollbacks"])
    if run.ledger_entry is not None and rollbacks_ok:
        ledger.close(run.ledger_entry, "undone", "experiment rollbacks succeeded", run_id=run.run_id)
    # Faults our drivers recorded that the rollbacks did not close are reverted now, never left; so are
    # the experiment's own rollbacks when they never ran. Rollbacks that ran and failed are not replayed
    # here at once: their entry stays open for the watchdog, the reaper or `recover`.
    keep = frozenset({run.ledger_entry}) if run.ledger_entry and run.rollbacks_ran else frozenset()
    leftovers = [e for e in ledger.open_entries(run.run_id) if e.id not in keep]
    outcomes = revert_open(ledger, run.run_id, keep=keep) if leftovers else []
    run.writer.section["ledger"] = [e.journal_view() for e in ledger.entries(run.run_id)]
    still_open = len(ledger.open_entries(run.run_id))

    recovery_problem = None
    if run.guard is not None:
        if run.abort.reason is None and rollbacks_ok:
            result = run.guard.wait_recovery()
            if not result.recovered:
                recovery_problem = f"system did not recover: {result.reason}"
        elif rollbacks_ok and not run.abort.by_operator:
            run.guard.wait_recovery(after_abort=True)  # measured, not judged: the verdict is already "aborted"
        summary = run.guard.summary()
        run.writer.section["guard"] = summary
        timings = run.writer.section["timings"]
        for key in ("time_to_detect_s", "time_to_abort_s", "time_to_recover_s"):
            timings[key] = summary["timings"].get(key)
    if outcomes and any(not o.ok for o in outcomes):
        recovery_problem = recovery_problem or "a driver's fault could not be reverted"
    if run.sentinel.reason is not None:
        run.writer.section["sentinel"] = {"reason": run.sentinel.reason}

    verdict, reason = decide(
        judged,
        abort_reason=run.abort.reason,
        by_operator=run.abort.by_operator,
        open_faults=still_open,
        recovery_problem=recovery_problem,
    )
    if run.writer.section.get("error") and verdict == Verdict.PASSED:
        verdict, reason = Verdict.FAILED, f"chaoslib failed: {run.writer.section['error']}"
    if run.journal_problem:
        reason = f"{reason} ({run.journal_problem})"
    reason = run.writer.redact(reason)
    run.finish(verdict, reason)
    run.publish(verdict.value)
    event = verdict_event(verdict.value)
    if event is not None:
        notify(event, run.run_id, run.experiment.title, verdict=verdict.value, reason=reason,
               journal=str(run.writer.path))
    outbox().flush(FLUSH_S)
    notify_ended(prepared.settings, run.writer.document())
    return RunResult(run.run_id, verdict, reason, run.writer.path)


def _closed(run: Run, status: str, journal: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Chaos Toolkit journal with every key ``chaos run`` writes; ``status`` only where chaoslib set
    none (it never finished)."""
    return close_ctk(
        run.writer.ctk if journal is None else journal,
        experiment=run.experiment.doc,
        status=status,
        start=run.writer.section["started_at"],
        end=now_iso(),
        duration_s=round(time.monotonic() - run.started_mono, 3),
    )


def _judged(journal: dict[str, Any]) -> dict[str, Any]:
    """What the verdict is decided on: the journal with ``run`` / ``rollbacks`` limited to entries that
    record an activity (chaoslib's own). Controls may append notes to those lists (chaoslib hands them
    the lists); a note is kept in the journal but is not an activity that succeeded or failed."""
    out = dict(journal)
    for key in ("run", "rollbacks"):
        entries = journal.get(key)
        out[key] = [
            e for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict) and isinstance(e.get("activity"), dict)
        ]
    return out
