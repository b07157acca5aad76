"""``slow_close {delay}`` (ms): when the stream ends, the close reaches the other side ``delay`` later."""

from __future__ import annotations

from chaosrunner.sandbox.faultproxy.stream import Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


class SlowClose(Toxic):
    type_name = "slow_close"
    defaults = {"delay": 0}

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.receive()
            if chunk is None:
                await stub.pause(self.attributes["delay"] / 1000.0)
                stub.close()
                return
            await stub.send(chunk)
