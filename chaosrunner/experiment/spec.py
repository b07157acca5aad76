"""The ``chaosrunner`` extension block of an experiment, as typed models: what the run may touch
(``targets``, ``blast_radius``), how it is watched (``slo_guard``) and its activity ``timeouts``.

This is the contract between the content an SRE writes and every part of the engine that acts on it
(preflight, the guard, the runner, ``plan``); it imports nothing that runs, so validating a file never
loads the guard or chaoslib. Units: durations are float seconds, ratios floats in [0, 1]
(see :mod:`chaosrunner.core.units`).
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaosrunner.core.units import Duration, Ratio
from chaosrunner.inventory.base import MAX_TARGETS, TargetsSpec

EXTENSION_NAME: Final = "chaosrunner"
DEFAULT_ACTIVITY_TIMEOUT_S = 120.0
DEFAULT_BACKGROUND_TIMEOUT_S = 3600.0


class BlastRadius(BaseModel):
    """The ``blast_radius`` block of the chaosrunner extension (see docs/architecture.md)."""

    model_config = ConfigDict(extra="forbid")

    services: list[str] | None = None
    tiers: list[str] | None = None
    max_targets: int | None = Field(default=None, ge=1, le=MAX_TARGETS)
    max_percent: Ratio | None = None
    zones: int | None = Field(default=None, ge=1)
    regions: int | None = Field(default=None, ge=1)
    max_duration: Duration | None = None
    error_budget: Ratio | None = None


class AbortRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    burn_rate: float = Field(default=14.4, gt=0)
    consecutive: int = Field(default=2, ge=1)


class OutOfScopeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    burn_rate: float = Field(default=1.0, gt=0)
    consecutive: int = Field(default=2, ge=1)


class SloGuardSpec(BaseModel):
    """The ``slo_guard`` block of the chaosrunner extension (see docs/architecture.md, docs/slo.md)."""

    model_config = ConfigDict(extra="forbid")

    slos: list[str] = Field(min_length=1)
    interval: Duration = 1.0
    window: Duration = 5.0
    baseline_window: Duration = 60.0
    abort_on: AbortRule = Field(default_factory=AbortRule)
    unavailable_after: int = Field(default=3, ge=1)
    out_of_scope: bool | OutOfScopeRule = True
    budget_gate: Ratio | None = None
    recovery_deadline: Duration = 1800.0
    probes: list[str] = Field(default_factory=list)
    catalog: list[str] = Field(default_factory=lambda: ["probes"])
    prometheus: str | None = Field(default=None, pattern=r"^https?://")

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if not 0.05 <= v <= 60:
            raise ValueError("must be between 50ms and 60s")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v < 1:
            raise ValueError("must be at least 1s (two scrapes)")
        return v

    @field_validator("catalog", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def out_of_scope_rule(self) -> OutOfScopeRule | None:
        if self.out_of_scope is False:
            return None
        if self.out_of_scope is True:
            return OutOfScopeRule(consecutive=self.abort_on.consecutive)
        return self.out_of_scope


class OutageCheckSpec(BaseModel):
    """The ``outage_check`` block: no chaos while an outage is on (see :mod:`chaosrunner.safety.outage`).
    It applies to every experiment once an Alertmanager is known; this block tunes it or opts out."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    alertmanager: str | None = Field(default=None, pattern=r"^https?://")
    matchers: list[str] = Field(default_factory=lambda: ["severity=critical"], min_length=1)
    interval: Duration = 1.0
    fail_open: bool = False  # Alertmanager unreachable: run anyway (the default refuses and aborts)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        for m in v:
            if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*(=~|!~|!=|=)"?[^"]*"?', m):
                raise ValueError(f"{m!r} is not an Alertmanager matcher like severity=critical")
        return v


class Timeouts(BaseModel):
    """Activity timeouts. Chaos Toolkit's python provider has none; chaosrunner applies ``activity``
    (seconds) to every foreground python activity, rollbacks included, and ``background`` to python
    activities declared ``background: true`` — they usually span the method (a load generator, a
    fault held while probes run), so 120 s would cut short experiments that pass under ``chaos run``.
    A provider's own ``timeout`` overrides both."""

    model_config = ConfigDict(extra="forbid")
    activity: Duration = DEFAULT_ACTIVITY_TIMEOUT_S
    background: Duration = DEFAULT_BACKGROUND_TIMEOUT_S

    @field_validator("activity", "background")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be a positive duration")
        return v


class ChaosrunnerExtension(BaseModel):
    """The ``chaosrunner`` extension block (docs/experiments.md). Every part is optional: an experiment
    without it runs with default timeouts, no preflight targets and no SLO guard."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["chaosrunner"] = EXTENSION_NAME
    targets: TargetsSpec | None = None
    blast_radius: BlastRadius | None = None
    slo_guard: SloGuardSpec | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    outage_check: OutageCheckSpec | None = None

    @model_validator(mode="after")
    def _targets_need_blast_radius(self) -> ChaosrunnerExtension:
        if self.targets is not None and self.blast_radius is None:
            raise ValueError("targets are declared without a blast_radius to hold them to")
        return self
