"""The data plane: an asyncio TCP proxy whose two streams pass through the proxy's live toxics.

Each accepted connection is a :class:`Link` with two pipes: ``upstream`` (client → server) and
``downstream`` (server → client). Every pipe reads chunks as they arrive (stamped with their arrival
time) and a separate writer applies the toxics that are active *now* — toxics added or removed while a
connection is open take effect on it at once, as in Toxiproxy. Latency is measured from a chunk's
arrival, so a 200 ms toxic delays every chunk by 200 ms without adding up along a pipelined stream.

Toxicity is drawn once per (connection, toxic): a toxic with toxicity 0.3 affects ~30 % of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

from chaosrunner.sandbox.faultproxy.model import Proxy, Toxic, split_address

CHUNK = 65536
CONNECT_TIMEOUT_S = 5.0
TICK_S = 0.02


class Link:
    """One proxied client connection and its upstream connection."""

    def __init__(self, proxy: Proxy, rng: random.Random) -> None:
        self.proxy = proxy
        self.rng = rng
        self.decisions: dict[str, bool] = {}
        self.first_seen: dict[str, float] = {}
        self.writers: list[asyncio.StreamWriter] = []
        self.closed = asyncio.Event()
        self.sent = {"upstream": 0, "downstream": 0}

    def active(self, stream: str) -> list[Toxic]:
        """Toxics that apply to this link's ``stream`` right now (toxicity decided once per link)."""
        out = []
        for t in self.proxy.toxics:
            if t.stream != stream:
                continue
            key = f"{t.name}\0{t.type}"
            if key not in self.decisions:
                self.decisions[key] = t.toxicity >= 1.0 or self.rng.random() < t.toxicity
            if self.decisions[key]:
                out.append(t)
        return out

    def close(self, reset: bool = False) -> None:
        """Close both sides; ``reset`` sends TCP RST (SO_LINGER 0) instead of FIN."""
        if self.closed.is_set():
            return
        self.closed.set()
        for w in self.writers:
            if reset:
                sock = w.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport = w.transport
                with contextlib.suppress(Exception):
                    transport.abort()
            else:
                with contextlib.suppress(Exception):
                    w.close()

    def tick(self, now: float) -> None:
        """Enforce the time-based toxics (timeout, reset_peer) — called every TICK_S by the listener."""
        for stream in ("upstream", "downstream"):
            for t in self.active(stream):
                if t.type not in ("timeout", "reset_peer"):
                    continue
                key = f"{t.name}\0{t.type}"
                since = self.first_seen.setdefault(key, now)
                wait_s = t.attributes.get("timeout", 0) / 1000.0
                if t.type == "reset_peer" and now - since >= wait_s:
                    self.close(reset=True)
                    return
                if t.type == "timeout" and wait_s > 0 and now - since >= wait_s:
                    self.close()
                    return


async def _pipe(link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: str) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read_side() -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((loop.time(), data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time(), b""))

    reading = asyncio.create_task(read_side())
    try:
        while not link.closed.is_set():
            arrived, data = await queue.get()
            toxics = link.active(stream)
            if any(t.type == "timeout" for t in toxics):
                continue  # data is swallowed until the toxic goes or the link is closed by tick()
            delay_ms = 0.0
            for t in toxics:
                if t.type == "latency":
                    jitter = t.attributes.get("jitter", 0)
                    delay_ms += t.attributes.get("latency", 0) + (link.rng.uniform(-jitter, jitter) if jitter else 0)
            wait = arrived + delay_ms / 1000.0 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                for t in toxics:
                    if t.type == "slow_close":
                        await asyncio.sleep(t.attributes.get("delay", 0) / 1000.0)
                if writer.can_write_eof():
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
                return
            limit = min((t.attributes.get("bytes", 0) for t in toxics if t.type == "limit_data"), default=None)
            if limit is not None and link.sent[stream] + len(data) >= limit:
                data = data[: max(0, int(limit) - link.sent[stream])]
                if data:
                    writer.write(data)
                    await writer.drain()
                link.close()
                return
            slicer = next((t for t in toxics if t.type == "slicer"), None)
            pieces = _slices(data, slicer, link.rng) if slicer else [data]
            for i, piece in enumerate(pieces):
                writer.write(piece)
                await writer.drain()
                if slicer and i < len(pieces) - 1 and slicer.attributes.get("delay", 0):
                    await asyncio.sleep(slicer.attributes["delay"] / 1_000_000.0)
            link.sent[stream] += len(data)
            rates = [t.attributes.get("rate", 0) for t in toxics if t.type == "bandwidth"]
            rates = [r for r in rates if r > 0]
            if rates:
                await asyncio.sleep(len(data) / (min(rates) * 1000.0))
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()


def _slices(data: bytes, toxic: Toxic, rng: random.Random) -> list[bytes]:
    avg = int(toxic.attributes.get("average_size", 0))
    var = int(toxic.attributes.get("size_variation", 0))
    if avg <= 0:
        return [data]
    out, i = [], 0
    while i < len(data):
        size = max(1, avg + (rng.randint(-var, var) if var else 0))
        out.append(data[i : i + size])
        i += size
    return out


class Listener:
    """Accepts connections for one proxy and tracks its live links (to drop them on disable)."""

    def __init__(self, proxy: Proxy, rng: random.Random, on_error: Callable[[str], None]) -> None:
        self.proxy = proxy
        self.rng = rng
        self.on_error = on_error
        self.server: asyncio.Server | None = None
        self.links: set[Link] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()  # set when toxics change, so an idle ticker costs nothing

    async def start(self) -> str:
        """Bind ``proxy.listen``; returns the real ``host:port`` (port 0 → the one the OS picked)."""
        host, port = split_address(self.proxy.listen)
        self.server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        real_port = self.server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_loop())
        return f"{host}:{real_port}"

    async def stop(self) -> None:
        """Stop listening and drop every open connection (what disabling a proxy does)."""
        if self._ticker:
            self._ticker.cancel()
            self._ticker = None
        if self.server:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            self.server = None
        for link in list(self.links):
            link.close()
        self.links.clear()

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not any(t.type in ("timeout", "reset_peer") for t in self.proxy.toxics):
                self.wake.clear()
                await self.wake.wait()
                continue
            await asyncio.sleep(TICK_S)
            now = loop.time()
            for link in list(self.links):
                link.tick(now)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = Link(self.proxy, self.rng)
        link.writers.append(client_writer)
        self.links.add(link)
        try:
            host, port = split_address(self.proxy.upstream)
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
                )
            except (TimeoutError, OSError) as exc:
                self.on_error(f"{self.proxy.name}: upstream {self.proxy.upstream} unreachable: {exc}")
                return
            link.writers.append(up_writer)
            if link.closed.is_set():
                return
            pipes = [
                asyncio.create_task(_pipe(link, client_reader, up_writer, "upstream")),
                asyncio.create_task(_pipe(link, up_reader, client_writer, "downstream")),
            ]
            closed: asyncio.Task[Any] = asyncio.create_task(link.closed.wait())
            pending: set[asyncio.Task[Any]] = set(pipes)
            while pending and not link.closed.is_set():
                _, pending = await asyncio.wait(pending | {closed}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(closed)
            for task in (*pipes, closed):
                task.cancel()
        finally:
            link.close()
            self.links.discard(link)
