"""``reset_peer {timeout}`` (ms): on the first data (or end of stream) after it is active, drops that data, waits
``timeout`` ms and resets the connection (TCP RST). Idle connections are left alone.

The RST comes from SO_LINGER 0, which — as in Toxiproxy — is set on both sockets of a connection that *starts*
while a reset_peer toxic is on the proxy (whatever its toxicity). On a connection that was already open when the
toxic was added, the close is an ordinary FIN. The wait is not interrupted: removing the toxic during it does not
save the connection.
"""

from __future__ import annotations

import asyncio

from chaosrunner.sandbox.faultproxy.stream import Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic


class ResetPeer(Toxic):
    type_name = "reset_peer"
    defaults = {"timeout": 0}

    async def pipe(self, stub: Stub) -> None:
        await stub.receive()
        await asyncio.sleep(self.attributes["timeout"] / 1000.0)
        stub.close()
