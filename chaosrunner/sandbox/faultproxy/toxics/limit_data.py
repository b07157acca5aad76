"""``limit_data {bytes}``: closes the connection once ``bytes`` more bytes have passed in the toxic's stream.

Counted per connection from the moment the toxic joins it (bytes that passed before do not count); the count
survives updates of the toxic. The chunk that crosses the limit is cut at it.
"""

from __future__ import annotations

from chaosrunner.sandbox.faultproxy.stream import Chunk, Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


class Passed:
    """Bytes this toxic has let through on one connection."""

    def __init__(self) -> None:
        self.bytes = 0


class LimitData(Toxic):
    type_name = "limit_data"
    defaults = {"bytes": 0}

    def new_state(self) -> Passed:
        return Passed()

    async def pipe(self, stub: Stub) -> None:
        passed: Passed = stub.state
        limit = self.attributes["bytes"]
        while True:
            chunk = await stub.receive()
            if chunk is None:
                stub.close()
                return
            remaining = max(0, limit - passed.bytes)
            if remaining < len(chunk.data):
                chunk = Chunk(chunk.data[:remaining], chunk.stamp)
            if chunk.data:
                await stub.send(chunk)
                passed.bytes += len(chunk.data)
            if limit - passed.bytes <= 0:
                stub.close()
                return
