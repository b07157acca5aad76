"""chaoslib's run events, turned into chaosrunner's record and safety actions: the journal after every
activity, each activity's own deadline (armed first, before anything that can fail), the phases, the
guard and sentinel handed the method's start, and rollbacks shielded from interruption.

chaoslib catches every exception an event handler raises (and only logs it at debug level), so nothing
here may be the only guard of a safety property: the guard is started by the runner's own code paths and
watched by the sentinel, and a failure here is logged at error level and turned into an abort.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from chaoslib.run import RunEventHandler

from chaosrunner.core.ids import now_iso
from chaosrunner.experiment.loader import Experiment, activity_timeout
from chaosrunner.journal.writer import JournalWriter
from chaosrunner.run import signals
from chaosrunner.run.deadlines import Deadlines

log = logging.getLogger("chaosrunner.run")

PHASES = {
    "before": "steady-state-before",
    "method": "method",
    "after": "steady-state-after",
    "rollback": "rollback",
}


class Run(Protocol):
    """What the events need of the run (:class:`chaosrunner.run.runner.Run`)."""

    writer: JournalWriter
    experiment: Experiment
    abort: signals.AbortController

    def flush(self, durable: bool = False) -> None: ...
    def publish(self, verdict: str | None = None) -> None: ...
    def method_started(self) -> None: ...
    def rollbacks_started(self) -> None: ...
    def rollbacks_ended(self) -> None: ...


class RunEvents(RunEventHandler):  # type: ignore[misc]
    def __init__(self, run: Run, deadlines: Deadlines) -> None:
        self.run = run
        self.deadlines = deadlines
        self.phase = "setup"
        self._records: dict[tuple[int, int], dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def started(self, experiment: dict, journal: dict) -> None:
        self.run.writer.ctk = journal
        self.run.flush()

    def running(self, experiment, journal, configuration, secrets, schedule, settings) -> None:  # noqa: ANN001
        # chaoslib installed its handlers just before this event; ours replace them for the run.
        signals.install(self.run.abort, self.deadlines.on_signal)

    def start_hypothesis_before(self, experiment: dict) -> None:
        self.phase = PHASES["before"]

    def start_method(self, experiment: dict) -> None:
        self.phase = PHASES["method"]
        self.run.method_started()

    def start_hypothesis_after(self, experiment: dict) -> None:
        self.phase = PHASES["after"]

    def start_rollbacks(self, experiment: dict) -> None:
        self.phase = PHASES["rollback"]
        self.run.abort.shield()
        self.deadlines.disarm_foreground()
        self.run.rollbacks_started()

    def rollbacks_completed(self, experiment: dict, journal: dict) -> None:
        self.run.abort.unshield_signals()
        self.run.rollbacks_ended()

    # -- activities ------------------------------------------------------------------------------
    def start_activity(self, activity: dict) -> None:
        key = (threading.get_ident(), id(activity))
        timeouts = self.run.experiment.extension.timeouts
        limit = activity_timeout(activity, timeouts.activity, timeouts.background)
        if limit is not None:
            self.deadlines.arm(id(activity), str(activity.get("name")), limit)
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
        if limit is not None:
            record["timeout_s"] = limit
        if activity.get("background"):
            record["background"] = True
        with self._lock:
            self._records[key] = record
            self.run.writer.section["activities"].append(record)
        self.run.flush()

    def activity_completed(self, activity: dict, run: dict) -> None:
        self.deadlines.disarm(id(activity))
        with self._lock:
            record = self._records.pop((threading.get_ident(), id(activity)), None) or {}
        record["status"] = run.get("status", "interrupted")
        record["end"] = run.get("end")
        record["duration"] = run.get("duration")
        if run.get("exception"):
            exc = run["exception"]
            record["error"] = str(exc[-1] if isinstance(exc, list) else exc).strip()
        output = run.get("output")
        if isinstance(output, dict) and isinstance(output.get("chaosrunner_figures"), dict):
            self.run.writer.section["figures"].update(output["chaosrunner_figures"])
        self.run.flush()
        self.run.publish()  # a fault the activity injected shows as active (queued: never waits)

    def unfinished(self) -> list[dict[str, Any]]:
        """Activities that started and never completed (a crash or an abort inside them)."""
        with self._lock:
            return list(self._records.values())
