"""``inventory: sandbox``: the instances of the local sandbox, read from its state file.

The state file is ``.sandbox/state.json`` (format in docs/architecture.md), written by ``sandbox up``.
Where it is: ``targets.options.state`` (path, relative to the current directory), else
``$CHAOSRUNNER_SANDBOX/state.json``, else ``./.sandbox/state.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chaosrunner.core.validation import InvalidInput
from chaosrunner.inventory.base import Target, TargetsSpec

_TARGET_KEYS = ("id", "service", "region", "zone", "tier")


def state_path(options: dict[str, Any] | None = None) -> Path:
    """The sandbox state file this process should read."""
    if options and options.get("state"):
        return Path(str(options["state"])).absolute()
    root = os.environ.get("CHAOSRUNNER_SANDBOX")
    return (Path(root) if root else Path(".sandbox")).absolute() / "state.json"


def targets_from_state(state: dict[str, Any]) -> list[Target]:
    """Pure: one Target per sandbox instance; everything else about the instance goes to ``attrs``.

    ``region_type`` (Full / Read-Only / Lightweight) is also a label, so it can be selected on.
    """
    out = []
    for inst in state.get("instances") or []:
        labels = {"region_type": str(inst["region_type"])} if inst.get("region_type") else {}
        labels.update({str(k): str(v) for k, v in (inst.get("labels") or {}).items()})
        attrs = {k: v for k, v in inst.items() if k not in _TARGET_KEYS and k != "labels"}
        out.append(
            Target(
                id=str(inst["id"]),
                service=str(inst.get("service", "")),
                region=str(inst.get("region", "")),
                zone=str(inst.get("zone", "")),
                tier=str(inst.get("tier", "")),
                labels=labels,
                attrs=attrs,
            )
        )
    return out


class SandboxInventory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def list_targets(self) -> list[Target]:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problem = "no sandbox state: run `chaosrunner sandbox up` first"
            raise InvalidInput(self.path, [("", problem)]) from None
        except (OSError, ValueError) as e:
            raise InvalidInput(self.path, [("", f"unreadable sandbox state: {e}")]) from None
        try:
            return targets_from_state(state)
        except (KeyError, TypeError, AttributeError) as e:
            raise InvalidInput(self.path, [("instances", f"malformed instance entry: {e}")]) from None


def from_spec(spec: TargetsSpec, experiment_path: Path | None = None) -> SandboxInventory:
    return SandboxInventory(state_path(spec.options))
