"""The ``chaosrunner`` extension block of an experiment, as typed models: what the run may touch
(``targets``, ``blast_radius``), how it is watched (``slo_guard``), its activity ``timeouts``, and
what the practice expects of the system (``objectives``: RTO, RPO, availability during the fault,
budget use — the targets the journal, the report, the trend and the demo compare measurements with).

This is the contract between the content an SRE writes and every part of the engine that acts on it
(preflight, the guard, the runner, ``plan``); it imports nothing that runs, so validating a file never
loads the guard or chaoslib. Units: durations are float seconds, ratios floats in [0, 1]
(see :mod:`chaosrunner.core.units`).
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from chaosrunner.core.units import Duration, Ratio, parse_duration
from chaosrunner.core.validation import Model
from chaosrunner.inventory.base import MAX_TARGETS, TargetsSpec

EXTENSION_NAME: Final = "chaosrunner"
DEFAULT_ACTIVITY_TIMEOUT_S = 120.0
DEFAULT_BACKGROUND_TIMEOUT_S = 3600.0
DEFAULT_BUDGET_GATE: Final = 0.25
"""A guarded experiment is refused below this remaining error budget unless it opts out
(``budget_gate: false``); the journal and the report say when a run opted out."""


class BlastRadius(Model):
    """The ``blast_radius`` block of the chaosrunner extension (see docs/architecture.md)."""

    model_config = ConfigDict(extra="forbid")

    services: list[str] | None = None
    tiers: list[str] | None = None
    max_targets: int | None = Field(default=None, ge=1, le=MAX_TARGETS)
    max_percent: Ratio | None = None
    zones: int | None = Field(default=None, ge=1)
    regions: int | None = Field(default=None, ge=1)
    # the fault takes the chosen targets' regions out of service: preflight checks that the regions left
    # can take over (by region type, chaosrunner.core.regions) and names what they cannot
    region_outage: bool = False
    max_duration: Duration | None = None
    error_budget: Ratio | None = None


class AbortRule(Model):
    model_config = ConfigDict(extra="forbid")

    burn_rate: float = Field(default=14.4, gt=0)
    consecutive: int = Field(default=2, ge=1)


class OutOfScopeRule(Model):
    model_config = ConfigDict(extra="forbid")

    burn_rate: float = Field(default=1.0, gt=0)
    consecutive: int = Field(default=2, ge=1)


class FastGuard(Model):
    """``slo_guard.fast``: read the SLOs that have a catalog ``fast`` block straight from the services, beside
    Prometheus (docs/slo.md "The fast signal")."""

    model_config = ConfigDict(extra="forbid")

    interval: Duration = 0.1
    window: Duration = 1.0
    consecutive: int = Field(default=2, ge=1)
    min_events: int = Field(default=5, ge=1)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if not 0.05 <= v <= 10:
            raise ValueError("must be between 50ms and 10s")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if not 0.1 <= v <= 60:
            raise ValueError("must be between 100ms and 60s")
        return v


class SloGuardSpec(Model):
    """The ``slo_guard`` block of the chaosrunner extension (see docs/architecture.md, docs/slo.md)."""

    model_config = ConfigDict(extra="forbid")

    slos: list[str] = Field(min_length=1)
    interval: Duration = 1.0
    window: Duration = 5.0
    baseline_window: Duration = 60.0
    abort_on: AbortRule = Field(default_factory=AbortRule)
    unavailable_after: int = Field(default=3, ge=1)
    out_of_scope: bool | OutOfScopeRule = True
    budget_gate: Ratio | Literal[False] | None = None  # None: DEFAULT_BUDGET_GATE; false: explicit opt-out
    recovery_deadline: Duration = 1800.0
    recovery_sustain: Duration = 0.0  # the SLI must stay within objective this long to count as restored
    probes: list[str] = Field(default_factory=list)
    catalog: list[str] = Field(default_factory=lambda: ["probes"])
    prometheus: str | None = Field(default=None, pattern=r"^https?://")
    fast: FastGuard | None = None

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

    @field_validator("budget_gate", mode="before")
    @classmethod
    def _gate(cls, v: Any) -> Any:
        return False if v in (False, "off", "false") else v

    @property
    def effective_budget_gate(self) -> float | None:
        """The gate preflight applies: the declared share, :data:`DEFAULT_BUDGET_GATE` when none is
        declared, None only when the experiment opted out explicitly."""
        if self.budget_gate is False:
            return None
        return DEFAULT_BUDGET_GATE if self.budget_gate is None else self.budget_gate

    @property
    def budget_gate_opted_out(self) -> bool:
        return self.budget_gate is False

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


class OutageCheckSpec(Model):
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


class Timeouts(Model):
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


class Objectives(Model):
    """What the practice expects of the system under this fault — the ``objectives`` block (distinct
    from ``targets``, which selects what to break). Every key is optional; each is compared with the
    measured figure of the same name (docs/glossary.md) and shown ✓/✗ (or "not measured").

    ``rto``/``rpo``/``detect`` are upper bounds in seconds; ``availability_during`` and
    ``users_unaffected`` lower bounds (ratios); ``monthly_budget_use`` an upper bound on the share of the
    month's error budget spent by chaos, month to date; ``figures`` upper bounds on the scenario's own
    measured figures (``{read_rto_s: 5s, rpo_writes_lost: 0}``), numbers in the figure's own unit."""

    model_config = ConfigDict(extra="forbid")

    rto: Duration | None = None
    rpo: Duration | None = None
    detect: Duration | None = None
    availability_during: Ratio | None = None
    users_unaffected: Ratio | None = None
    monthly_budget_use: Ratio | None = None
    figures: dict[str, float] = Field(default_factory=dict)
    critical_slos: list[str] = Field(default_factory=list)  # krkn weighting: 3 points each, others 1

    @field_validator("figures", mode="before")
    @classmethod
    def _figure_bounds(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: (x if isinstance(x, int | float) else _duration_or_number(x)) for k, x in v.items()}
        return v


def _duration_or_number(v: Any) -> float:
    return parse_duration(v)


class ChaosrunnerExtension(Model):
    """The ``chaosrunner`` extension block (docs/experiments.md). Every part is optional: an experiment
    without it runs with default timeouts, no preflight targets and no SLO guard."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["chaosrunner"] = EXTENSION_NAME
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")  # identity for trends
    targets: TargetsSpec | None = None
    blast_radius: BlastRadius | None = None
    slo_guard: SloGuardSpec | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    outage_check: OutageCheckSpec | None = None
    objectives: Objectives | None = None

    @model_validator(mode="after")
    def _targets_need_blast_radius(self) -> ChaosrunnerExtension:
        if self.targets is not None and self.blast_radius is None:
            raise ValueError("targets are declared without a blast_radius to hold them to")
        return self
