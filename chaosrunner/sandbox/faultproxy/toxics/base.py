"""The contract every toxic meets: a small class that runs one stage of a connection's chain.

A toxic class declares its Toxiproxy ``type_name``, its attributes with their defaults (``defaults``, integers, in
Toxiproxy's JSON order), the buffer of its input channel (``buffer``, chunks) and implements ``pipe(stub)``: a loop
that ``receive()``s chunks and ``send()``s what passes. ``pipe`` returns when its stream ends (after ``stub.close()``)
or when interrupted (``receive``/``pause`` raise :class:`~..stream.Interrupted`; catch it only to pass on data you
hold). The chain re-runs ``pipe`` after an interruption with the toxic's current attributes, drawing toxicity again.

Optional: ``new_state()`` (per-connection state kept across restarts, created when the toxic joins the connection),
``cleanup(stub)`` (called when the toxic is removed from an open connection), ``refuse(attributes)`` (why values
that Toxiproxy would take are refused here with a 400, because they would hang or crash a stream).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from chaosrunner.sandbox.faultproxy.stream import Stub


class Toxic(ABC):
    type_name: ClassVar[str]
    defaults: ClassVar[dict[str, int]] = {}
    buffer: ClassVar[int] = 0

    def __init__(self, attributes: Mapping[str, int]) -> None:
        self.attributes = {**self.defaults, **attributes}

    @abstractmethod
    async def pipe(self, stub: Stub) -> None:
        """Move chunks from ``stub.input`` to ``stub.output`` until the stream ends or the stage is interrupted."""

    def new_state(self) -> Any:
        return None

    def cleanup(self, stub: Stub) -> None:  # noqa: B027 - optional hook, no-op by default
        """Called when the toxic is removed from an open connection (after its stage stopped)."""

    @classmethod
    def refuse(cls, attributes: Mapping[str, int]) -> str | None:
        """Why these (complete) attributes are refused, or None. Negative values are refused for every toxic."""
        return None


async def pass_through(stub: Stub) -> None:
    """Forward every chunk unchanged; close at end of stream (what a toxic does when toxicity spares it)."""
    while True:
        chunk = await stub.receive()
        if chunk is None:
            stub.close()
            return
        await stub.send(chunk)
