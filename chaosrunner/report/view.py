"""What a report shows about one run, computed once (pure): the HTML and Markdown renderers only format it.

Everything here reads a validated :class:`~chaosrunner.journal.schema.Journal`; any field may be absent
(plain ``chaos run`` journals, ``kill -9`` leftovers), and absence is shown as absence ("—"), never as 0.
Charts are computed server-side as SVG coordinates so the HTML needs no JavaScript and no network.
Long guard series are downsampled (min/max per bucket, so spikes survive) to :data:`MAX_POINTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chaosrunner.core import verdict as verdicts
from chaosrunner.core.ids import try_time
from chaosrunner.journal.schema import Journal
from chaosrunner.journal.store import LoadedJournal
from chaosrunner.journal.summary import JournalSummary, activity_errors, extension_block

RUN_LEVEL_FAULT = "experiment"  # the ledger entry the runner opens for the whole run (docs/architecture.md)
MAX_POINTS = 400  # per series, after downsampling: plenty for a 600 px wide chart
CHART_W, CHART_H = 640.0, 170.0
PAD_L, PAD_R, PAD_T, PAD_B = 72.0, 26.0, 10.0, 26.0
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

def fmt_seconds(v: float | None) -> str:
    """Seconds → '850 ms', '12.5 s', '3 min 04 s', '2 h 05 min'; None → '—'."""
    if v is None or not math.isfinite(v):
        return "—"
    if abs(v) < 1:
        return f"{v * 1000:.0f} ms"
    if abs(v) < 60:
        return f"{v:.1f} s"
    if abs(v) < 3600:
        return f"{int(v // 60)} min {int(v % 60):02d} s"
    return f"{int(v // 3600)} h {int(v % 3600 // 60):02d} min"


def fmt_ratio(v: float | None) -> str:
    """Ratio → percent, three significant digits, never scientific: 0.0123 → '1.23 %', tiny → '< 0.0001 %'."""
    if v is None or not math.isfinite(v):
        return "—"
    pct = v * 100
    if pct == 0:
        return "0 %"
    if abs(pct) < 0.0001:
        return "< 0.0001 %" if pct > 0 else "> -0.0001 %"
    decimals = min(4, max(0, 2 - math.floor(math.log10(abs(pct)))))
    return f"{pct:.{decimals}f} %"


def fmt_number(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.4g}"


def fmt_value(v: Any) -> str:
    """Any JSON value as short text for tables (lists joined, dicts as k=v)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return fmt_number(v)
    if isinstance(v, list):
        return ", ".join(fmt_value(x) for x in v) or "—"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items()) or "—"
    return str(v)


@dataclass
class Marker:
    """A moment in the run: injection, detection, abort, rollback, recovery."""

    kind: str
    label: str
    at: datetime
    x: float = 0.0  # SVG x in the chart or timeline it is placed on


@dataclass
class TimelineRow:
    name: str
    phase: str
    type: str
    status: str
    start: str | None
    duration: str
    error: str | None
    label: str = ""  # the name as it fits the timeline's name column
    x: float = 0.0
    w: float = 0.0
    has_bar: bool = False


@dataclass
class Timeline:
    rows: list[TimelineRow]
    markers: list[Marker]
    width: float
    height: float
    span_s: float
    ticks: list[tuple[float, str]]


@dataclass
class Series:
    name: str
    color: str
    points: str  # "x,y x,y ..." in chart coordinates
    last: str
    peak: str
    count: int


@dataclass
class Chart:
    key: str  # "sli" | "burn" | "budget": a stable DOM hook
    title: str
    series: list[Series]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    threshold: tuple[float, str] | None
    markers: list[Marker]
    width: float = CHART_W
    height: float = CHART_H


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


# ---------------------------------------------------------------------------------------------


def downsample(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Keep at most ``limit`` points: per bucket the min and the max (in time order), so peaks show."""
    if len(points) <= limit:
        return points
    buckets = max(1, limit // 2)
    size = len(points) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(chunk, key=lambda p: p[1])
        hi = max(chunk, key=lambda p: p[1])
        out.extend(sorted({lo, hi}, key=lambda p: p[0]))
    return out


def nice_ceiling(v: float) -> float:
    """The next 'round' number ≥ v (1, 2, 2.5, 5 × 10^k) for a y-axis top."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10**exp
        if top >= v * (1 - 1e-9):
            return float(top)
    return float(10 ** (exp + 1))


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _xscale(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo if hi > lo else 1.0
    return lo, (CHART_W - PAD_L - PAD_R) / span


def _time_ticks(lo: float, hi: float, x0: float, k: float, n: int = 6) -> list[tuple[float, str]]:
    span = hi - lo if hi > lo else 1.0
    step = nice_ceiling(span / n)
    ticks: list[tuple[float, str]] = []
    t = math.ceil(lo / step) * step
    while t <= hi + 1e-9 and len(ticks) < 20:
        ticks.append((PAD_L + (t - x0) * k, fmt_seconds(t) if t else "0"))
        t += step
    return ticks


def build_chart(
    key: str,
    title: str,
    series: dict[str, list[tuple[float, float]]],
    *,
    unit: str,
    threshold: float | None = None,
    threshold_label: str = "",
    markers: list[tuple[str, str, float]] | None = None,
) -> Chart:
    """Lay out one line chart. ``series`` values are (elapsed seconds, value); ``unit`` '%' scales ×100."""
    scale = 100.0 if unit == "%" else 1.0
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] * scale for pts in series.values() for p in pts]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x0, k = _xscale(lo, hi)
    top_v = max([*ys, (threshold or 0.0) * scale, 0.0])
    top = nice_ceiling(top_v * 1.05) if top_v > 0 else 1.0
    plot_h = CHART_H - PAD_T - PAD_B

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - min(max(v / top, 0.0), 1.05))

    out_series = []
    for i, (name, pts) in enumerate(series.items()):
        pts = downsample(pts)
        coords = " ".join(f"{PAD_L + (px - x0) * k:.1f},{y(py * scale):.1f}" for px, py in pts)
        vals = [p[1] for p in pts]
        fmt = (lambda v: fmt_ratio(v)) if unit == "%" else (lambda v: f"{fmt_number(v)}{unit}")
        out_series.append(
            Series(
                name=name,
                color=PALETTE[i % len(PALETTE)],
                points=coords,
                last=fmt(vals[-1]) if vals else "—",
                peak=fmt(max(vals)) if vals else "—",
                count=len(series[name]),
            )
        )
    y_ticks = [(y(top * f), _tick_label(top * f, unit)) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    thr = None
    if threshold is not None:
        thr = (y(threshold * scale), threshold_label)
    placed = []
    for kind, label, at in markers or []:
        if lo <= at <= hi:
            placed.append(Marker(kind, label, datetime.min, PAD_L + (at - x0) * k))
    return Chart(
        key=key,
        title=title,
        series=out_series,
        y_ticks=y_ticks,
        x_ticks=_time_ticks(lo, hi, x0, k),
        threshold=thr,
        markers=placed,
    )


def _tick_label(v: float, unit: str) -> str:
    text = f"{v:.6f}".rstrip("0").rstrip(".") if v < 1000 else f"{v:.0f}"
    return f"{text} %" if unit == "%" else f"{text}{unit}"


# ---------------------------------------------------------------------------------------------


def _run_bounds(j: Journal) -> tuple[datetime | None, datetime | None]:
    s = j.chaosrunner
    start = try_time(s.started_at if s and s.started_at else j.start)
    end = try_time(s.ended_at if s and s.ended_at else j.end)
    return start, end


def _markers(j: Journal) -> list[Marker]:
    """Injection, detection, abort, rollback done, recovery — whatever the journal lets us place."""
    s = j.chaosrunner
    out: list[Marker] = []
    injected: datetime | None = None
    if s is not None:
        # The runner's run-level entry (fault "experiment": "replay the rollbacks") is opened before the
        # method starts; it is not an injection. Drivers' entries are written just before they inject.
        recorded = [try_time(e.recorded_at) for e in s.ledger if e.fault != RUN_LEVEL_FAULT]
        recorded_t = [t for t in recorded if t]
        if recorded_t:
            injected = min(recorded_t)
        else:
            for a in s.activities:
                if a.phase == "method" and a.type == "action" and (t := try_time(a.start)):
                    injected = t
                    break
    else:
        for r in j.run:
            if r is not None and (r.activity or {}).get("type") == "action" and (t := try_time(r.start)):
                injected = t
                break
    if injected:
        out.append(Marker("inject", "fault injected", injected))
    if s is None:
        return out
    timings = s.timings
    origin = guard_origin(j) or injected
    if origin and timings and timings.time_to_detect_s is not None:
        out.append(Marker("detect", "impact detected", _plus(origin, timings.time_to_detect_s)))
    if s.abort and (t := try_time(s.abort.decided_at)):
        out.append(Marker("abort", "abort decided", t))
    rb_done = try_time(s.abort.rollback_completed_at) if s.abort else None
    if rb_done is None:
        ends = [try_time(a.end) for a in s.activities if a.phase == "rollback"]
        ends_t = [t for t in ends if t]
        rb_done = max(ends_t) if ends_t else None
    if rb_done:
        out.append(Marker("rollback", "rolled back", rb_done))
    if timings and timings.time_to_recover_s is not None:
        base = rb_done or _method_end(j) or injected
        if base:
            out.append(Marker("recover", "recovered", _plus(base, timings.time_to_recover_s)))
    out.sort(key=lambda m: m.at)
    return out


def guard_origin(j: Journal) -> datetime | None:
    """When the guard started sampling (= method start): ``guard.started_at``, else from the first sample."""
    s = j.chaosrunner
    if s is None or s.guard is None:
        return None
    if t := try_time(s.guard.started_at):
        return t
    if s.guard.samples:
        first = s.guard.samples[0]
        t0 = try_time(first.t)
        if t0 is not None:
            return _plus(t0, -(_finite(first.elapsed_s) or 0.0))
    return None


def _method_end(j: Journal) -> datetime | None:
    s = j.chaosrunner
    ends = [try_time(a.end) for a in (s.activities if s else []) if a.phase == "method"]
    ends_t = [t for t in ends if t]
    return max(ends_t) if ends_t else None


def _plus(t: datetime, seconds: float) -> datetime:
    try:
        return t + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return t


def _activities(j: Journal) -> list[tuple[str, str, str, str, str | None, str | None, float | None, str | None]]:
    """(name, phase, type, status, start, end, duration, error), ours if present, else Chaos Toolkit's."""
    s = j.chaosrunner
    rows = []
    if s is not None and s.activities:
        for a in s.activities:
            rows.append(
                (
                    a.name or "(unnamed)",
                    a.phase or "—",
                    a.type or "—",
                    a.status or "—",
                    a.start,
                    a.end,
                    a.duration,
                    a.error,
                )
            )
        return rows
    for phase, runs in (("method", j.run), ("rollback", j.rollbacks)):
        for r in runs:
            if r is None:
                continue
            act = r.activity or {}
            exc = r.exception
            err = ("".join(exc) if isinstance(exc, list) else exc) if exc else None
            name = act.get("name")
            typ = act.get("type")
            rows.append(
                (
                    name if isinstance(name, str) else "(unnamed)",
                    phase,
                    typ if isinstance(typ, str) else "—",
                    r.status or ("running" if r.end is None else "—"),
                    r.start,
                    r.end,
                    r.duration,
                    err.strip() if err else None,
                )
            )
    return rows


TL_W, TL_ROW, TL_PAD_L, TL_PAD_R, TL_TOP = 640.0, 22.0, 190.0, 14.0, 20.0  # TL_PAD_L: the name column
TL_NAME_CHARS = 30


def _timeline(j: Journal, markers: list[Marker]) -> Timeline | None:
    acts = _activities(j)
    if not acts and not markers:
        return None
    start, end = _run_bounds(j)
    times = [t for a in acts for t in (try_time(a[4]), try_time(a[5])) if t] + [m.at for m in markers]
    if start:
        times.append(start)
    if end:
        times.append(end)
    s = j.chaosrunner
    if s is not None and s.guard is not None and s.guard.samples and (last := try_time(s.guard.samples[-1].t)):
        times.append(last)  # an incomplete run was alive at least until its last guard sample
    lo = min(times) if times else None
    hi = max(times) if times else None
    span = (hi - lo).total_seconds() if lo and hi else 0.0
    span = span if span > 0 else 1.0
    k = (TL_W - TL_PAD_L - TL_PAD_R) / span

    def x(t: datetime) -> float:
        assert lo is not None
        return TL_PAD_L + (t - lo).total_seconds() * k

    rows = []
    for name, phase, typ, status, st, en, dur, err in acts:
        row = TimelineRow(
            name=name,
            phase=phase,
            type=typ,
            status=status,
            start=st,
            duration=fmt_seconds(dur),
            error=err,
            label=name if len(name) <= TL_NAME_CHARS else name[: TL_NAME_CHARS - 1] + "…",
        )
        t0 = try_time(st)
        t1 = try_time(en) or (hi if status in ("running", "interrupted") else None)
        if lo and t0:
            row.x = x(t0)
            row.w = max(2.0, (x(t1) - row.x) if t1 else 2.0)
            row.has_bar = True
        rows.append(row)
    for m in markers:
        if lo:
            m.x = x(m.at)
    height = TL_TOP + TL_ROW * max(1, len(rows)) + 24
    ticks: list[tuple[float, str]] = []
    if lo:
        step = nice_ceiling(span / 6)
        t = 0.0
        while t <= span + 1e-9 and len(ticks) < 20:
            ticks.append((TL_PAD_L + t * k, fmt_seconds(t) if t else "0"))
            t += step
    return Timeline(rows=rows, markers=markers, width=TL_W, height=height, span_s=span, ticks=ticks)


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
        x = _finite(smp.elapsed_s)
        if x is None and origin is not None and (t := try_time(smp.t)):
            x = (t - origin).total_seconds()
        if x is None:
            x = float(i)
        for name, reading in smp.slos.items():
            if reading is None:
                continue
            label = f"{name} ({reading.scope})" if reading.scope else name
            if (v := _finite(reading.sli)) is not None:
                sli.setdefault(label, []).append((x, v))
            if (v := _finite(reading.burn_rate)) is not None:
                burn.setdefault(label, []).append((x, v))
        if (v := _finite(smp.budget_spent)) is not None:
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
            threshold=_finite(allowance),
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
            return _finite(abort_on.get("burn_rate"))
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
    markers = _markers(j)
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
    start, end = _run_bounds(j)
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
        timeline=_timeline(j, markers),
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
