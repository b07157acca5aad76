"""``latency {latency, jitter}`` (ms): each chunk leaves ``latency ± jitter`` after it *arrived* at the proxy.

The delay is counted from the chunk's arrival stamp, so back-to-back chunks do not queue behind each other's delay;
two latency toxics add up (the stamp moves by the time slept). Jitter is uniform in ``[-jitter, +jitter)``. When
the stage is interrupted (the toxic removed or the chain changed) the held chunk leaves at once.
"""

from __future__ import annotations

import asyncio

from chaosrunner.sandbox.faultproxy.stream import Interrupted, Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


class Latency(Toxic):
    type_name = "latency"
    defaults = {"latency": 0, "jitter": 0}
    buffer = 1024

    def delay_s(self, stub: Stub) -> float:
        delay = self.attributes["latency"]
        jitter = self.attributes["jitter"]
        if jitter > 0:
            delay += stub.rng.randrange(2 * jitter) - jitter
        return delay / 1000.0

    async def pipe(self, stub: Stub) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await stub.receive()
            if chunk is None:
                stub.close()
                return
            sleep = self.delay_s(stub) - (loop.time() - chunk.stamp)
            try:
                await stub.pause(sleep)
            except Interrupted:
                await stub.send(chunk)
                return
            chunk.stamp += sleep
            await stub.send(chunk)
