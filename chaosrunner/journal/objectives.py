"""Measured against declared: each objective an experiment declares (RTO, RPO, availability during the fault,
users unaffected, monthly budget use) checked against what the journal measured, with ✓/✗ — and unknown,
never a guess, when a figure cannot be measured. The measurements themselves are in
:mod:`chaosrunner.journal.resilience`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chaosrunner.core.ids import try_time
from chaosrunner.experiment.spec import Objectives
from chaosrunner.journal.resilience import (
    client_readings,
    client_recovery,
    extension_block,
    guard_samples,
    injected_at,
    rollback_done_at,
    rpo,
)
from chaosrunner.slo.budget import ChaosSpend


@dataclass
class ObjectiveCheck:
    """One row of "measured vs target": ``met`` is True (✓), False (✗) or None (not measured)."""

    key: str
    label: str
    target: str
    measured: str
    met: bool | None

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "?"}[self.met]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "target": self.target, "measured": self.measured, "met": self.met}


def objectives(j: Any) -> Any:
    """The experiment's declared ``objectives`` (an :class:`~chaosrunner.experiment.spec.Objectives`),
    or None when none are declared or the block cannot be read (shown as "no targets declared")."""
    block = extension_block(j).get("objectives")
    if not isinstance(block, dict):
        return None
    try:
        return Objectives.model_validate(block)
    except ValidationError:
        return None


def _secs(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if v == 0:
        return "0 s"
    if abs(v) < 1:
        return f"{v * 1000:.0f} ms"
    if abs(v) < 60:
        return f"{v:.1f} s"
    return f"{int(v // 60)} min {int(v % 60):02d} s"


def _pct(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v * 100:.3g} %"


def availability_during(j: Any) -> tuple[float | None, str]:
    """Share of requests served well while the fault was live: an activity's ``availability_during``
    figure, else from the guard: 1 − the worst client-visible SLI's mean over the samples from the
    injection to the restored moment (to the last sample when never restored)."""
    s = j.chaosrunner
    figs = (s.figures or {}) if s is not None else {}
    v = figs.get("availability_during")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v), "measured by the scenario"
    t_inj = injected_at(j)
    if t_inj is None:
        return None, "not measured"
    rec = client_recovery(j)
    until = rec.restored_at if rec.status == "restored" else rollback_done_at(j)
    per: dict[str, list[float]] = {}
    for smp in guard_samples(j):
        t = try_time(smp.get("t"))
        if t is None or t < t_inj or (until is not None and rec.status == "restored" and t > until):
            continue
        for name, r in client_readings(smp).items():
            sli = r.get("sli")
            if isinstance(sli, int | float) and math.isfinite(sli):
                per.setdefault(name, []).append(float(sli))
    if not per:
        return None, "not measured (no guard samples during the fault)"
    worst = max(per, key=lambda n: sum(per[n]) / len(per[n]))
    return 1.0 - sum(per[worst]) / len(per[worst]), f"guard: worst SLI {worst}, {len(per[worst])} samples"


def objective_checks(j: Any, *, chaos_spend: ChaosSpend | None = None) -> list[ObjectiveCheck]:
    """Every declared objective next to its measurement. ``chaos_spend``: the month's budget share
    used by chaos up to this run (:func:`chaosrunner.slo.budget.chaos_spend_month_to_date`), when the
    caller read the store."""
    o = objectives(j)
    if o is None:
        return []
    out: list[ObjectiveCheck] = []
    s = j.chaosrunner
    if o.rto is not None:
        rec = client_recovery(j)
        if rec.status in ("restored", "no-impact"):
            text = _secs(rec.rto_s) + (" (no client-visible impact)" if rec.status == "no-impact" else "")
            out.append(ObjectiveCheck("rto", "RTO", f"≤ {_secs(o.rto)}", text, (rec.rto_s or 0.0) <= o.rto))
        elif rec.status == "not-restored":
            out.append(ObjectiveCheck("rto", "RTO", f"≤ {_secs(o.rto)}", "not restored", False))
        else:
            out.append(ObjectiveCheck("rto", "RTO", f"≤ {_secs(o.rto)}", "not measured", None))
    if o.detect is not None:
        d = s.timings.time_to_detect_s if s is not None and s.timings is not None else None
        out.append(
            ObjectiveCheck(
                "detect",
                "time to detect",
                f"≤ {_secs(o.detect)}",
                _secs(d) if d is not None else "no breach detected",
                None if d is None else d <= o.detect,
            )
        )
    if o.rpo is not None:
        lost, how = rpo(j)
        if lost is not None:
            out.append(
                ObjectiveCheck("rpo", "RPO (data lost)", f"≤ {_secs(o.rpo)}", f"{_secs(lost)} ({how})", lost <= o.rpo)
            )
        else:
            met = False if "writes lost" in how else None
            out.append(ObjectiveCheck("rpo", "RPO (data lost)", f"≤ {_secs(o.rpo)}", how, met))
    if o.availability_during is not None:
        v, how = availability_during(j)
        out.append(
            ObjectiveCheck(
                "availability_during",
                "availability during the fault",
                f"≥ {_pct(o.availability_during)}",
                f"{_pct(v)} ({how})" if v is not None else how,
                None if v is None else v >= o.availability_during,
            )
        )
    if o.users_unaffected is not None:
        figs = (s.figures or {}) if s is not None else {}
        v = figs.get("users_unaffected")
        uv = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
        ok = uv is not None
        out.append(
            ObjectiveCheck(
                "users_unaffected",
                "users unaffected",
                f"≥ {_pct(o.users_unaffected)}",
                _pct(uv) if uv is not None else "not measured (no users_unaffected figure)",
                (uv >= o.users_unaffected) if uv is not None else None,
            )
        )
    if o.monthly_budget_use is not None:
        bound = f"≤ {_pct(o.monthly_budget_use)}"
        label = "error budget used by chaos, month to date"
        if chaos_spend is None:
            out.append(ObjectiveCheck("monthly_budget_use", label, bound, "unknown (store not read)", None))
        else:
            used = _pct(chaos_spend.used)
            text = (
                f"≥ {used} ({chaos_spend.unknown} of {chaos_spend.runs} runs unknown)"
                if chaos_spend.lower_bound
                else f"{used} over {chaos_spend.runs} run(s) in {chaos_spend.month}"
            )
            met = (
                chaos_spend.used <= o.monthly_budget_use
                if not chaos_spend.lower_bound
                else (False if chaos_spend.used > o.monthly_budget_use else None)
            )
            out.append(ObjectiveCheck("monthly_budget_use", label, bound, text, met))
    figs = (s.figures or {}) if s is not None else {}
    for name, bound in o.figures.items():
        v = figs.get(name)
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        out.append(
            ObjectiveCheck(
                f"figures.{name}",
                name,
                f"≤ {bound:g}",
                f"{v:g}" if ok else "not measured",
                (v <= bound) if ok else None,
            )
        )
    return out
