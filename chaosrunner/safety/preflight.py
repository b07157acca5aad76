"""Preflight: may this run start? One function, called by ``run`` (refuse → exit 4) and ``plan`` (show).

Checks, in order (docs/architecture.md): kill switch, calendar window (only when the run names a
calendar entry), selector (not empty, not match-everything, at least one match), blast radius per
dimension, error-budget gate, target locks. Every check is evaluated so ``plan`` shows the full
picture with numbers; locks are only taken when everything else passed (a refused run holds nothing).
The budget gate fails closed: if the remaining budget cannot be read, a gated run is refused.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chaosrunner.core.validation import InvalidInput
from chaosrunner.experiment.spec import BlastRadius, OutageCheckSpec, SloGuardSpec
from chaosrunner.faults.fleet import FleetLocks, FleetUnavailable, fleet
from chaosrunner.inventory.base import Target, TargetsSpec, load_inventory, select, selector_problem
from chaosrunner.safety import killswitch, outage
from chaosrunner.safety.blast_radius import Check, check_targets
from chaosrunner.safety.locks import TargetLocks
from chaosrunner.slo.budget import NoTraffic, remaining_budget
from chaosrunner.slo.catalog import SloCatalog, catalog_paths, load_catalog
from chaosrunner.slo.prometheus import PrometheusSource
from chaosrunner.slo.source import SliSource, SliUnavailable, prometheus_url

__all__ = ["BudgetStatus", "Check", "PreflightContext", "PreflightResult", "run_preflight", "budget_status"]


@dataclass
class PreflightContext:
    """What preflight needs. ``population``/``source``/``catalog`` may be given (tests, ``plan``);
    otherwise they are resolved from the specs (inventory, ``slo_guard.catalog``, Prometheus URL)."""

    run_id: str
    targets: TargetsSpec | None = None
    blast_radius: BlastRadius | None = None
    slo_guard: SloGuardSpec | None = None
    outage_check: OutageCheckSpec | None = None
    experiment_path: Path | None = None
    calendar: Path | None = None
    entry: str | None = None
    now: datetime | None = None
    state_root: Path | None = None
    population: list[Target] | None = None
    catalog: SloCatalog | None = None
    source: SliSource | None = None
    acquire_locks: bool = True
    rng: random.Random | None = None


@dataclass
class BudgetStatus:
    """Remaining error budget per SLO (share of the period budget; negative = overspent)."""

    remaining: dict[str, float | None]
    gate: float | None
    allowance: float | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def lowest(self) -> float | None:
        vals = [v for v in self.remaining.values() if v is not None]
        return min(vals) if vals else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "remaining": dict(self.remaining),
            "lowest": self.lowest,
            "gate": self.gate,
            "allowance": self.allowance,
            "errors": dict(self.errors),
        }


@dataclass
class PreflightResult:
    allowed: bool
    checks: list[Check]
    population: list[Target]
    targets: list[Target]
    budget: BudgetStatus | None = None
    locks: TargetLocks | None = None  # held for the run's life (release when it ends)

    @property
    def reason(self) -> str:
        """The first failed check, as a sentence (empty when allowed)."""
        failed = [c for c in self.checks if not c.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
            "targets": [t.to_dict() for t in self.targets],
            "population": len(self.population),
            "budget": self.budget.to_dict() if self.budget else None,
        }


def lock_keys(inventory: str, targets: list[Target]) -> list[str]:
    return [f"{inventory}:{t.id}" for t in targets]


def budget_status(
    catalog: SloCatalog, slo_names: Sequence[str], source: SliSource, gate: float | None, allowance: float | None
) -> BudgetStatus:
    """Remaining budget per SLO over its whole period, service-wide (one query pair per SLO)."""
    remaining: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in slo_names:
        try:
            remaining[name] = remaining_budget(source, catalog.get(name))
        except SliUnavailable as e:
            remaining[name] = None
            errors[name] = str(e) if isinstance(e, NoTraffic) else f"{e.kind}: {e}"
    return BudgetStatus(remaining=remaining, gate=gate, allowance=allowance, errors=errors)


def _kill_switch(ctx: PreflightContext) -> Check:
    ks = killswitch.status(ctx.state_root)
    if ks.engaged:
        return Check(
            "kill_switch",
            False,
            f"chaos is halted: {ks.reason or 'no reason given'}",
            {"engaged_at": ks.engaged_at, "engaged_by": ks.engaged_by},
        )
    return Check("kill_switch", True, "not engaged")


def _calendar(ctx: PreflightContext) -> Check | None:
    if ctx.calendar is None or ctx.entry is None:
        return None
    from datetime import UTC

    from chaosrunner.calendar.model import load_calendar, window_verdict  # only for scheduled runs (start-up)

    cal = load_calendar(ctx.calendar, check_files=False)
    now = ctx.now or datetime.now(UTC)
    try:
        ok, detail = window_verdict(cal, ctx.entry, now)
    except KeyError as e:
        raise InvalidInput(ctx.calendar, [("entries", f"no entry named {ctx.entry!r} ({e})")]) from None
    return Check("calendar_window", ok, detail, {"entry": ctx.entry, "at": now.isoformat()})


def run_preflight(ctx: PreflightContext) -> PreflightResult:
    """Every check, then locks if all passed. Raises InvalidInput only for bad content."""
    checks: list[Check] = [_kill_switch(ctx), outage.preflight_check(ctx.outage_check)]
    cal = _calendar(ctx)
    if cal is not None:
        checks.append(cal)

    spec = ctx.targets
    population: list[Target] = []
    chosen: list[Target] = []
    if spec is not None:
        if ctx.population is not None:
            population = list(ctx.population)
        else:
            try:
                population = load_inventory(spec, experiment_path=ctx.experiment_path).list_targets()
            except InvalidInput:
                raise
            except Exception as e:  # noqa: BLE001 - an unreachable cloud API: refuse (fail closed), no traceback
                detail = f"cannot list the {spec.inventory} inventory: {type(e).__name__}: {e}"
                checks.append(Check("inventory", False, detail[:500]))
        matching, chosen = select(population, spec.select, spec.pick, ctx.rng)
        problem = selector_problem(spec.select, population)
        numbers = {
            "select": dict(spec.select),
            "matching": len(matching),
            "population": len(population),
            "pick": spec.pick,
            "chosen": len(chosen),
        }
        if problem is None and not matching:
            problem = f"selector {dict(spec.select)} matches no target of the {spec.inventory} inventory"
        if problem is not None:
            checks.append(Check("selector", False, problem, numbers))
        else:
            checks.append(
                Check(
                    "selector",
                    True,
                    f"{len(matching)} of {len(population)} targets match, {len(chosen)} chosen",
                    numbers,
                )
            )
    if ctx.blast_radius is not None:
        checks.extend(check_targets(ctx.blast_radius, chosen, population))

    budget: BudgetStatus | None = None
    guard = ctx.slo_guard
    if guard is not None:
        gate = guard.effective_budget_gate
        allowance = ctx.blast_radius.error_budget if ctx.blast_radius else None
        try:
            catalog = ctx.catalog or load_guard_catalog(guard, ctx.experiment_path)
            source = ctx.source or build_sli_source(guard)
            budget = budget_status(catalog, list(guard.slos), source, gate, allowance)
        except NoPrometheus as e:
            budget = BudgetStatus({n: None for n in guard.slos}, gate, allowance, {"*": str(e)})
        checks.append(_budget_check(budget))

    allowed = all(c.ok for c in checks)
    locks = None
    if allowed and ctx.acquire_locks and spec is not None and chosen:
        f = fleet()
        locks = TargetLocks(ctx.state_root, FleetLocks(f) if f is not None else None)
        keys = lock_keys(spec.inventory, chosen)
        try:
            acquired = locks.acquire(ctx.run_id, keys)
        except FleetUnavailable as e:
            checks.append(Check("target_locks", False, f"{e}: target locks cannot be taken (fail closed)",
                                {"keys": keys}))
            return PreflightResult(False, checks, population, chosen, budget, None)
        if acquired:
            checks.append(Check("target_locks", True, f"{len(keys)} target lock(s) held", {"keys": keys}))
        else:
            holders = {k: locks.holder(k) for k in keys}
            busy = {k: h for k, h in holders.items() if h}
            detail = (
                "another run holds a lock on " + ", ".join(
                    f"{k} (run {h.get('run_id')}" + (f" on {h['host']})" if h.get("host") else ")")
                    for k, h in busy.items())
                if busy
                else "another run holds a lock on the same targets"
            )
            checks.append(Check("target_locks", False, detail, {"keys": keys}))
            locks = None
            allowed = False
    return PreflightResult(allowed, checks, population, chosen, budget, locks)


def _budget_check(b: BudgetStatus) -> Check:
    lowest = b.lowest
    numbers = b.to_dict()
    if b.gate is None:
        shown = "unknown" if lowest is None else f"{lowest * 100:.1f}%"
        return Check(
            "error_budget_gate", True, f"opted out: budget_gate: false (lowest remaining budget {shown})", numbers
        )
    unknown = [n for n, v in b.remaining.items() if v is None]
    if unknown:
        why = "; ".join(f"{k}: {v}" for k, v in b.errors.items())
        return Check(
            "error_budget_gate",
            False,
            f"remaining budget unknown for {', '.join(unknown)} (fail closed): {why}",
            numbers,
        )
    low = {n: v for n, v in b.remaining.items() if v is not None and v < b.gate}
    if low:
        worst = min(low, key=lambda n: low[n])
        return Check(
            "error_budget_gate",
            False,
            f"{worst} has {low[worst] * 100:.1f}% of its error budget left, the gate is {b.gate * 100:g}%",
            numbers,
        )
    assert lowest is not None
    return Check(
        "error_budget_gate", True, f"lowest remaining budget {lowest * 100:.1f}%, gate {b.gate * 100:g}%", numbers
    )


class NoPrometheus(Exception):
    pass


def load_guard_catalog(guard: SloGuardSpec, experiment_path: Path | None) -> SloCatalog:

    catalog = load_catalog(catalog_paths(guard.catalog, experiment_path))
    known = ", ".join(sorted(catalog.slos)) or "none"
    problems = [
        (f"slo_guard.slos[{i}]", f"unknown SLO {name!r} (catalog: {known})")
        for i, name in enumerate(guard.slos)
        if name not in catalog.slos
    ]
    problems += [
        (f"slo_guard.probes[{i}]", f"unknown probe {name!r} (catalog: {', '.join(sorted(catalog.probes)) or 'none'})")
        for i, name in enumerate(guard.probes)
        if name not in catalog.probes
    ]
    if problems:
        raise InvalidInput(experiment_path or "experiment", problems)
    return catalog


def build_sli_source(guard: SloGuardSpec) -> SliSource:
    url = prometheus_url(guard.prometheus)
    if url is None:
        raise NoPrometheus("no Prometheus URL (slo_guard.prometheus, $CHAOSRUNNER_PROMETHEUS_URL or the sandbox)")
    return PrometheusSource(url)
