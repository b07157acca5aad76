"""``timeout {timeout}`` (ms): swallows all data; closes the connection after ``timeout`` ms *without data*.

Every chunk that arrives (and is dropped) restarts the timer, so a client that keeps talking is held open.
``timeout`` 0 holds the connection forever. Removing the toxic closes every connection it held (the swallowed
data is gone, so the stream cannot resume), as Toxiproxy does.
"""

from __future__ import annotations

from chaosrunner.sandbox.faultproxy.stream import Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


class Timeout(Toxic):
    type_name = "timeout"
    defaults = {"timeout": 0}

    async def pipe(self, stub: Stub) -> None:
        idle_s = self.attributes["timeout"] / 1000.0 if self.attributes["timeout"] > 0 else None
        while True:
            try:
                chunk = await stub.receive(idle_s)
            except TimeoutError:
                stub.close()
                return
            if chunk is None:
                stub.close()
                return

    def cleanup(self, stub: Stub) -> None:
        stub.close()
