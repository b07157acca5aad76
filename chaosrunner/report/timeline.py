"""A run's key moments and activity timeline (pure), from whatever the journal lets us place.

Moments: fault injected, impact detected, abort decided, rolled back, recovered. The timeline is one
bar per activity on a shared time axis, laid out as SVG coordinates like :mod:`.charts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chaosrunner.core.ids import plus_seconds, try_time
from chaosrunner.journal import resilience
from chaosrunner.journal.schema import Journal
from chaosrunner.report.charts import Marker, finite, nice_ceiling
from chaosrunner.report.formatting import fmt_seconds


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


def run_bounds(j: Journal) -> tuple[datetime | None, datetime | None]:
    s = j.chaosrunner
    start = try_time(s.started_at if s and s.started_at else j.start)
    end = try_time(s.ended_at if s and s.ended_at else j.end)
    return start, end


def key_moments(j: Journal) -> list[Marker]:
    """Injection, detection, abort, rollback done, restored — the moments of docs/glossary.md."""
    s = j.chaosrunner
    out: list[Marker] = []
    injected = resilience.injected_at(j)
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
    rb_done = resilience.rollback_done_at(j)
    if rb_done:
        out.append(Marker("rollback", "rolled back", rb_done))
    rec = resilience.client_recovery(j)
    if rec.status == "restored" and rec.restored_at is not None:
        out.append(Marker("recover", "restored (as clients see it)", rec.restored_at))
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
            return _plus(t0, -(finite(first.elapsed_s) or 0.0))
    return None


def _method_end(j: Journal) -> datetime | None:
    s = j.chaosrunner
    ends = [try_time(a.end) for a in (s.activities if s else []) if a.phase == "method"]
    ends_t = [t for t in ends if t]
    return max(ends_t) if ends_t else None


def _plus(t: datetime, seconds: float) -> datetime:
    return plus_seconds(t, seconds) or t


def _activities(j: Journal) -> list[tuple[str, str, str, str, str | None, str | None, float | None, str | None]]:
    """(name, phase, type, status, start, end, duration, error) as the run really ended
    (:func:`chaosrunner.journal.resilience.activity_outcomes`: a non-zero process exit is *failed*)."""
    return [
        (a.name, a.phase, a.type, a.status, a.start, a.end, a.duration, a.error)
        for a in resilience.activity_outcomes(j)
    ]


TL_W, TL_ROW, TL_PAD_L, TL_PAD_R, TL_TOP = 640.0, 22.0, 190.0, 14.0, 20.0  # TL_PAD_L: the name column
TL_NAME_CHARS = 30


def build_timeline(j: Journal, markers: list[Marker]) -> Timeline | None:
    acts = _activities(j)
    if not acts and not markers:
        return None
    start, end = run_bounds(j)
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
