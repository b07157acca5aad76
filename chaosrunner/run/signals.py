"""How a run is stopped: the one abort switch, and the signal handlers that make it act at once.

chaoslib interrupts a run by signalling its *own* process (SIGUSR1 → ``SystemExit`` in the main thread,
which interrupts a pause or a blocking python call at once). chaosrunner uses the same path:

* SIGUSR1 (an abort decided by the guard, the sentinel or a signal), SIGTERM, SIGINT → ``SystemExit`` in
  the main thread (chaoslib's own SIGTERM handler raises an ``Exception`` that a python activity would
  swallow as a mere failure and carry on);
* once rollbacks start, an abort is recorded but no longer raises, and SIGTERM/SIGINT are *ignored* until
  the rollbacks end: a disposition of "ignore" is what the rollbacks' own processes inherit, so a stop
  signal sent to the whole process group — a terminal's Ctrl-C, a supervisor stopping a cgroup — cannot
  kill a rollback half-way (seen: a scheduler stop killed a rollback's shell with the run, the run ended
  `rollback-failed` and the fault stayed); rollbacks are never cut short;
* :data:`chaosrunner.run.deadlines.SIGNAL` interrupts the foreground activity whose deadline passed.

The handlers are installed before chaoslib runs anything and again once chaoslib has installed its own
(its ``running`` event), so there is no moment in a run where a signal takes the default action.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from chaosrunner.core.ids import now_iso

log = logging.getLogger("chaosrunner.run")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
ABORT_EXIT_CODE = 20  # the SystemExit code chaoslib itself uses for SIGUSR1 (rollbacks still run)


class AbortController:
    """The single way to stop a running experiment. ``trigger`` may be called from any thread.

    The first reason wins. While not shielded, it signals the runner's own process with SIGUSR1 so
    the main thread is interrupted wherever it is; once rollbacks begin (``shield()``) it only
    records, so rollbacks always complete. ``by_operator`` tells an operator's interruption (a signal)
    from an abort the safety machinery decided.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.decided_at: str | None = None
        self.decided_mono: float | None = None
        self.by_operator = False
        self.shielded = False
        self._saved: dict[int, object] = {}

    def trigger(self, reason: str, *, by_operator: bool = False) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.by_operator = by_operator
            self.decided_at = now_iso()
            self.decided_mono = time.monotonic()
            signal_now = not self.shielded
        log.warning("abort: %s", reason)
        if signal_now:
            os.kill(os.getpid(), signal.SIGUSR1)

    def shield(self) -> None:
        """Rollbacks begin: record aborts only, and ignore stop signals (inherited by the rollbacks'
        processes) until :meth:`unshield_signals`. Main thread only for the signal part."""
        with self._lock:
            self.shielded = True
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def unshield_signals(self) -> None:
        """Rollbacks ended: stop signals act again (the recovery watch after them may be interrupted)."""
        if threading.current_thread() is threading.main_thread():
            for sig, handler in self._saved.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            self._saved.clear()


def install(abort: AbortController, on_deadline: Callable[[int, FrameType | None], None]) -> None:
    """Install the run's handlers (main thread only)."""

    def on_abort_signal(signum: int, frame: FrameType | None) -> None:
        if not abort.shielded:
            raise SystemExit(ABORT_EXIT_CODE)

    def on_stop_signal(signum: int, frame: FrameType | None) -> None:
        abort.trigger(f"{signal.Signals(signum).name} received", by_operator=True)

    signal.signal(signal.SIGUSR1, on_abort_signal)
    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    signal.signal(signal.SIGALRM, on_deadline)
