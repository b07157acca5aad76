"""What a report shows about one run, computed once (pure): the HTML and Markdown renderers only format it.

Everything here reads a validated :class:`~chaosrunner.journal.schema.Journal`; any field may be absent
(plain ``chaos run`` journals, ``kill -9`` leftovers), and absence is shown as absence ("—"), never as 0.
The pieces are laid out by :mod:`.charts` (guard series) and :mod:`.timeline` (moments, activities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaosrunner.core import verdict as verdicts
from chaosrunner.core.ids import try_time
from chaosrunner.journal.schema import Journal
from chaosrunner.journal.store import LoadedJournal
from chaosrunner.journal.summary import JournalSummary, activity_errors, extension_block
from chaosrunner.report.charts import Chart, Marker, build_chart, finite
from chaosrunner.report.formatting import fmt_number, fmt_ratio, fmt_seconds, fmt_value
from chaosrunner.report.timeline import Timeline, build_timeline, guard_origin, key_moments, run_bounds


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


def run_view(loaded: LoadedJournal) -> RunView:
    """The whole story of one run, ready to format."""
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
        ("started", summary.started_at or "—"),
        ("ended", summary.ended_at or ("— (never ended)" if not summary.complete else "—")),
        ("duration", fmt_seconds(summary.duration_s)),
        ("Chaos Toolkit status", j.status or "—"),
    ]
    if s is not None and s.exit_code is not None:
        facts.append(("exit code", str(s.exit_code)))
    timings: list[tuple[str, str]] = []
    figures: list[tuple[str, str]] = []
    budget: list[tuple[str, str]] = []
    decisions: list[tuple[str, str, str]] = []
    ledger: list[dict[str, str]] = []
    preflight: list[dict[str, str]] = []
    if s is not None:
        tm = s.timings
        timings = [
            ("time to detect", fmt_seconds(tm.time_to_detect_s if tm else None)),
            ("time to abort", fmt_seconds(tm.time_to_abort_s if tm else None)),
            ("time to roll back", fmt_seconds(tm.time_to_rollback_s if tm else None)),
            ("time to recover", fmt_seconds(tm.time_to_recover_s if tm else None)),
            ("RTO", fmt_seconds(summary.rto_s)),
            ("RPO (data lost)", fmt_seconds(tm.data_lost_s if tm else None)),
        ]
        figures = [(k, fmt_value(v)) for k, v in (s.figures or {}).items()]
        if s.guard and s.guard.budget:
            b = s.guard.budget
            budget = [
                ("remaining before", fmt_ratio(b.before)),
                ("remaining after", fmt_ratio(b.after)),
                ("spent by this run", fmt_ratio(b.spent)),
                ("allowance", fmt_ratio(b.allowance)),
            ]
        if s.guard:
            decisions = [(d.t or "—", d.action or "—", d.reason or "—") for d in s.guard.decisions]
        ledger = [
            {
                "fault": e.fault or "—",
                "target": e.target or "—",
                "recorded": e.recorded_at or "—",
                "outcome": e.outcome or "still open",
                "closed": e.closed_at or "—",
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
        extra={"start": start, "end": end},
    )
