"""``slicer {average_size, size_variation, delay}`` (bytes, bytes, MICROseconds): cuts chunks into small writes.

A chunk is bisected recursively (each cut moved by up to ``± size_variation``) until every piece is at most
``average_size + size_variation`` bytes — so pieces are fairly even, and on average somewhat below ``average_size``.
``delay`` µs pass after each piece. Interrupted, the rest of the chunk leaves in one piece.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from chaosrunner.sandbox.faultproxy.stream import Chunk, Interrupted, Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


def cut_points(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Offsets ``[0, a, a, b, b, …, size]`` (pairs of start, end) of the pieces a chunk of ``size`` bytes becomes."""
    out: list[int] = []
    todo = [(0, size)]
    while todo:
        start, end = todo.pop()
        if (end - start) - average <= variation:
            out += (start, end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(2 * variation) - variation
        todo += ((mid, end), (start, mid))
    return out


class Slicer(Toxic):
    type_name = "slicer"
    defaults = {"average_size": 0, "size_variation": 0, "delay": 0}

    @classmethod
    def refuse(cls, attributes: Mapping[str, int]) -> str | None:
        if attributes["average_size"] <= 0:
            return "attributes.average_size must be > 0 bytes (Toxiproxy crashes on the first byte with 0)"
        if attributes["size_variation"] > attributes["average_size"]:
            return "attributes.size_variation must be <= average_size (Toxiproxy can crash cutting a chunk)"
        return None

    async def pipe(self, stub: Stub) -> None:
        average, variation = self.attributes["average_size"], self.attributes["size_variation"]
        delay_s = self.attributes["delay"] / 1_000_000.0
        while True:
            chunk = await stub.receive()
            if chunk is None:
                stub.close()
                return
            data = chunk.data
            cuts = cut_points(len(data), average, variation, stub.rng)
            for i in range(1, len(cuts), 2):
                await stub.send(Chunk(data[cuts[i - 1]:cuts[i]], chunk.stamp))
                try:
                    await stub.pause(delay_s)
                except Interrupted:
                    if cuts[i] < len(data):
                        await stub.send(Chunk(data[cuts[i]:], chunk.stamp))
                    return
