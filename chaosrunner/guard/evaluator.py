"""The guard's decisions, pure: given one sample of readings (per SLO and scope: bad and total rates) the
:class:`Evaluator` updates its counters and budget accounting and returns an abort reason or None.
Tested without servers, threads or clocks (see :mod:`chaosrunner.guard.sampler` for the I/O side).

Units: rates are events/s, ratios in [0, 1], times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaosrunner.experiment.spec import SloGuardSpec
from chaosrunner.slo.budget import burn_rate, period_budget_events
from chaosrunner.slo.catalog import Scope, Slo


@dataclass(frozen=True)
class Reading:
    """One SLO in one scope at one sample: rates in events/s; ``error`` set when unavailable."""

    slo: str
    scope: str
    bad_rate: float | None = None
    total_rate: float | None = None
    error: str | None = None
    quantile_s: float | None = None
    source_failed: bool = False  # the error is the source's failure, not an answer without a value

    @property
    def ratio(self) -> float | None:
        if self.error is not None or self.bad_rate is None or not self.total_rate:
            return None
        return min(1.0, max(0.0, self.bad_rate / self.total_rate))


@dataclass
class SloBudget:
    """Run budget accounting for one SLO (service-wide). ``spent`` is a share of the period budget."""

    objective: float
    period_s: float
    baseline_ratio: float = 0.0
    baseline_total_rate: float = 0.0
    remaining_before: float | None = None
    extra_bad_events: float = 0.0
    spent: float = 0.0

    def add(self, bad_rate: float, total_rate: float, dt_s: float) -> None:
        extra = max(0.0, bad_rate - self.baseline_ratio * total_rate) * dt_s
        self.extra_bad_events += extra
        if self.baseline_total_rate <= 0 and total_rate > 0:
            self.baseline_total_rate = total_rate
        budget = period_budget_events(self.objective, self.baseline_total_rate, self.period_s)
        if budget > 0:
            self.spent = self.extra_bad_events / budget
        elif self.extra_bad_events > 0:
            self.spent = math.inf


def scope_kind(scope: str) -> str:
    return "out" if scope.startswith("out") else ("service" if scope == "service" else "in")


def vantage_mark(slo: Slo) -> dict[str, str]:
    """What a journal reading carries about where it was measured: ``{"vantage": "client"}`` or nothing."""
    return {"vantage": "client"} if slo.vantage == "client" else {}


class Evaluator:
    """Pure guard logic: feed it samples, it says when to abort and why."""

    def __init__(
        self,
        spec: SloGuardSpec,
        slos: Sequence[Slo],
        scopes: dict[str, list[Scope]],
        allowance: float | None,
    ) -> None:
        self.spec = spec
        self.slos = {s.name: s for s in slos}
        self.scopes = scopes
        self.allowance = allowance
        self.oos_rule = spec.out_of_scope_rule()
        self.over: dict[tuple[str, str], int] = {}
        self.unavailable = 0
        self.budgets: dict[str, SloBudget] = {s.name: SloBudget(objective=s.objective, period_s=s.window) for s in slos}
        self.first_breach_elapsed_s: float | None = None
        self.probe_failures: dict[str, int] = {}

    def budget_scope(self, slo: str) -> str:
        """The scope that measures the whole service (budget accounting)."""
        names = [s.name for s in self.scopes[slo]]
        if "service" in names:
            return "service"
        return names[0]

    def evaluate(self, readings: Sequence[Reading], elapsed_s: float, dt_s: float) -> tuple[str | None, dict]:
        """Update state with one sample; ``(abort reason or None, sample record for the journal)``."""
        record: dict[str, Any] = {}
        reasons: list[str] = []
        missing: list[str] = []
        by_key = {(r.slo, r.scope): r for r in readings}
        for r in readings:
            slo = self.slos[r.slo]
            kind = scope_kind(r.scope)
            key = r.slo if r.scope == "in" else f"{r.slo}@{r.scope}"
            ratio = r.ratio
            burn = None if ratio is None else burn_rate(ratio, slo.objective)
            entry: dict[str, Any] = {"sli": ratio, "burn_rate": burn, "scope": kind, **vantage_mark(slo)}
            if r.quantile_s is not None and math.isfinite(r.quantile_s):
                entry["quantile_s"] = r.quantile_s
            if r.error is not None:
                entry["error"] = r.error
            record[key] = entry
            if ratio is None and kind == "in":
                missing.append(f"{key}: {r.error or 'no traffic'}")
            if burn is None:
                if kind != "service":
                    self.over[(r.slo, r.scope)] = 0
                continue
            if kind == "in":
                limit, need = self.spec.abort_on.burn_rate, self.spec.abort_on.consecutive
            elif kind == "out" and self.oos_rule is not None:
                limit, need = self.oos_rule.burn_rate, self.oos_rule.consecutive
            else:
                continue
            if burn > limit:
                self.over[(r.slo, r.scope)] = self.over.get((r.slo, r.scope), 0) + 1
                if self.first_breach_elapsed_s is None:
                    self.first_breach_elapsed_s = elapsed_s
                if self.over[(r.slo, r.scope)] >= need:
                    if kind == "in":
                        reasons.append(
                            f"burn rate {burn:.1f}x on {r.slo} (in scope) above the limit "
                            f"{limit:g}x for {need} consecutive samples"
                        )
                    else:
                        reasons.append(
                            f"impact escaped the blast radius: {r.slo} {_where(r.scope)} burns {burn:.1f}x "
                            f"(limit {limit:g}x) for {need} consecutive samples"
                        )
            else:
                self.over[(r.slo, r.scope)] = 0
        for name, budget in self.budgets.items():
            r2 = by_key.get((name, self.budget_scope(name)))
            if r2 is not None and r2.error is None and r2.bad_rate is not None and r2.total_rate is not None:
                budget.add(max(0.0, r2.bad_rate), max(0.0, r2.total_rate), dt_s)
        spent = max((b.spent for b in self.budgets.values()), default=0.0)
        if self.allowance is not None and spent >= self.allowance:
            worst = max(self.budgets.items(), key=lambda kv: kv[1].spent)[0]
            reasons.append(
                f"the run spent {spent * 100:.3g}% of {worst}'s error budget, its allowance is "
                f"{self.allowance * 100:g}%"
            )
        if missing:
            self.unavailable += 1
            if self.unavailable >= self.spec.unavailable_after:
                reasons.append(
                    f"SLO data unavailable for {self.unavailable} consecutive samples (fail closed): "
                    + "; ".join(missing)
                )
        else:
            self.unavailable = 0
        sample = {"slos": record, "budget_spent": spent if math.isfinite(spent) else None}
        return (reasons[0] if reasons else None), sample

    def evaluate_probe(self, name: str, ok: bool, detail: str) -> str | None:
        """Count consecutive failures of one health probe; the abort reason once there are enough."""
        self.probe_failures[name] = 0 if ok else self.probe_failures.get(name, 0) + 1
        need = self.spec.abort_on.consecutive
        if self.probe_failures[name] >= need:
            return f"health probe {name} failed {need} consecutive times: {detail}"
        return None

    def budget_summary(self) -> dict[str, Any]:
        per = {}
        for name, b in self.budgets.items():
            after = None if b.remaining_before is None else b.remaining_before - b.spent
            per[name] = {
                "before": b.remaining_before,
                "after": after,
                "spent": b.spent if math.isfinite(b.spent) else None,
                "extra_bad_events": b.extra_bad_events,
                "baseline_ratio": b.baseline_ratio,
                "baseline_total_rate": b.baseline_total_rate,
            }
        worst = max(self.budgets.values(), key=lambda b: b.spent, default=None)
        befores = [b.remaining_before for b in self.budgets.values() if b.remaining_before is not None]
        spent = worst.spent if worst is not None and math.isfinite(worst.spent) else None
        before = min(befores) if befores else None
        return {
            "before": before,
            "after": None if before is None or spent is None else before - spent,
            "spent": spent,
            "allowance": self.allowance,
            "per_slo": per,
        }


def _where(scope: str) -> str:
    if scope == "out:service":
        return "(a service that is not targeted)"
    return f"outside the targeted {scope.split(':', 1)[1]}s"
