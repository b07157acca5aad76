"""One background sender per process: sends are queued and made by a daemon thread, never by the caller."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("chaosrunner.notify")

MAX_QUEUED = 256  # a stuck endpoint cannot make the queue grow without bound


class Outbox:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, Callable[[], None]]] = queue.Queue(MAX_QUEUED)
        self._thread = threading.Thread(target=self._drain, name="chaosrunner-notify", daemon=True)
        self._thread.start()

    def send(self, what: str, call: Callable[[], None]) -> None:
        """Queue ``call`` (a send with its own timeout); returns at once. A full queue drops it, logged."""
        try:
            self._queue.put_nowait((what, call))
        except queue.Full:
            log.warning("notification dropped (queue full): %s", what)

    def flush(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` for the queue to drain (at the end of a run); True if it did."""
        done = threading.Event()
        self.send("flush", done.set)
        return done.wait(timeout_s)

    def _drain(self) -> None:
        while True:
            what, call = self._queue.get()
            try:
                call()
            except Exception as e:  # noqa: BLE001 - a notification is never worth more than a log line
                log.warning("notification failed (%s): %s: %s", what, type(e).__name__, e)


_outbox: Outbox | None = None
_lock = threading.Lock()


def outbox() -> Outbox:
    global _outbox
    with _lock:
        if _outbox is None:
            _outbox = Outbox()
        return _outbox
