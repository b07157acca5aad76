"""Ledger glue for our own drivers (sandbox, AWS): record the undo before injecting, close it when undone.

The ledger (:mod:`chaosrunner.faults.ledger`) keys entries by an id the injecting call gets back. Our undo
functions are also the experiments' declared rollbacks, which cannot know that id; so an undo closes
every open entry of the current run with the same ``fault`` and ``target``. When the undo runs from
recovery (watchdog, ``chaosrunner recover``), the ledger closes the entry itself.
"""

from __future__ import annotations

from typing import Any

from chaosrunner.core import storage
from chaosrunner.faults.ledger import Ledger, close_fault, current_run_id, record_fault


def record(
    fault: str, target: str, undo_func: str, arguments: dict[str, Any], module: str, expires_at: float | None = None
) -> str:
    """Record ``fault`` on ``target`` with a python-provider undo; raises if it cannot be made durable."""

    undo = {"type": "python", "module": module, "func": undo_func, "arguments": arguments}
    return record_fault(fault, target, undo, expires_at)


def settle(fault: str, target: str, outcome: str = "undone", detail: str = "") -> int:
    """Close the current run's open entries for ``fault`` on ``target``; returns how many were closed."""

    closed = 0
    for entry in Ledger(storage.state_dir()).open_entries(current_run_id()):
        if entry.fault == fault and entry.target == target:
            close_fault(entry.id, outcome, detail)
            closed += 1
    return closed
