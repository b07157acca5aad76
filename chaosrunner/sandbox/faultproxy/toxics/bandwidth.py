"""``bandwidth {rate}`` (KB/s, 1 KB = 1000 bytes): data leaves at ``rate``, in slices of at most 100 ms of data.

A chunk bigger than 100 ms worth (``rate × 100`` bytes) is cut and sent one slice every 100 ms; the remainder leaves
once the chunk's whole transfer time has passed. Time owed (or overslept) carries over to the next chunk, so the
average rate is exact over a stream. Interrupted, the stage sends what it holds at once.

Unlike Go, each chunk costs Python a noticeable moment to hand on (~0.1–0.5 ms on a busy box; at 10 MB/s a
32 KB chunk is due every 3.3 ms). So the time a chunk already waited for this stage after the previous one was due
counts towards its transfer time (handing on the previous chunk included) — never idle time before it arrived,
and at most ``MAX_CREDIT_S``, so a stream held up by a slow reader does not burst afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from chaosrunner.sandbox.faultproxy.stream import Chunk, Interrupted, Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic

SLICE_S = 0.1
MAX_CREDIT_S = 0.1


class Bandwidth(Toxic):
    type_name = "bandwidth"
    defaults = {"rate": 0}

    @classmethod
    def refuse(cls, attributes: Mapping[str, int]) -> str | None:
        if attributes["rate"] <= 0:
            return "attributes.rate must be > 0 KB/s (Toxiproxy stalls the stream forever at rate 0)"
        return None

    async def pipe(self, stub: Stub) -> None:
        loop = asyncio.get_running_loop()
        rate = self.attributes["rate"]
        per_slice = rate * 100
        owed = 0.0
        due = loop.time()  # when the previous chunk was due to leave
        while True:
            chunk = await stub.receive()
            if chunk is None:
                stub.close()
                return
            data = chunk.data
            waited = loop.time() - max(due, chunk.stamp)
            owed += len(data) / (rate * 1000.0) - min(max(waited, 0.0), MAX_CREDIT_S)
            try:
                while len(data) > per_slice:
                    await stub.pause(SLICE_S)
                    await stub.send(Chunk(data[:per_slice], chunk.stamp))
                    data = data[per_slice:]
                    owed -= SLICE_S
                start = loop.time()
                await stub.pause(owed)
                due = loop.time()
                owed -= due - start
            except Interrupted:
                await stub.send(Chunk(data, chunk.stamp))
                return
            await stub.send(Chunk(data, chunk.stamp))
