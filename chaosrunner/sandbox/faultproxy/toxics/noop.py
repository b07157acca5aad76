"""``noop``: passes everything through unchanged (Toxiproxy accepts it as a toxic type)."""

from __future__ import annotations

from chaosrunner.sandbox.faultproxy.stream import Stub
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic, pass_through


class Noop(Toxic):
    type_name = "noop"

    async def pipe(self, stub: Stub) -> None:
        await pass_through(stub)
