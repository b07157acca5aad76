"""How ``chaosrunner journal`` prints runs on a terminal: the listing (fitted to the terminal's width) and
one run's summary. Journal text is untrusted: every cell goes through :func:`plain`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaosrunner.core import verdict as verdicts

if TYPE_CHECKING:
    from chaosrunner.report.view import RunView

_CONTROL = {c: None for c in [*range(0, 9), *range(11, 32), 127, *range(128, 160)]}


def plain(text: object) -> str:
    """Journal text is untrusted: drop control characters (ANSI escapes) before it reaches a terminal."""
    return str(text).translate(_CONTROL)


LIST_DROP_ORDER = ("entry", "budget", "targets", "trigger", "duration", "RTO")
"""Columns ``journal list`` leaves out, in this order, until a row fits the terminal (run id, verdict and
the experiment's title always stay; the title is cut with … last)."""


def list_lines(rows: list[Any], width: int | None = None) -> list[str]:
    """The listing as aligned plain text: cheap for 10,000 rows (a rich table measures every cell).
    ``width``: the terminal's columns — columns are dropped (:data:`LIST_DROP_ORDER`), then run ids shortened
    to their time and random end (both find the run), then the title cut until every line fits; None
    (output to a pipe or a file) keeps every column whole."""
    from chaosrunner.report.formatting import fmt_ratio, fmt_seconds

    header = ("run id", "verdict", "trigger", "entry", "duration", "RTO", "targets", "budget", "experiment")
    table = [header]
    for s in rows:
        table.append(
            (
                s.run_id,
                verdicts.label(s.verdict, complete=s.complete),
                s.trigger or "—",
                s.calendar_entry or "—",
                fmt_seconds(s.duration_s),
                fmt_seconds(s.rto_s) if s.rto_status in ("restored", "no-impact") else s.rto_status,
                targets_text(s),
                fmt_ratio(s.budget_spent),
                s.title,
            )
        )
    cells = [[plain(c) for c in row] for row in table]
    keep = list(range(len(header)))
    widths = {i: max(len(r[i]) for r in cells) for i in keep}

    def line_width() -> int:
        return sum(widths[i] + 2 for i in keep[:-1]) + widths[keep[-1]]

    for name in LIST_DROP_ORDER if width else ():
        if line_width() <= width:  # type: ignore[operator]
            break
        keep.remove(header.index(name))
    if width and line_width() > width:  # the run id's time and random end: `journal show 002554` finds it
        for r in cells[1:]:
            r[0] = f"{r[0][:16]}…{r[0][-6:]}" if len(r[0]) > 23 else r[0]
        widths[0] = max(len(r[0]) for r in cells)
    title_room = None if width is None else max(8, width - (line_width() - widths[keep[-1]]))
    out = []
    for r in cells:
        title = r[keep[-1]]
        if title_room is not None and len(title) > title_room:
            title = title[: title_room - 1] + "…"
        out.append("  ".join([*(r[i].ljust(widths[i]) for i in keep[:-1]), title]).rstrip())
    return out


def targets_text(s: Any) -> str:
    """'2✓ 1✗ 1?' for a summary's objective checks; '—' when none were declared."""
    parts = [
        f"{n}{mark}"
        for n, mark in ((s.objectives_met, "✓"), (s.objectives_missed, "✗"), (s.objectives_unmeasured, "?"))
        if n
    ]
    return " ".join(parts) or "—"


def show_lines(v: RunView) -> list[str]:
    """The human summary of one run for the terminal (plain text, no markup from the journal)."""
    out = [f"{v.title}", f"answer: {v.headline}", f"verdict: {v.verdict_label} — {v.verdict_text}"]
    if v.reason:
        out.append(f"why: {v.reason}")
    if v.failed:
        out.append("what broke:")
        out += [
            f"  {name} ({phase}) failed: {err.splitlines()[0] if err else 'failed'}" for phase, name, err in v.failed
        ]
    if v.objectives:
        out.append("measured vs target:")
        out += [f"  {c.mark} {c.label}: {c.measured} (target {c.target})" for c in v.objectives]
    out += [f"recovery: {k}: {val}" for k, val in v.recovery]
    out += [f"statistics: {line}" for line in v.statistics]
    out += [f"{k}: {val}" for k, val in v.context]
    out += [f"note: {n}" for n in v.notes]
    out += [f"{k}: {val}" for k, val in v.facts]
    if v.preflight and (v.verdict == verdicts.Verdict.REFUSED or any(c["ok"] != "ok" for c in v.preflight)):
        out.append("preflight:")
        out += [f"  {c['check']}: {c['ok']} — {c['detail']}" for c in v.preflight]
    if v.targets:
        out.append("injected where:")
        out += [
            f"  {t.get('id', '—')} ({t.get('service', '—')}, {t.get('zone', '—')}, {t.get('region', '—')})"
            for t in v.targets
        ]
    if v.ledger:
        out.append("faults (ledger):")
        out += [f"  {e['fault']} on {e['target']}: {e['outcome']}" for e in v.ledger]
    if v.markers:
        start = v.extra.get("start")
        out.append("key moments:")
        for m in v.markers:
            offset = f"+{(m.at - start).total_seconds():.1f}s" if start else ""
            out.append(f"  {offset:>9} {m.label}")
    if v.charts:
        out.append("guard saw:")
        for c in v.charts:
            for s in c.series:
                out.append(f"  {c.key:6} {s.name}: last {s.last}, peak {s.peak} ({s.count} samples)")
    for t, a, why in v.decisions:
        out.append(f"guard decision {a} at {t}: {why}")
    if v.budget:
        out.append("error budget: " + ", ".join(f"{k} {val}" for k, val in v.budget))
        out += [f"  note: {n}" for n in v.budget_notes]
    if v.timeline:
        rolled = [r for r in v.timeline.rows if r.phase == "rollback"]
        if rolled:
            out.append("rolled back:")
            out += [f"  {r.name}: {r.status} ({r.duration})" for r in rolled]
        elif v.kind == "chaosrunner" and v.verdict != verdicts.Verdict.REFUSED:
            out.append("rolled back: nothing recorded")
    if v.timings:
        out.append("timings: " + ", ".join(f"{k} {val}" for k, val in v.timings))
    if v.figures:
        out.append("figures: " + ", ".join(f"{k} {val}" for k, val in v.figures))
    if v.errors:
        out.append("errors:")
        for name, text in v.errors:
            last = text.strip().splitlines()[-1] if text.strip() else text
            out.append(f"  {name}: {last}")
    out.append(f"journal: {v.path}")
    return out
