"""What a report shows about one run, computed once (pure): the HTML and Markdown renderers only format it.

Everything here reads a validated :class:`~chaosrunner.journal.schema.Journal`; any field may be absent
(plain ``chaos run`` journals, ``kill -9`` leftovers), and absence is shown as absence ("—"), never as 0.
The pieces are laid out by :mod:`.charts` (guard series) and :mod:`.timeline` (moments, activities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from chaosrunner.core import verdict as verdicts
from chaosrunner.core.ids import try_time
from chaosrunner.journal import objectives, resilience
from chaosrunner.journal.objectives import ObjectiveCheck
from chaosrunner.journal.schema import Journal
from chaosrunner.journal.store import LoadedJournal
from chaosrunner.journal.summary import JournalSummary, activity_errors, extension_block
from chaosrunner.report.charts import Chart, Marker, build_chart, finite
from chaosrunner.report.formatting import fmt_number, fmt_ratio, fmt_seconds, fmt_time, fmt_value
from chaosrunner.report.timeline import Timeline, build_timeline, guard_origin, key_moments, run_bounds
from chaosrunner.slo.budget import ChaosSpend


@dataclass
class RunView:
    run_id: str
    title: str
    path: str
    kind: str
    verdict: str
    verdict_text: str
    verdict_label: str  # what the banner says: the verdict, or "incomplete" for a run that never ended
    reason: str | None
    complete: bool
    facts: list[tuple[str, str]]  # label, value: trigger, entry, start, end, duration, ...
    notes: list[str]  # what is absent and why
    timeline: Timeline | None
    markers: list[Marker]
    charts: list[Chart]
    blast_radius: list[tuple[str, str, str]]  # dimension, declared, touched
    targets: list[dict[str, str]]
    target_columns: list[str]
    preflight: list[dict[str, str]]
    timings: list[tuple[str, str]]
    figures: list[tuple[str, str]]
    budget: list[tuple[str, str]]
    decisions: list[tuple[str, str, str]]
    ledger: list[dict[str, str]]
    errors: list[tuple[str, str]]
    summary: JournalSummary
    headline: str = ""  # the one-line answer: verdict, recovery, targets, what broke
    objectives: list[ObjectiveCheck] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # phase, activity, error
    recovery: list[tuple[str, str]] = field(default_factory=list)  # the recovery story, label → text
    statistics: list[str] = field(default_factory=list)  # one sentence per guarded SLI
    budget_notes: list[str] = field(default_factory=list)
    context: list[tuple[str, str]] = field(default_factory=list)  # facilitator, notes (game-day plan)
    extra: dict[str, Any] = field(default_factory=dict)


def _charts(j: Journal, markers: list[Marker]) -> list[Chart]:
    s = j.chaosrunner
    if s is None or s.guard is None or not s.guard.samples:
        return []
    samples = s.guard.samples
    origin = guard_origin(j)
    sli: dict[str, list[tuple[float, float]]] = {}
    burn: dict[str, list[tuple[float, float]]] = {}
    budget: list[tuple[float, float]] = []
    for i, smp in enumerate(samples):
        x = finite(smp.elapsed_s)
        if x is None and origin is not None and (t := try_time(smp.t)):
            x = (t - origin).total_seconds()
        if x is None:
            x = float(i)
        for name, reading in smp.slos.items():
            if reading is None:
                continue
            label = f"{name} ({reading.scope})" if reading.scope else name
            if (v := finite(reading.sli)) is not None:
                sli.setdefault(label, []).append((x, v))
            if (v := finite(reading.burn_rate)) is not None:
                burn.setdefault(label, []).append((x, v))
        if (v := finite(smp.budget_spent)) is not None:
            budget.append((x, v))
    chart_markers = []
    if origin is not None:
        chart_markers = [(m.kind, m.label, (m.at - origin).total_seconds()) for m in markers]
    limit = _burn_limit(j)
    allowance = s.guard.budget.allowance if s.guard.budget else None
    charts = [
        build_chart("sli", "SLI — bad events (error ratio / slow share)", sli, unit="%", markers=chart_markers),
        build_chart(
            "burn",
            "Error-budget burn rate (× sustainable)",
            burn,
            unit="×",
            threshold=limit,
            threshold_label=f"abort at {fmt_number(limit)}×" if limit is not None else "",
            markers=chart_markers,
        ),
        build_chart(
            "budget",
            "Monthly error budget spent by this run",
            {"budget spent": budget} if budget else {},
            unit="%",
            threshold=finite(allowance),
            threshold_label=f"allowance {fmt_ratio(allowance)}" if allowance is not None else "",
            markers=chart_markers,
        ),
    ]
    return charts


def _burn_limit(j: Journal) -> float | None:
    guard = extension_block(j).get("slo_guard")
    if isinstance(guard, dict):
        abort_on = guard.get("abort_on")
        if isinstance(abort_on, dict):
            return finite(abort_on.get("burn_rate"))
    return None


def _blast_radius(j: Journal) -> list[tuple[str, str, str]]:
    s = j.chaosrunner
    if s is None or s.blast_radius is None:
        return []
    declared = s.blast_radius.declared or {}
    touched = s.blast_radius.touched
    t: dict[str, Any] = {}
    if touched is not None:
        t = {
            "max_targets": touched.targets,
            "zones": len(touched.zones),
            "regions": len(touched.regions),
            "services": touched.services,
        }
        t["_zones"] = touched.zones
        t["_regions"] = touched.regions
    rows = []
    names = list(dict.fromkeys([*declared.keys(), "max_targets", "zones", "regions", "services"]))
    for name in names:
        dv = declared.get(name)
        tv = t.get(name)
        if name in ("zones", "regions") and touched is not None:
            listed = t.get(f"_{name}") or []
            tv_s = f"{tv} ({', '.join(listed)})" if listed else str(tv)
        else:
            tv_s = fmt_value(tv) if name in t else "—"
        if dv is None and name not in t:
            continue
        rows.append((name, fmt_value(dv), tv_s))
    return rows


def _targets(j: Journal) -> tuple[list[str], list[dict[str, str]]]:
    s = j.chaosrunner
    if s is None or not s.targets:
        return [], []
    cols = ["id", "service", "region", "zone", "tier"]
    extra = []
    for t in s.targets:
        for k in t:
            if k not in cols and k not in extra:
                extra.append(k)
    cols = cols + extra
    return cols, [{c: fmt_value(t.get(c)) for c in cols} for t in s.targets]


def run_view(loaded: LoadedJournal, *, chaos_spend: ChaosSpend | None = None, tz: tzinfo = UTC) -> RunView:
    """The whole story of one run, ready to format. ``chaos_spend``: the month's error budget used by
    chaos up to this run (:func:`chaosrunner.journal.spend.chaos_spend_for`; compared with
    ``objectives.monthly_budget_use``).
    ``tz``: the zone times are shown in (the calendar's)."""
    j = loaded.journal
    s = j.chaosrunner
    summary = loaded.summary
    verdict = summary.verdict
    markers = key_moments(j)
    notes = []
    if s is None:
        notes.append(
            "Plain Chaos Toolkit journal (no chaosrunner section): guard samples, blast radius, "
            "error budget, targets and resilience timings are absent; the verdict is derived from "
            "the activities and steady states, not from Chaos Toolkit's status."
        )
    elif not summary.complete:
        notes.append(
            "Incomplete journal: the runner stopped without finishing (killed or crashed). "
            "It shows the activities done up to the last write."
            + (f" Faults were reverted by: {s.recovered_by}." if s.recovered_by else "")
        )
    elif s.recovered_by:
        notes.append(f"Faults were reverted by: {s.recovered_by}.")
    start, end = run_bounds(j)
    facts = [
        ("run id", summary.run_id),
        ("experiment", summary.experiment),
        ("trigger", summary.trigger or "—"),
        ("calendar entry", summary.calendar_entry or "—"),
        ("started", fmt_time(summary.started_at, tz)),
        (
            "ended",
            fmt_time(summary.ended_at, tz)
            if summary.ended_at
            else ("— (never ended)" if not summary.complete else "—"),
        ),
        ("duration", fmt_seconds(summary.duration_s)),
        ("Chaos Toolkit status", j.status or "—"),
    ]
    if s is not None and s.exit_code is not None:
        facts.append(("exit code", str(s.exit_code)))
    timings: list[tuple[str, str]] = []
    budget_notes: list[str] = []
    figures: list[tuple[str, str]] = []
    budget: list[tuple[str, str]] = []
    decisions: list[tuple[str, str, str]] = []
    ledger: list[dict[str, str]] = []
    preflight: list[dict[str, str]] = []
    if s is not None:
        tm = s.timings
        rec = resilience.client_recovery(j)
        lost, lost_how = resilience.rpo(j)
        timings = [
            ("time to detect", fmt_seconds(tm.time_to_detect_s if tm else None)),
            ("time to abort", fmt_seconds(tm.time_to_abort_s if tm else None)),
            ("time to roll back", fmt_seconds(tm.time_to_rollback_s if tm else None)),
            ("RTO (fault injected → restored as clients see it)", _rto_text(rec)),
            ("time to recover (rolled back → restored)", fmt_seconds(summary.time_to_recover_s)),
            ("RPO (data lost)", fmt_seconds(lost) if lost is not None else lost_how),
        ]
        figures = [(k, fmt_value(v)) for k, v in (s.figures or {}).items()]
        budget, budget_notes = _budget(j)
        if s.guard:
            decisions = [(fmt_time(d.t, tz), d.action or "—", d.reason or "—") for d in s.guard.decisions]
        ledger = [
            {
                "fault": e.fault or "—",
                "target": e.target or "—",
                "recorded": fmt_time(e.recorded_at, tz),
                "outcome": e.outcome or "still open",
                "closed": fmt_time(e.closed_at, tz),
            }
            for e in s.ledger
        ]
        if s.preflight:
            preflight = [
                {
                    "check": c.name or "—",
                    "ok": "ok" if c.ok else ("refused" if c.ok is False else "—"),
                    "detail": c.detail or "",
                    "numbers": fmt_value(c.numbers) if c.numbers else "",
                }
                for c in s.preflight.checks
            ]
    target_cols, targets = _targets(j)
    checks = objectives.objective_checks(j, chaos_spend=chaos_spend)
    reason = summary.reason
    if s is not None and s.abort and s.abort.reason and not reason:
        reason = s.abort.reason
    return RunView(
        run_id=summary.run_id,
        title=summary.title,
        path=str(loaded.path),
        kind=summary.kind,
        verdict=verdict,
        verdict_text=verdicts.text(verdict),
        verdict_label=verdicts.label(verdict, complete=summary.complete),
        reason=reason,
        complete=summary.complete,
        facts=facts,
        notes=notes,
        timeline=build_timeline(j, markers),
        markers=markers,
        charts=_charts(j, markers),
        blast_radius=_blast_radius(j),
        targets=targets,
        target_columns=target_cols,
        preflight=preflight,
        timings=timings,
        figures=figures,
        budget=budget,
        decisions=decisions,
        ledger=ledger,
        errors=activity_errors(j),
        summary=summary,
        headline=headline(j, summary, checks),
        objectives=checks,
        failed=[(a.phase, a.name, a.error or "failed") for a in resilience.failed_activities(j)],
        recovery=_recovery_story(j, summary),
        statistics=steady_state_lines(j),
        budget_notes=budget_notes,
        context=_context(j),
        extra={"start": start, "end": end, "tz": tz, "started_local": fmt_time(summary.started_at, tz)},
    )


def _rto_text(rec: resilience.Recovery) -> str:
    if rec.status == "no-impact":
        return "0 s — no client-visible impact"
    if rec.status == "restored":
        return fmt_seconds(rec.rto_s)
    if rec.status == "not-restored":
        return "not restored"
    return "unknown"


def _verdict_phrase(verdict: str, summary: JournalSummary) -> str:
    phrases: dict[str, str] = {
        verdicts.Verdict.PASSED: "Held",
        verdicts.Verdict.DEVIATED: "Deviated — weakness found",
        verdicts.Verdict.FAILED: "Failed",
        verdicts.Verdict.ABORTED: "Aborted by the safety net",
        verdicts.Verdict.INTERRUPTED: "Interrupted by an operator",
        verdicts.Verdict.REFUSED: "Refused — nothing injected",
        verdicts.Verdict.ROLLBACK_FAILED: "Rollback failed — a fault may still be in place",
    }
    return phrases.get(verdict, verdicts.label(verdict, complete=summary.complete).capitalize())


def headline(j: Journal, summary: JournalSummary, checks: list[ObjectiveCheck]) -> str:
    """The one line a facilitator reads first: what happened, how fast clients got service back, the
    targets, and what broke."""
    parts = [_verdict_phrase(summary.verdict, summary)]
    if summary.verdict in (verdicts.Verdict.REFUSED, verdicts.Verdict.INVALID):
        if summary.reason:
            parts.append(summary.reason)
        return " · ".join(parts)
    failed = resilience.failed_activities(j)
    if failed:
        a = failed[0]
        parts.append(f"{a.name} ({a.phase}) failed: {(a.error or 'failed').splitlines()[0][:160]}")
    elif summary.verdict == verdicts.Verdict.ABORTED and summary.reason:
        parts.append(summary.reason[:160])
    rec = resilience.client_recovery(j)
    if j.chaosrunner is not None and rec.status != "unknown":
        text = f"RTO {_rto_text(rec)}"
        if rec.status == "restored" and rec.after_rollback_s is not None:
            text += f" (restored {fmt_seconds(max(0.0, rec.after_rollback_s))} after rollback)"
        parts.append(text)
    if checks:
        met = sum(1 for c in checks if c.met is True)
        missed = [c for c in checks if c.met is False]
        line = f"targets {met}/{len(checks)} met"
        if missed:
            line += " — missed: " + ", ".join(f"{c.label} {c.measured} vs {c.target}" for c in missed)
        parts.append(line)
    elif j.chaosrunner is not None:
        parts.append("no targets declared")
    return " · ".join(parts)


def _recovery_story(j: Journal, summary: JournalSummary) -> list[tuple[str, str]]:
    s = j.chaosrunner
    if s is None or summary.verdict in (verdicts.Verdict.REFUSED, verdicts.Verdict.INVALID):
        return []
    rec = resilience.client_recovery(j)
    rows = [("restored as clients see it", resilience_text(rec))]
    watch = s.guard.recovery if s.guard is not None else None
    if isinstance(watch, dict):
        when = "after the abort" if s.abort is not None else "after the rollbacks"
        if watch.get("recovered") is True:
            rows.append(
                (f"recovery watch {when}", f"SLOs back within objective after {fmt_seconds(watch.get('seconds'))}")
            )
        elif watch.get("recovered") is False:
            rows.append((f"recovery watch {when}", str(watch.get("reason") or "not recovered")))
    elif s.abort is not None:
        rows.append(
            ("recovery watch after the abort", "not run (journal written before recovery was watched after aborts)")
        )
    return rows


def resilience_text(rec: resilience.Recovery) -> str:
    if rec.status == "restored":
        return f"RTO {fmt_seconds(rec.rto_s)} — {rec.detail}"
    if rec.status == "no-impact":
        return f"no client-visible impact — {rec.detail}"
    return f"{rec.status.replace('-', ' ')} — {rec.detail}"


def _budget(j: Journal) -> tuple[list[tuple[str, str]], list[str]]:
    """Budget rows that never claim what was not measured: an unknown remaining budget is "unknown"
    (never 100 %), a remaining budget computed over less history than the SLO window is "unknown", and
    the spend is a lower bound when the in-scope SLI went unobserved."""
    s = j.chaosrunner
    if s is None or s.guard is None or s.guard.budget is None:
        return [], []
    b = s.guard.budget
    extra = b.model_extra or {}
    notes: list[str] = []
    short = extra.get("history_short")
    before_text = fmt_ratio(b.before) if b.before is not None else "unknown"
    after_text = fmt_ratio(b.after) if b.after is not None and b.before is not None else "unknown"
    if isinstance(short, str) and short:
        before_text = after_text = "unknown"
        notes.append(f"Remaining budget unknown: {short}.")
    elif b.before is not None and b.before < 0:
        notes.append(
            "The remaining budget computed below 0 %: either the SLO is overspent or Prometheus holds less "
            "history than the SLO window (this journal does not say which)."
        )
    unobserved = unobserved_samples(j)
    spent_text = fmt_ratio(b.spent) if b.spent is not None else "unknown"
    if unobserved and b.spent is not None:
        spent_text = f"≥ {spent_text}"
        notes.append(
            f"The in-scope SLI had no data in {unobserved[0]} of {unobserved[1]} samples: what the run spent "
            "while unobserved is not counted, so the spend is a lower bound."
        )
    gate = extension_block(j).get("slo_guard")
    rows = [
        ("remaining before", before_text),
        ("remaining after", after_text),
        ("spent by this run", spent_text),
        ("allowance", fmt_ratio(b.allowance)),
    ]
    if isinstance(gate, dict) and gate.get("budget_gate") in (False, "off", "false"):
        rows.append(("budget gate", "opted out (budget_gate: false)"))
    return rows, notes


def unobserved_samples(j: Journal) -> tuple[int, int] | None:
    """(samples whose in-scope SLI had no data, samples) when any had none."""
    s = j.chaosrunner
    if s is None or s.guard is None or not s.guard.samples:
        return None
    n = missing = 0
    for smp in s.guard.samples:
        if (smp.model_extra or {}).get("phase") == "recovery":
            continue
        n += 1
        ins = [r for r in smp.slos.values() if r is not None and r.scope in (None, "in")]
        if not ins or any(r.sli is None for r in ins):
            missing += 1
    return (missing, n) if missing else None


def _context(j: Journal) -> list[tuple[str, str]]:
    s = j.chaosrunner
    extra = (s.model_extra or {}) if s is not None else {}
    gd = extra.get("gameday")
    out = []
    if isinstance(gd, dict):
        for key in ("plan", "facilitator", "notes"):
            v = gd.get(key)
            if isinstance(v, str) and v:
                out.append((key, v))
    return out


def steady_state_lines(j: Journal) -> list[str]:
    from chaosrunner.guard.statistics import steady_state_verdicts

    return [v.sentence for v in steady_state_verdicts(j)]
