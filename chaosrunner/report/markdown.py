"""Markdown export of the same report, for pasting into a postmortem document.

GitHub-flavoured tables. Journal text is untrusted: table cells escape ``|``, backticks and HTML
angle brackets and fold newlines, so a hostile activity name cannot break the table or inject markup.
"""

from __future__ import annotations

from collections.abc import Iterable

from chaosrunner.journal.store import LoadedJournal
from chaosrunner.report.formatting import fmt_ratio, fmt_seconds
from chaosrunner.report.trend import Trend, verdicts_text
from chaosrunner.report.view import RunView, run_view


def cell(text: object) -> str:
    s = str(text).replace("\r", " ").replace("\n", " ")
    for ch, rep in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`"), ("<", "&lt;"), (">", "&gt;")):
        s = s.replace(ch, rep)
    return s.strip() or "—"


def table(headers: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def fence(text: str) -> list[str]:
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    ticks = "`" * max(3, longest + 1)
    return [ticks, text.replace(ticks, "'" * len(ticks)), ticks]


def run_markdown(v: RunView, level: int = 2) -> list[str]:
    h = "#" * level
    out = [f"{h} {cell(v.title)}", "", f"**Verdict: {v.verdict_label.upper()}** — {cell(v.verdict_text)}"]
    out += ["", f"**Answer:** {cell(v.headline)}"]
    if v.reason:
        out += ["", f"**Why:** {cell(v.reason)}"]
    if v.failed:
        out += ["", f"{h}# What broke", "", *table(["phase", "activity", "error"], v.failed)]
    if v.objectives:
        out += ["", f"{h}# Measured vs target", ""]
        out += table(
            ["objective", "target", "measured", ""], [(c.label, c.target, c.measured, c.mark) for c in v.objectives]
        )
    if v.recovery:
        out += ["", f"{h}# Recovery", "", *table(["", ""], v.recovery)]
    if v.statistics:
        out += ["", f"{h}# Steady state, statistically", ""] + [f"* {cell(line)}" for line in v.statistics]
    for n in v.notes:
        out += ["", f"> {cell(n)}"]
    out += ["", *table(["fact", "value"], v.facts)]
    if v.timings:
        out += ["", f"{h}# Resilience timings", "", *table(["timing", "value"], v.timings)]
    if v.budget:
        out += ["", f"{h}# Error budget", "", *table(["budget", "value"], v.budget)]
    if v.markers:
        start = v.extra.get("start")
        out += ["", f"{h}# Key moments", ""]
        rows = []
        for m in v.markers:
            offset = fmt_seconds((m.at - start).total_seconds()) if start else "—"
            rows.append((m.label, m.at.isoformat(), f"+{offset}"))
        out += table(["moment", "time", "since start"], rows)
    if v.timeline:
        out += ["", f"{h}# Activities", ""]
        out += table(
            ["phase", "type", "activity", "status", "start", "duration"],
            [(r.phase, r.type, r.name, r.status, r.start or "—", r.duration) for r in v.timeline.rows],
        )
    for c in v.charts:
        if c.series:
            out += ["", f"{h}# {cell(c.title)}", ""]
            out += table(["series", "last", "peak", "samples"], [(s.name, s.last, s.peak, s.count) for s in c.series])
    if v.decisions:
        out += ["", f"{h}# Guard decisions", "", *table(["time", "decision", "reason"], v.decisions)]
    if v.blast_radius:
        out += ["", f"{h}# Blast radius", "", *table(["dimension", "declared", "touched"], v.blast_radius)]
    if v.preflight:
        out += ["", f"{h}# Preflight", ""]
        out += table(["check", "result", "detail"], [(c["check"], c["ok"], c["detail"]) for c in v.preflight])
    if v.targets:
        out += [
            "",
            f"{h}# Targets",
            "",
            *table(v.target_columns, [[t[c] for c in v.target_columns] for t in v.targets]),
        ]
    if v.ledger:
        out += ["", f"{h}# Fault ledger", ""]
        out += table(
            ["fault", "target", "recorded", "outcome", "closed"],
            [(e["fault"], e["target"], e["recorded"], e["outcome"], e["closed"]) for e in v.ledger],
        )
    if v.figures:
        out += ["", f"{h}# Measured figures", "", *table(["figure", "value"], v.figures)]
    if v.errors:
        out += ["", f"{h}# Errors", ""]
        for name, text in v.errors:
            out += [f"**{cell(name)}**", "", *fence(text), ""]
    return out


def trend_markdown(trend: Trend) -> list[str]:
    overall = "—" if trend.overall is None else f"{trend.overall:.0f} / 100"
    out = ["## Resilience trend", "", f"Overall resilience score: **{overall}** (as of {trend.as_of})", ""]
    rows = []
    for e in trend.experiments:
        for w in e.weeks:
            rows.append(
                (
                    e.title,
                    w.week,
                    w.runs,
                    verdicts_text(w.verdicts),
                    w.aborts,
                    fmt_seconds(w.median_rto_s),
                    fmt_seconds(w.median_time_to_recover_s),
                    fmt_ratio(w.max_budget_spent),
                    "—" if w.score is None else f"{w.score:.0f}",
                )
            )
    out += table(
        ["experiment", "week", "runs", "verdicts", "aborts", "median RTO", "median recover", "max budget", "score"],
        rows,
    )
    return out


def render_markdown(journals: list[LoadedJournal], *, trend: Trend | None = None) -> str:
    views = [run_view(j) for j in journals]
    out: list[str] = []
    if len(views) > 1:
        out += [f"# Game-day report: {len(views)} runs", ""]
        out += table(
            ["run", "experiment", "verdict", "started", "time to recover", "budget spent", "reason"],
            [
                (
                    v.run_id,
                    v.title,
                    v.verdict,
                    v.summary.started_at or "—",
                    fmt_seconds(v.summary.time_to_recover_s),
                    fmt_ratio(v.summary.budget_spent),
                    v.reason or "—",
                )
                for v in views
            ],
        )
        out.append("")
        for v in views:
            out += run_markdown(v, level=2) + [""]
    elif views:
        out += run_markdown(views[0], level=1)
    if trend is not None and trend.experiments:
        out += ["", *trend_markdown(trend)]
    return "\n".join(out).rstrip() + "\n"
