"""A proxy at run time: its listening socket, its open connections, and toxic changes applied to them live."""

from __future__ import annotations

import asyncio
import logging
import random

from chaosrunner.sandbox.faultproxy.link import Connection
from chaosrunner.sandbox.faultproxy.metrics import ProxyMetrics
from chaosrunner.sandbox.faultproxy.model import ApiError, Proxy, Toxic, split_address

CONNECT_TIMEOUT_S = 5.0
LIVE_CHANGE_S = 5.0  # longest an API call waits for a toxic removal to reach every open connection
log = logging.getLogger("chaosrunner.faultproxy")


def _address(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class LiveProxy:
    """Accepts connections for one enabled proxy and applies its toxic changes to every open connection."""

    def __init__(self, proxy: Proxy, rng: random.Random, metrics: ProxyMetrics) -> None:
        self.proxy = proxy
        self.rng = rng
        self.metrics = metrics
        self.server: asyncio.Server | None = None
        self.connections: set[Connection] = set()

    async def start(self) -> None:
        """Bind ``proxy.listen`` and record the real address (port 0 → the one the OS picked). OSError → 500."""
        host, port = split_address(self.proxy.listen)
        try:
            self.server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        except OSError as exc:
            raise ApiError(500, f"listen tcp {self.proxy.listen}: {exc.strerror or exc}") from exc
        self.proxy.listen = _address(self.server.sockets[0].getsockname())

    async def stop(self) -> None:
        """Stop listening and close every open connection (what disabling or deleting a proxy does)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.kill()
        self.connections.clear()

    def add_toxic(self, toxic: Toxic) -> None:
        for conn in self.connections:
            conn.pipeline(toxic.direction).add(toxic)

    def update_toxic(self, toxic: Toxic) -> None:
        for conn in self.connections:
            conn.pipeline(toxic.direction).update(toxic)

    async def remove_toxic(self, toxic: Toxic) -> None:
        """Take the toxic out of every open connection; waits (up to LIVE_CHANGE_S) until each has spliced it out."""
        removals = [asyncio.ensure_future(c.pipeline(toxic.direction).remove(toxic.name)) for c in self.connections]
        if removals:
            _, late = await asyncio.wait(removals, timeout=LIVE_CHANGE_S)
            if late:
                log.warning("%s: removing toxic %s still waits on %d connection(s)", self.proxy.name, toxic.name,
                            len(late))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy = self.proxy
        try:
            host, port = split_address(proxy.upstream)
            upstream = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, ApiError) as exc:
            log.warning("%s: upstream %s unreachable: %s", proxy.name, proxy.upstream, exc)
            writer.close()
            return
        if self.server is None:  # the proxy stopped while we dialled
            writer.close()
            upstream[1].close()
            return
        counters = {d: self.metrics.counters(d, proxy.name, proxy.listen, proxy.upstream)
                    for d in ("upstream", "downstream")}
        conn = Connection(list(proxy.toxics), self.rng, (reader, writer), upstream, counters)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
