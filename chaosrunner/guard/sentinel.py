"""The sentinel: the part of the guard that watches *every* run, guarded by SLOs or not.

Every 0.1 s it checks, in this order, and calls ``on_abort(reason)`` once on the first that fails:

* the kill switch of the state home (``chaosrunner halt`` lands within ~0.1 s);
* ``blast_radius.max_duration``, counted from the start of the method;
* the SLO guard's health, when the run has one: a sampler that died, or that has produced no sample
  for two intervals (at least 1 s), means nobody is watching the SLOs — the run is aborted as if the
  SLO data were unavailable (fail closed);
* anything else the run asked it to watch: the outage check's alert watch (an alert firing mid-run).

Any exception inside the sentinel itself is also an abort: a watcher that cannot watch must stop
the run, never let it go on unwatched. The runner starts it before chaoslib runs anything, and stops
it when rollbacks begin (rollbacks are never cut short).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from chaosrunner.core.clock import Clock, SystemClock
from chaosrunner.safety import killswitch

log = logging.getLogger("chaosrunner.guard")

PERIOD_S = 0.1


class Watched(Protocol):
    """What the sentinel asks of an SLO guard."""

    def health(self) -> str | None:
        """None while the guard is sampling as it should, else why it is not."""


class Sentinel:
    def __init__(
        self,
        on_abort: Callable[[str], None],
        *,
        max_duration_s: float | None = None,
        state_root: Path | None = None,
        clock: Clock | None = None,
        period_s: float = PERIOD_S,
    ) -> None:
        self.on_abort = on_abort
        self.max_duration_s = max_duration_s
        self.state_root = state_root
        self.clock = clock or SystemClock()
        self.period_s = period_s
        self.watched: list[tuple[Watched, str]] = []
        self.reason: str | None = None
        self._method_started: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Sentinel:
        self._thread = threading.Thread(target=self._loop, name="chaosrunner-sentinel", daemon=True)
        self._thread.start()
        return self

    def watch_guard(self, guard: Watched) -> None:
        """From now on the SLO guard's health is checked too (call once the guard has started)."""
        self.watch(guard, "SLO guard unavailable (fail closed): ")

    def watch(self, watched: Watched, prefix: str = "") -> None:
        """From now on ``watched.health()`` is checked too; a problem aborts the run (``prefix + problem``)."""
        self.watched.append((watched, prefix))

    def method_started(self) -> None:
        """``max_duration`` counts from here."""
        self._method_started = self.clock.monotonic()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def check(self) -> str | None:
        """One round of checks; the reason to abort, or None."""
        ks = killswitch.status(self.state_root)
        if ks.engaged:
            return f"kill switch engaged: {ks.reason or 'no reason given'}"
        if self.max_duration_s is not None and self._method_started is not None:
            if self.clock.monotonic() - self._method_started >= self.max_duration_s:
                return f"max_duration {self.max_duration_s:g}s reached"
        for watched, prefix in self.watched:
            problem = watched.health()
            if problem is not None:
                return prefix + problem
        return None

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                reason = self.check()
            except Exception as e:  # noqa: BLE001 - a sentinel that cannot check must stop the run
                log.exception("sentinel failed")
                reason = f"the run's sentinel failed (fail closed): {type(e).__name__}: {e}"
            if reason is not None:
                self.reason = reason
                self.on_abort(reason)
                return
