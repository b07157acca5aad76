"""The inventory contract: what a target is, how a run's targets are selected from a population.

Every inventory member (``static``, ``sandbox``, ``aws``, ``k8s``) is a module in this package with a
function ``from_spec(spec: TargetsSpec, experiment_path: Path | None) -> Inventory``. ``resolve`` imports
the member by name (lazily, so boto3/kubernetes load only when used), lists the population and picks.

Selection is label equality: every ``select`` key must equal the target's field of the same name
(``id``, ``service``, ``region``, ``zone``, ``tier``) or, for any other key, its ``labels[key]``.
Whether a selector is acceptable (not empty, not match-everything) is a preflight decision, made by
:func:`selector_problem` so ``plan`` and ``run`` agree.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field, field_validator

from chaosrunner.core.validation import Model

INVENTORY_KINDS = ("sandbox", "static", "aws", "k8s")
TARGET_FIELDS = ("id", "service", "region", "zone", "tier")
WILDCARDS = frozenset({"*", "any", "all", ""})
MAX_TARGETS = 10_000  # more than any one experiment should touch; larger counts are typos or hostile


@dataclass(frozen=True)
class Target:
    """One thing a fault may touch: an instance, a pod, a proxy, a database node.

    ``labels`` are free-form selection labels; ``attrs`` are driver-specific facts (pid, port, proxy
    name, instance id, pod name, url) that activities read from ``configuration["chaosrunner_targets"]``.
    """

    id: str
    service: str = ""
    region: str = ""
    zone: str = ""
    tier: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> str | None:
        """The selectable value for ``key``: a top-level field or a label (None when absent)."""
        if key in TARGET_FIELDS:
            return str(getattr(self, key))
        return self.labels.get(key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            id=str(data["id"]),
            service=str(data.get("service", "") or ""),
            region=str(data.get("region", "") or ""),
            zone=str(data.get("zone", "") or ""),
            tier=str(data.get("tier", "") or ""),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            attrs=dict(data.get("attrs") or {}),
        )


class Inventory(Protocol):
    def list_targets(self) -> list[Target]:
        """The whole population this inventory knows about (may do I/O with a timeout)."""


class StaticTargetModel(Model):
    """A target written directly in an experiment (``inventory: static``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    service: str = ""
    region: str = ""
    zone: str = ""
    tier: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    attrs: dict[str, Any] = Field(default_factory=dict)


class TargetsSpec(Model):
    """The ``targets`` block of the chaosrunner extension (see docs/architecture.md)."""

    model_config = ConfigDict(extra="forbid")

    inventory: Literal["sandbox", "static", "aws", "k8s"] = "sandbox"
    select: dict[str, str] = Field(default_factory=dict)
    pick: int | Literal["all"] = 1
    static: list[StaticTargetModel] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("select", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): ("" if val is None else str(val)) for k, val in v.items()}
        return v

    @field_validator("pick")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= MAX_TARGETS:
            raise ValueError(f"must be a number of targets from 1 to {MAX_TARGETS}, or 'all'")
        return v


def matches(target: Target, select: Mapping[str, str]) -> bool:
    """True when every selector key equals the target's value for it."""
    return all(target.value(k) == v for k, v in select.items())


def select(
    targets: Sequence[Target], select: Mapping[str, str], pick: int | str, rng: random.Random | None = None
) -> tuple[list[Target], list[Target]]:
    """``(matching, chosen)``: the targets matching the selector, and a random ``pick`` of them.

    ``pick="all"`` chooses every match; an int larger than the matches chooses them all (preflight then
    compares the count with the blast radius). Chosen targets keep the population's order.
    """
    matching = [t for t in targets if matches(t, select)]
    if pick == "all" or (isinstance(pick, int) and pick >= len(matching)):
        return matching, list(matching)
    if not isinstance(pick, int):
        raise ValueError(f"pick must be a positive int or 'all', not {pick!r}")
    chosen_idx = sorted((rng or random.Random()).sample(range(len(matching)), pick))
    return matching, [matching[i] for i in chosen_idx]


def selector_problem(select: Mapping[str, str], population: Sequence[Target]) -> str | None:
    """Why a selector must be refused, or None.

    Refused: an empty selector; a wildcard value (``*``, ``any``, ``all``, empty); a selector that
    matches the whole inventory when it holds more than one target (it would select "everything").
    """
    if not select:
        return "selector is empty: it would match every target"
    wild = sorted(k for k, v in select.items() if v.strip().lower() in WILDCARDS)
    if wild:
        return f"selector uses a wildcard for {', '.join(wild)}"
    if len(population) > 1 and all(matches(t, select) for t in population):
        return f"selector matches all {len(population)} targets of the inventory"
    return None


def load_inventory(spec: TargetsSpec, *, experiment_path: Path | None = None) -> Inventory:
    """Instantiate the inventory member named by ``spec.inventory`` (imported lazily)."""
    module = importlib.import_module(f"chaosrunner.inventory.{spec.inventory}")
    return module.from_spec(spec, experiment_path)  # type: ignore[no-any-return]


def resolve(
    spec: TargetsSpec, *, experiment_path: Path | None = None, rng: random.Random | None = None
) -> tuple[list[Target], list[Target]]:
    """``(population, chosen)``: every target the inventory lists, and the chosen ones.

    ``population`` is the whole inventory (needed for percent and match-everything checks); the
    matching subset is ``[t for t in population if matches(t, spec.select)]``.
    """
    population = load_inventory(spec, experiment_path=experiment_path).list_targets()
    _, chosen = select(population, spec.select, spec.pick, rng)
    return population, chosen
