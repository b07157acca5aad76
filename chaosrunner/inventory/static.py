"""``inventory: static``: the targets are written in the experiment itself (``targets.static``)."""

from __future__ import annotations

from pathlib import Path

from chaosrunner.inventory.base import Target, TargetsSpec


class StaticInventory:
    def __init__(self, targets: list[Target]) -> None:
        self._targets = list(targets)

    def list_targets(self) -> list[Target]:
        return list(self._targets)


def from_spec(spec: TargetsSpec, experiment_path: Path | None = None) -> StaticInventory:
    return StaticInventory([Target.from_dict(t.model_dump()) for t in spec.static])
