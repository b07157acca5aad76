"""Per-activity deadlines: each activity, in the foreground or in the background, has its own timer that
fires for it alone.

Chaos Toolkit's python provider has no timeout, and one process-wide alarm cannot serve activities that
run at the same time (a background activity's timer would be reset by the next foreground one, or fire
in the foreground activity). Here every activity is armed with its own deadline the moment it starts,
before anything else can fail, on one watcher thread:

* a **foreground** activity (running in the main thread) is interrupted by a signal delivered to the main
  thread, whose handler raises :class:`ActivityTimedOut` only if that very activity is still the one
  running there;
* a **background** activity (a chaoslib worker thread) gets :class:`ActivityTimedOut` raised in its own
  thread. Python delivers it at the next bytecode: code blocked inside C (a long ``time.sleep``, a socket
  read without timeout) only sees it when that call returns. chaoslib waits for background activities
  before rollbacks begin, so rollbacks never run beside a live activity.

Either way the activity is recorded as failed with "timed out after N s".
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from chaoslib.exceptions import ActivityFailed

log = logging.getLogger("chaosrunner.run")

SIGNAL = signal.SIGALRM  # the main thread's interruption; nothing else in a run uses it


class ActivityTimedOut(ActivityFailed):
    """An activity ran longer than its deadline."""


@dataclass(order=True)
class _Armed:
    due: float
    seq: int
    key: int = field(compare=False)
    thread: int = field(compare=False)
    name: str = field(compare=False)
    limit_s: float = field(compare=False)


class Deadlines:
    """One watcher thread for every activity deadline of a run. ``arm``/``disarm`` from any thread;
    :meth:`on_signal` must be installed as the main thread's handler for :data:`SIGNAL`."""

    def __init__(self) -> None:
        self._heap: list[_Armed] = []
        self._armed: dict[int, _Armed] = {}
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._expired_main: _Armed | None = None
        self._main = threading.main_thread().ident
        self._stop = False
        self._thread = threading.Thread(target=self._watch, name="chaosrunner-deadlines", daemon=True)
        self._thread.start()

    def arm(self, key: int, name: str, limit_s: float) -> None:
        """Start ``limit_s`` seconds for the activity ``key`` running in the calling thread."""
        armed = _Armed(time.monotonic() + limit_s, next(self._seq), key, threading.get_ident(), name, limit_s)
        with self._cond:
            if armed.thread == self._main:  # one foreground activity at a time: older ones were interrupted
                self._drop_thread(self._main)
            self._armed[key] = armed
            heapq.heappush(self._heap, armed)
            self._cond.notify()

    def disarm(self, key: int) -> None:
        with self._cond:
            self._armed.pop(key, None)
            if self._expired_main is not None and self._expired_main.key == key:
                self._expired_main = None

    def disarm_foreground(self) -> None:
        """Forget every main-thread deadline (rollbacks begin: an interrupted activity's timer must not
        fire inside them)."""
        with self._cond:
            self._drop_thread(self._main)

    def _drop_thread(self, thread: int | None) -> None:
        for key in [k for k, a in self._armed.items() if a.thread == thread]:
            del self._armed[key]
        self._expired_main = None

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._armed.clear()
            self._cond.notify()
        self._thread.join(2.0)

    def on_signal(self, signum: int, frame: object) -> None:
        """Main-thread handler: raise for the foreground activity whose deadline passed, if it still runs."""
        with self._cond:
            expired, self._expired_main = self._expired_main, None
            if expired is None or expired.key not in self._armed:
                return
            del self._armed[expired.key]
        raise ActivityTimedOut(f"activity '{expired.name}' timed out after {expired.limit_s}s")

    def _watch(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    while self._heap and self._heap[0].key not in self._armed:
                        heapq.heappop(self._heap)  # disarmed
                    if self._heap and self._heap[0].due <= time.monotonic():
                        break
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0].due - time.monotonic()))
                if self._stop:
                    return
                due = heapq.heappop(self._heap)
                if self._armed.get(due.key) is not due:
                    continue
                if due.thread == self._main:
                    self._expired_main = due
                else:
                    del self._armed[due.key]
            self._fire(due)

    def _fire(self, due: _Armed) -> None:
        log.warning("activity '%s' passed its %gs deadline: stopping it", due.name, due.limit_s)
        if due.thread == self._main:
            signal.pthread_kill(due.thread, SIGNAL)
            return
        exc = ctypes.py_object(_timed_out_type(due))
        if ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(due.thread), exc) == 0:
            log.info("background activity '%s' already finished", due.name)


def _timed_out_type(due: _Armed) -> type[ActivityTimedOut]:
    """An exception *class* carrying the message (PyThreadState_SetAsyncExc raises a class, not an instance)."""
    message = f"activity '{due.name}' timed out after {due.limit_s}s"

    class _TimedOut(ActivityTimedOut):
        def __init__(self, *args: object) -> None:
            super().__init__(*(args or (message,)))

    _TimedOut.__name__ = "ActivityTimedOut"
    return _TimedOut
