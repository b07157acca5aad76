"""The state of one run, owned by :func:`chaosrunner.run.runner.run_experiment`: its journal (with the fallback
next to the ledger when the store fails), its guard and sentinel, the run-level ledger entry, the metrics it
publishes, and the moments the runner's timings are measured from.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosrunner.core.config import journals_s3_setting
from chaosrunner.core.ids import new_run_id, now_iso
from chaosrunner.core.storage import atomic_write_json, journal_dir, state_dir
from chaosrunner.core.verdict import Verdict
from chaosrunner.experiment.loader import Experiment
from chaosrunner.faults import runs
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.undo import rollbacks_undo
from chaosrunner.guard.sentinel import Sentinel
from chaosrunner.journal.schema import RUN_LEVEL_FAULT, close_cut_entries, final_fields, refusal_ctk
from chaosrunner.journal.writer import JournalWriter
from chaosrunner.notify.metrics import RunMetrics, faults_of, push
from chaosrunner.notify.outbox import outbox
from chaosrunner.run.signals import AbortController
from chaosrunner.run.toolkit import (
    Prepared,
    ToolkitOptions,
)

if TYPE_CHECKING:
    from chaosrunner.guard.sampler import Guard

log = logging.getLogger("chaosrunner.run.runner")

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
        else:
            self.writer.ctk = close_cut_entries(self.writer.ctk, reason)
        self.writer.section.update(final_fields(verdict, reason, now_iso()))
        self.flush(durable=True)
        self._copy_to_bucket()
        if self.options.journal_copy is not None:
            try:
                atomic_write_json(self.options.journal_copy, self.writer.document(), durable=True)
            except OSError as e:
                log.error("run %s: cannot write the journal copy to %s: %s", self.run_id, self.options.journal_copy, e)

    def _copy_to_bucket(self) -> None:
        """With ``journals_s3`` set, queue a copy of the finished journal to the fleet's bucket (the run never
        waits for S3; a failed copy is logged and `chaosrunner journal push` sends it later)."""
        url = journals_s3_setting().value
        path = self.writer.path
        if not url or path is None or journal_dir() not in Path(path).resolve().parents:
            return
        from chaosrunner.journal import s3

        where, store = s3.S3Location.parse(url), journal_dir()
        outbox().send(f"copy {self.run_id} to {where}", lambda: log.info("journal copied to s3://%s/%s", where.bucket,
                                                                         s3.upload(Path(path), store, where)))

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

    def rollbacks_started(self) -> None:
        self._rollback_started = time.monotonic()
        if self.sentinel is not None:
            self.sentinel.stop()
        if self.guard is not None:
            # the guard stops here, not when the method ends: the faults are live until the rollbacks, so
            # it watches the steady-state hypothesis after the method too (a Thursday's took 4.6 s in which
            # a guard stopped at the method's end saw none of the clients' errors)
            self.guard.stop()
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
