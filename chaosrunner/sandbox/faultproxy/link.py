"""One proxied connection: two directions, each ``reader → toxic stages → writer`` (Toxiproxy's link model).

A direction (:class:`Pipeline`) starts with a stage for every toxic of its stream, in the order they were added. A
toxic added later joins the *end* of the chain of every open connection (the stage before it is restarted, as in
Toxiproxy, so it draws its toxicity again and a held latency chunk leaves at once); an updated toxic's stage restarts
with the new attributes (per-connection state such as limit_data's count survives); a removed toxic's stage is
stopped — it passes on what it holds — its queued chunks are spliced into its output and the chain closes over it.

Closing follows Toxiproxy: when a direction's stream ends (EOF from its source, or a toxic closing it) its writer
closes the destination socket entirely (no half-close), which ends the other direction's reader; a connection is
finished when both writers are done. A connection that *starts* while a ``reset_peer`` toxic is on the proxy gets
SO_LINGER 0 on both sockets, so its closes are TCP resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

from chaosrunner.sandbox.faultproxy.model import Toxic
from chaosrunner.sandbox.faultproxy.stream import Channel, Chunk, Interrupted, Stub
from chaosrunner.sandbox.faultproxy.toxics import TOXICS, pass_through

READ_SIZE = 32 * 1024  # Go's io.Copy buffer: the largest chunk a toxic sees
log = logging.getLogger("chaosrunner.faultproxy")


class Stage:
    """One toxic running on one direction of one connection."""

    def __init__(self, toxic: Toxic, output: Channel, rng: random.Random) -> None:
        kind = TOXICS[toxic.type]
        self.toxic = toxic
        self.rng = rng
        self.stub = Stub(Channel(kind.buffer), output, rng, kind(toxic.attributes).new_state())
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def input(self) -> Channel:
        return self.stub.input

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        stub = self.stub
        while True:
            stub.interrupted = False
            kind = TOXICS[self.toxic.type]
            try:
                if self.rng.random() < self.toxic.toxicity:
                    await kind(self.toxic.attributes).pipe(stub)
                else:
                    await pass_through(stub)
            except Interrupted:
                pass
            except Exception:  # a toxic bug must not leave the connection hanging half-alive
                log.exception("toxic %s failed; closing its stream", self.toxic.name)
                stub.close()
            if self.stopping or stub.closed or not stub.interrupted:
                return

    def restart(self) -> None:
        """Re-run the toxic with its current attributes and a fresh toxicity draw."""
        if self.task is not None and not self.task.done():
            self.stub.interrupt()

    async def stop(self) -> None:
        self.stopping = True
        self.stub.interrupt()
        if self.task is not None:
            await asyncio.wait([self.task])  # not ``await task``: a task cancelled by kill() must not raise here


class Pipeline:
    """One direction of a connection: the reader feeds ``head``, stages pass chunks on, the writer drains ``tail``."""

    def __init__(self, direction: str, toxics: list[Toxic], rng: random.Random) -> None:
        self.direction = direction
        self.rng = rng
        self.tail = Channel(0)
        self.head = self.tail
        self.stages: list[Stage] = []
        self.ended = False
        self._removing = asyncio.Lock()
        for toxic in toxics:
            self._append(toxic)

    def _append(self, toxic: Toxic) -> Stage:
        stage = Stage(toxic, self.tail, self.rng)
        if self.stages:
            self.stages[-1].stub.output = stage.input
        else:
            self.head = stage.input
        self.stages.append(stage)
        return stage

    def start(self) -> None:
        for stage in self.stages:
            stage.start()

    def add(self, toxic: Toxic) -> None:
        if self.ended:
            return
        before = self.stages[-1] if self.stages else None
        self._append(toxic).start()
        if before is not None:
            before.restart()

    def update(self, toxic: Toxic) -> None:
        for stage in self.stages:
            if stage.toxic.name == toxic.name:
                stage.toxic = toxic
                stage.restart()

    async def remove(self, name: str) -> None:
        async with self._removing:
            stage = next((s for s in self.stages if s.toxic.name == name), None)
            if stage is None or stage.stub.closed:
                return
            await stage.stop()
            TOXICS[stage.toxic.type](stage.toxic.attributes).cleanup(stage.stub)
            if stage.stub.closed:
                return  # the toxic ended the stream (timeout): the connection closes, nothing to splice
            i = self.stages.index(stage)
            if i == 0:
                self.head = stage.stub.output
            else:
                self.stages[i - 1].stub.output = stage.stub.output
            stage.input.redirect(stage.stub.output)
            del self.stages[i]
            if i > 0:
                self.stages[i - 1].restart()

    async def read(self, source: asyncio.StreamReader, count: Callable[[int], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await source.read(READ_SIZE)
                if not data:
                    return
                count(len(data))
                await self.head.put(Chunk(data, loop.time()))
        except (ConnectionError, OSError):
            pass
        finally:
            self.head.close()

    async def write(self, dest: asyncio.StreamWriter, count: Callable[[int], None]) -> None:
        tail = self.tail
        try:
            while True:
                chunk = tail.take() if tail.ready() else await tail.get()
                if chunk is None:
                    return
                if chunk.data:
                    dest.write(chunk.data)
                    count(len(chunk.data))
                    await dest.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.ended = True
            dest.close()

    def cancel(self) -> None:
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()


def _linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Connection:
    """A client connection and its upstream connection, joined by an ``upstream`` and a ``downstream`` pipeline."""

    def __init__(self, toxics: list[Toxic], rng: random.Random,
                 client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 counters: dict[str, tuple[Callable[[int], None], Callable[[int], None]]]) -> None:
        self.client, self.upstream = client, upstream
        self.pipelines = {d: Pipeline(d, [t for t in toxics if t.direction == d], rng)
                          for d in ("upstream", "downstream")}
        self.counters = counters
        self.tasks: list[asyncio.Task[Any]] = []
        self.finished = asyncio.Event()
        if any(t.type == "reset_peer" for t in toxics):
            _linger_zero(client[1])
            _linger_zero(upstream[1])

    async def run(self) -> None:
        """Proxy until both directions have ended (or :meth:`kill`)."""
        up, down = self.pipelines["upstream"], self.pipelines["downstream"]
        (up_in, up_out), (down_in, down_out) = self.counters["upstream"], self.counters["downstream"]
        read_up = asyncio.create_task(up.read(self.client[0], up_in))
        read_down = asyncio.create_task(down.read(self.upstream[0], down_in))
        write_up = asyncio.create_task(up.write(self.upstream[1], up_out))
        write_down = asyncio.create_task(down.write(self.client[1], down_out))
        self.tasks = [read_up, read_down, write_up, write_down]
        up.start()
        down.start()
        # a writer that closed its socket ends the reader of that same socket (Go: read on a closed conn fails)
        write_up.add_done_callback(lambda _: read_down.cancel())
        write_down.add_done_callback(lambda _: read_up.cancel())
        try:
            await asyncio.gather(write_up, write_down, return_exceptions=True)
        finally:
            self.kill()

    def pipeline(self, direction: str) -> Pipeline:
        return self.pipelines[direction]

    def kill(self) -> None:
        """Close both sockets and stop every task (proxy disabled or deleted, or the connection is over)."""
        for task in self.tasks:
            task.cancel()
        for p in self.pipelines.values():
            p.ended = True
            p.cancel()
        for _, writer in (self.client, self.upstream):
            writer.close()
        self.finished.set()
