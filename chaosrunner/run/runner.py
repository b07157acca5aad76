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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.run import Runner as ChaoslibRunner
from chaoslib.types import Strategy

from chaosrunner.core import context
from chaosrunner.core.context import RunContext
from chaosrunner.core.ids import now_iso
from chaosrunner.core.storage import state_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.core.verdict import Verdict, decide, exit_code
from chaosrunner.experiment.loader import Experiment, check_substituted
from chaosrunner.experiment.spec import OutageCheckSpec
from chaosrunner.faults import runs
from chaosrunner.faults.heartbeat import Heartbeat, spawn_watchdog
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.reaper import reap
from chaosrunner.faults.undo import revert_open
from chaosrunner.guard.sentinel import Sentinel
from chaosrunner.journal.schema import close_ctk
from chaosrunner.journal.writer import secret_values
from chaosrunner.notify.outbox import outbox
from chaosrunner.notify.webhook import notify, verdict_event
from chaosrunner.run import signals
from chaosrunner.run.deadlines import Deadlines
from chaosrunner.run.events import RunEvents
from chaosrunner.run.plan import evaluate_preflight
from chaosrunner.run.state import Run, RunOptions
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
            from chaosrunner.guard.sampler import Guard  # only for guarded runs (start-up)

            run.guard = Guard(
                ext.slo_guard,
                ext.blast_radius,
                pre.targets,
                outcome.catalog,
                outcome.source,
                on_abort=run.abort.trigger,
                record=run.on_sample,
                busy=Ledger(state_dir()).fault_windows(time.time() - ext.slo_guard.baseline_window,
                                                       other_than=run.run_id),
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
    if pre.locks is not None and pre.locks.fleet is not None:  # fleet-wide locks lost mid-run: stop (fail closed)
        run.sentinel.watch(pre.locks)
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
            if not result.recovered:  # fails closed: a recovery nobody could see is not a recovery
                recovery_problem = (f"recovery could not be confirmed: {result.reason}"
                                    if result.unknown
                                    else f"system did not recover: {result.reason}")
        elif rollbacks_ok and not run.abort.by_operator:
            run.guard.wait_recovery()  # measured, not judged: the verdict is already "aborted"
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
