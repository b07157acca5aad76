"""What a run would do, without doing it: the activities in order and the preflight verdict.

:func:`evaluate_preflight` is the one place an experiment is turned into a preflight decision;
``chaosrunner run`` (through the runner) and ``chaosrunner plan`` both call it, so they never disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosrunner.core.ids import new_run_id, try_time
from chaosrunner.core.storage import journal_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.experiment.loader import Experiment, activity_timeout
from chaosrunner.safety.blast_radius import touched
from chaosrunner.safety.preflight import (
    Check,
    NoPrometheus,
    PreflightContext,
    PreflightResult,
    build_sli_source,
    load_guard_catalog,
    run_preflight,
)
from chaosrunner.slo.budget import DEFAULT_CHAOS_CEILING, ChaosSpend, chaos_spend_month_to_date
from chaosrunner.slo.catalog import SloCatalog
from chaosrunner.slo.source import SliSource

log = logging.getLogger("chaosrunner.plan")


@dataclass
class PreflightOutcome:
    result: PreflightResult
    catalog: SloCatalog | None
    source: SliSource | None

    def journal_view(self) -> dict[str, Any]:
        pre = self.result
        return {
            "allowed": pre.allowed,
            "checks": [c.to_dict() for c in pre.checks],
            "budget": pre.budget.to_dict() if pre.budget is not None else None,
        }


def evaluate_preflight(
    experiment: Experiment,
    run_id: str,
    *,
    calendar: Path | None = None,
    calendar_entry: str | None = None,
    acquire_locks: bool = True,
) -> PreflightOutcome:
    """Kill switch, calendar window, targets vs blast radius, budget gate, locks (chaosrunner.safety.preflight).

    An SLO guard with no Prometheus to read is refused here: a guard that cannot see cannot protect.
    Raises InvalidInput for bad content (an SLO name missing from the catalog, a bad inventory file).
    """

    ext = experiment.extension
    catalog = source = None
    missing: Check | None = None
    if ext.slo_guard is not None:
        try:
            catalog = load_guard_catalog(ext.slo_guard, experiment.path)
        except InvalidInput as e:
            if Path(e.file) != Path(experiment.path):
                raise  # a problem inside the catalog file: its own keys
            prefix = f"extensions[{experiment.extension_index}]."
            raise InvalidInput(e.file, [(prefix + key if key else key, msg) for key, msg in e.problems]) from None
        try:
            source = build_sli_source(ext.slo_guard)
        except NoPrometheus as e:
            missing = Check("slo_guard", False, f"the SLO guard cannot watch anything: {e}")
    pre = run_preflight(
        PreflightContext(
            run_id=run_id,
            targets=ext.targets,
            blast_radius=ext.blast_radius,
            slo_guard=ext.slo_guard if missing is None else None,
            outage_check=ext.outage_check,
            experiment_path=experiment.path,
            calendar=calendar,
            entry=calendar_entry,
            catalog=catalog,
            source=source,
            acquire_locks=acquire_locks,
        )
    )
    if missing is not None:
        pre.checks.append(missing)
        pre.allowed = False
        if pre.locks is not None:
            pre.locks.release()
            pre.locks = None
    return PreflightOutcome(pre, catalog, source)


def _describe_activity(
    activity: dict[str, Any], phase: str, default_timeout_s: float, background_timeout_s: float | None = None
) -> dict[str, Any]:
    if "ref" in activity and "provider" not in activity:
        return {"phase": phase, "name": f"ref:{activity['ref']}", "type": None, "provider": None, "call": None}
    provider = activity.get("provider") or {}
    ptype = provider.get("type")
    call = {
        "python": f"{provider.get('module')}.{provider.get('func')}",
        "http": f"{provider.get('method', 'GET')} {provider.get('url')}",
        "process": f"{provider.get('path')} {provider.get('arguments') or ''}".strip(),
    }.get(str(ptype))
    timeout = activity_timeout(activity, default_timeout_s, background_timeout_s)
    if timeout is None and provider.get("timeout") is not None:
        timeout = provider.get("timeout")
    return {
        "phase": phase,
        "name": activity.get("name"),
        "type": activity.get("type"),
        "provider": ptype,
        "call": call,
        "arguments": provider.get("arguments") if ptype == "python" else None,
        "timeout_s": timeout,
        "pauses": activity.get("pauses"),
        "background": bool(activity.get("background")),
    }


def build_plan(
    experiment: Experiment,
    *,
    variables: dict[str, Any] | None = None,
    calendar: Path | None = None,
    calendar_entry: str | None = None,
) -> dict[str, Any]:
    """The dry run as plain data (``plan --json`` prints it as is)."""

    doc = experiment.doc
    limits = (experiment.extension.timeouts.activity, experiment.extension.timeouts.background)
    ssh = doc.get("steady-state-hypothesis") or {}
    activities = (
        [_describe_activity(a, "steady-state-before", *limits) for a in ssh.get("probes", [])]
        + [_describe_activity(a, "method", *limits) for a in doc.get("method", [])]
        + [_describe_activity(a, "steady-state-after", *limits) for a in ssh.get("probes", [])]
        + [_describe_activity(a, "rollback", *limits) for a in doc.get("rollbacks", [])]
    )
    outcome = evaluate_preflight(
        experiment, new_run_id(experiment.title), calendar=calendar, calendar_entry=calendar_entry, acquire_locks=False
    )
    pre = outcome.result
    ext = experiment.extension
    return {
        "experiment": str(experiment.path),
        "title": experiment.title,
        "variables": sorted((variables or {}).keys()),
        "activities": activities,
        "rollbacks_always": True,
        "preflight": outcome.journal_view(),
        "targets": [t.to_dict() for t in pre.targets],
        "blast_radius": {
            "declared": ext.blast_radius.model_dump(mode="json") if ext.blast_radius else None,
            "touched": touched(pre.targets),
        },
        "slo_guard": ext.slo_guard.model_dump(mode="json") if ext.slo_guard else None,
        "objectives": ext.objectives.model_dump(mode="json") if ext.objectives else None,
        "chaos_spend": chaos_spend_now(
            ext.objectives.monthly_budget_use if ext.objectives and ext.objectives.monthly_budget_use else None
        ).to_json(),
    }


def chaos_spend_now(ceiling: float | None = None) -> ChaosSpend:
    """The error budget chaos has used this month (UTC month), from the journal store; the practice's
    ceiling unless the experiment declares ``objectives.monthly_budget_use``."""
    from chaosrunner.journal.store import list_journals  # the store and its readers: only here (start-up)

    runs = []
    try:
        for s in list_journals(journal_dir()).summaries:
            if s.verdict not in ("refused", "invalid") and (t := try_time(s.started_at)) is not None:
                runs.append((t, s.budget_spent))
    except OSError as e:  # the decision: the spend is what could be read, and the log says it is partial
        log.warning("chaos spend this month is a lower bound: the journal store could not be read: %s", e)
    return chaos_spend_month_to_date(runs, datetime.now(UTC), ceiling=ceiling or DEFAULT_CHAOS_CEILING)


def render_plan(plan: dict[str, Any]) -> str:
    """A plain-text rendering for people (no colour codes: it is pasted into tickets)."""
    lines = [f"plan for {plan['title']} ({plan['experiment']}) — injects nothing", "", "activities:"]
    for a in plan["activities"]:
        extra = []
        if a.get("timeout_s") is not None:
            extra.append(f"timeout {a['timeout_s']}s")
        if a.get("pauses"):
            extra.append(f"pauses {a['pauses']}")
        if a.get("background"):
            extra.append("background")
        suffix = f"  [{', '.join(extra)}]" if extra else ""
        lines.append(f"  {a['phase']:<19} {a['type'] or '':<6} {a['name']}: {a['provider']} {a['call']}{suffix}")
    lines.append("  rollbacks run always: after failures, aborts, Ctrl-C and SIGTERM")
    lines += ["", "targets:"]
    lines += [f"  {t['id']} (service {t['service']}, {t['region']}/{t['zone']}, tier {t['tier']})"
              for t in plan["targets"]] or ["  (none declared)"]
    pre = plan["preflight"]
    lines += ["", f"preflight: {'ALLOWED' if pre['allowed'] else 'REFUSED'}"]
    for c in pre["checks"]:
        lines.append(f"  [{'ok' if c['ok'] else 'NO'}] {c['name']}: {c['detail']}")
    spend = plan.get("chaos_spend")
    if spend:
        mark = {True: "ok", False: "OVER", None: "unknown"}[spend["within_ceiling"]]
        lower = "≥ " if spend["unknown"] else ""
        lines.append(
            f"  [{mark}] chaos budget {spend['month']}: {lower}{spend['used'] * 100:.3g}% of the monthly error budget "
            f"used by {spend['runs']} run(s), ceiling {spend['ceiling'] * 100:g}%"
        )
    if plan.get("objectives"):
        targets = ", ".join(f"{k} {v}" for k, v in plan["objectives"].items() if v not in (None, {}, []))
        lines += ["", f"targets: {targets}"]
    return "\n".join(lines)
