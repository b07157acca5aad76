"""The pure parts of the fault proxy's data path: channels, stubs, slicing, chains — no sockets, milliseconds."""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from chaosrunner.sandbox.faultproxy.link import Pipeline
from chaosrunner.sandbox.faultproxy.model import Toxic
from chaosrunner.sandbox.faultproxy.stream import Channel, Chunk, Interrupted, Stub
from chaosrunner.sandbox.faultproxy.toxics.slicer import cut_points

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 5))


def test_slicer_bisects_to_pieces_near_the_average_like_toxiproxy() -> None:
    rng = random.Random(7)
    sizes = []
    for _ in range(20):
        cuts = cut_points(20_000, 100, 20, rng)
        assert cuts[0] == 0 and cuts[-1] == 20_000
        assert all(cuts[i] == cuts[i + 1] for i in range(1, len(cuts) - 1, 2))  # contiguous pieces
        sizes += [cuts[i] - cuts[i - 1] for i in range(1, len(cuts), 2)]
    assert max(sizes) <= 120 and min(sizes) >= 40
    assert 72 <= statistics.mean(sizes) <= 84  # Toxiproxy 2.12 measured ~78 B for 100 ± 20


def test_slicer_leaves_small_chunks_whole() -> None:
    assert cut_points(110, 100, 20, random.Random(1)) == [0, 110]


def test_a_zero_capacity_channel_hands_over() -> None:
    async def scenario() -> list[str]:
        ch, log = Channel(0), []

        async def sender() -> None:
            await ch.put(Chunk(b"a", 0))
            log.append("handed over")

        task = asyncio.create_task(sender())
        await asyncio.sleep(0.01)
        log.append("taking")
        assert ch.take() is not None
        await task
        return log

    assert run(scenario()) == ["taking", "handed over"]


def test_a_buffered_channel_takes_capacity_chunks_without_waiting() -> None:
    async def scenario() -> int:
        ch = Channel(3)
        for i in range(3):
            await ch.put(Chunk(bytes([i]), 0))
        blocked = asyncio.create_task(ch.put(Chunk(b"x", 0)))
        await asyncio.sleep(0.01)
        assert not blocked.done()
        ch.take()
        await asyncio.sleep(0)
        assert blocked.done()
        return len([ch.take() for _ in range(3)])

    assert run(scenario()) == 3


def test_end_of_stream_is_sticky_and_data_after_it_is_dropped() -> None:
    async def scenario() -> None:
        ch = Channel(2)
        await ch.put(Chunk(b"a", 0))
        ch.close()
        await ch.put(Chunk(b"late", 0))
        first = ch.take()
        assert first is not None and first.data == b"a"
        assert ch.take() is None and ch.take() is None and ch.closed

    run(scenario())


def test_redirect_keeps_order_and_releases_a_waiting_sender() -> None:
    async def scenario() -> list[bytes]:
        src, dst = Channel(1), Channel(10)
        await src.put(Chunk(b"1", 0))
        waiting = asyncio.create_task(src.put(Chunk(b"2", 0)))
        await asyncio.sleep(0.01)
        await dst.put(Chunk(b"0", 0))
        src.redirect(dst)
        await waiting
        await src.put(Chunk(b"3", 0))  # a put on the old channel lands in the new one, after
        src.close()
        out = []
        while (c := await dst.get()) is not None:
            out.append(c.data)
        return out

    assert run(scenario()) == [b"0", b"1", b"2", b"3"]


def test_stub_receive_times_out_and_is_interruptible() -> None:
    async def scenario() -> None:
        stub = Stub(Channel(0), Channel(0), random.Random(0))
        with pytest.raises(TimeoutError):
            await stub.receive(idle_s=0.02)
        asyncio.get_running_loop().call_later(0.01, stub.interrupt)
        with pytest.raises(Interrupted):
            await stub.receive()
        with pytest.raises(Interrupted):
            await stub.pause(10)

    run(scenario())


def _toxic(name: str, ttype: str, **attributes: int) -> Toxic:
    return Toxic(name=name, type=ttype, stream="downstream", toxicity=1.0, attributes=attributes)


async def _drain(p: Pipeline) -> list[bytes]:
    out = []
    while (c := await p.tail.get()) is not None:
        out.append(c.data)
    return out


def test_a_chain_keeps_order_while_stages_join_and_leave() -> None:
    async def scenario() -> list[bytes]:
        p = Pipeline("downstream", [_toxic("lat", "latency", latency=30, jitter=0)], random.Random(0))
        p.start()
        drained = asyncio.create_task(_drain(p))
        loop = asyncio.get_running_loop()
        for i in range(30):
            await p.head.put(Chunk(b"%d," % i, loop.time()))
            if i == 10:
                p.add(_toxic("slicer", "slicer", average_size=1, size_variation=0, delay=0))
            if i == 20:
                await p.remove("lat")
            await asyncio.sleep(0.002)
        await p.remove("slicer")
        p.head.close()
        return await drained

    assert b"".join(run(scenario())) == b"".join(b"%d," % i for i in range(30))


def test_removing_a_timeout_closes_the_stream() -> None:
    async def scenario() -> list[bytes]:
        p = Pipeline("downstream", [_toxic("to", "timeout", timeout=0)], random.Random(0))
        p.start()
        await p.head.put(Chunk(b"swallowed", 0))
        await p.remove("to")
        return await _drain(p)

    assert run(scenario()) == []
