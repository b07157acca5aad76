"""What flows between the stages of a toxic chain: chunks, the channels that carry them, and the stub a toxic drives.

A direction of a proxied connection is ``reader → [stage → stage …] → writer``. Every stage runs one toxic on a
:class:`Stub`: it ``receive()``s chunks from its input :class:`Channel`, may hold, delay, cut or drop them, and
``send()``s the rest to its output. The reader stamps each chunk with its arrival time (``loop.time()``, seconds).

Flow control follows Toxiproxy's Go channels: a channel of capacity 0 hands a chunk over (the sender waits until the
next stage has taken it), capacity N buffers N chunks (latency uses 1024). So a stage that holds data (bandwidth,
timeout, reset_peer) stops the reader, and TCP pushes back on the sender instead of memory filling up.

Interruption is how a chain changes under live traffic: ``receive()`` and ``pause()`` raise :class:`Interrupted` when
the stage is being restarted (a toxic was added after it, it was updated) or removed. ``send()`` is never
interrupted, so a toxic that catches :class:`Interrupted` can always pass on what it holds before returning.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any


class Chunk:
    """Bytes read from a socket and the loop time (seconds) they arrived; latency moves ``stamp`` forward."""

    __slots__ = ("data", "stamp")

    def __init__(self, data: bytes, stamp: float) -> None:
        self.data = data
        self.stamp = stamp


class Interrupted(Exception):
    """The stage is being restarted or removed: pass on what you hold, then return."""


class _Entry:
    __slots__ = ("chunk", "waiter")

    def __init__(self, chunk: Chunk | None, waiter: asyncio.Future[None] | None) -> None:
        self.chunk = chunk
        self.waiter = waiter


def _release(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class Channel:
    """A FIFO between two stages with Go channel semantics: ``capacity`` buffered chunks, then senders wait.

    End of stream is a sticky marker (``close()``): once reached, ``take()`` keeps answering ``None``, like a closed
    Go channel. ``redirect(target)`` moves everything queued (including chunks whose senders wait) to ``target`` and
    forwards later ``put()``s there: how a removed stage's input is spliced into its output without reordering.
    """

    __slots__ = ("capacity", "_items", "_waiting", "_eof", "_reader", "_target")

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self._items: deque[_Entry] = deque()
        self._waiting: deque[_Entry] = deque()
        self._eof = False
        self._reader: asyncio.Future[None] | None = None
        self._target: Channel | None = None

    def _end(self) -> Channel:
        ch = self
        while ch._target is not None:
            ch = ch._target
        return ch

    def _wake(self) -> None:
        _release(self._reader)

    async def put(self, chunk: Chunk) -> None:
        """Queue ``chunk``; wait while the channel holds more than ``capacity`` chunks. Dropped after end of stream."""
        ch = self._end()
        if ch._eof:
            return
        if len(ch._items) - len(ch._waiting) < ch.capacity:
            ch._items.append(_Entry(chunk, None))
            ch._wake()
            return
        entry = _Entry(chunk, asyncio.get_running_loop().create_future())
        ch._items.append(entry)
        ch._waiting.append(entry)
        ch._wake()
        assert entry.waiter is not None
        await entry.waiter

    def close(self) -> None:
        """Queue the end-of-stream marker (never waits)."""
        ch = self._end()
        if not ch._eof:
            ch._eof = True
            ch._items.append(_Entry(None, None))
            ch._wake()

    @property
    def closed(self) -> bool:
        return self._end()._eof

    def ready(self) -> bool:
        return bool(self._items)

    def take(self) -> Chunk | None:
        """The next chunk (``ready()`` must be true); ``None`` at end of stream, again and again."""
        entry = self._items[0]
        if entry.chunk is None:
            return None
        self._items.popleft()
        if entry.waiter is not None:
            self._waiting.remove(entry)
            _release(entry.waiter)
        while self._waiting and len(self._items) - len(self._waiting) < self.capacity:
            promoted = self._waiting.popleft()
            _release(promoted.waiter)
            promoted.waiter = None
        return entry.chunk

    def readable(self) -> asyncio.Future[None]:
        """A future resolved when something is queued (one reader per channel)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._items:
            fut.set_result(None)
        self._reader = fut
        return fut

    async def get(self) -> Chunk | None:
        while not self._items:
            await self.readable()
        return self.take()

    def redirect(self, target: Channel) -> None:
        """Move every queued chunk to ``target`` (in order, senders released) and forward future puts there."""
        target = target._end()
        for entry in self._items:
            _release(entry.waiter)
            if entry.chunk is None:
                target.close()
            elif not target._eof:
                target._items.append(_Entry(entry.chunk, None))
        self._items.clear()
        self._waiting.clear()
        self._target = target
        target._wake()


class Stub:
    """One toxic's view of one stage: input, output (rewired when the chain changes), random source, state.

    ``state`` survives restarts and updates of the toxic (limit_data counts bytes in it) and starts when the toxic
    is added to the connection.
    """

    def __init__(self, input: Channel, output: Channel, rng: random.Random, state: Any = None) -> None:
        self.input = input
        self.output = output
        self.rng = rng
        self.state = state
        self.closed = False
        self.interrupted = False
        self._waiter: asyncio.Future[None] | None = None

    async def receive(self, idle_s: float | None = None) -> Chunk | None:
        """The next chunk, or ``None`` at end of stream (repeatedly).

        Raises :class:`Interrupted` when the stage is interrupted, ``TimeoutError`` after ``idle_s`` seconds without
        anything to receive (``None``: wait forever).
        """
        loop = asyncio.get_running_loop()
        deadline = None if idle_s is None else loop.time() + idle_s
        while True:
            if self.interrupted:
                raise Interrupted
            if self.input.ready():
                return self.input.take()
            fut = self.input.readable()
            timer = None
            if deadline is not None:
                if deadline <= loop.time():
                    raise TimeoutError
                timer = loop.call_at(deadline, _release, fut)
            self._waiter = fut
            try:
                await fut
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``; raises :class:`Interrupted` (at once) if the stage is interrupted meanwhile."""
        if self.interrupted:
            raise Interrupted
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiter = fut
        timer = loop.call_later(seconds, _release, fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._waiter = None
        if self.interrupted:
            raise Interrupted

    async def send(self, chunk: Chunk) -> None:
        """Pass ``chunk`` on (waits while the next stage is full; never interrupted, so nothing is dropped)."""
        await self.output.put(chunk)

    def close(self) -> None:
        """End the stream here: the rest of the chain sees end of stream and the writer closes its socket."""
        if not self.closed:
            self.closed = True
            self.output.close()

    def interrupt(self) -> None:
        self.interrupted = True
        _release(self._waiter)
