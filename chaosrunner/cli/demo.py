"""``chaosrunner demo``: sandbox up → the week's calendar, now → one-screen summary → report → sandbox down.

The week is the calendar's (``schedules/weekly.yaml`` by default) turned into a game-day plan by
:func:`chaosrunner.schedule.gameday.plan_from_calendar` — Monday's instance kill first, Friday's regional
failover last, each entry with its configuration overrides — and run by the game-day runner (one
``chaosrunner run`` child per experiment, as chaoslib requires), with ``CHAOSRUNNER_SANDBOX`` pointing at
the estate. The journals of the week become one self-contained HTML game-day report. ``sandbox down``
always runs (``finally``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from chaosrunner.calendar.model import load_calendar
from chaosrunner.core.storage import journal_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.journal import objectives, resilience
from chaosrunner.journal.spend import chaos_spend_for
from chaosrunner.journal.store import list_journals, load_journal
from chaosrunner.journal.summary import JournalSummary
from chaosrunner.report.formatting import fmt_seconds
from chaosrunner.report.html import render_html
from chaosrunner.report.view import run_view
from chaosrunner.sandbox.estate import SandboxOptions, down, up, wait_scraped
from chaosrunner.schedule.gameday import plan_from_calendar, run_plan


def measured_vs_target(journal_path: str | None, store: list[JournalSummary] | None = None) -> dict[str, Any]:
    """The run's answer as the report gives it (journal/resilience.py — one definition of RTO for the
    journal, the report, the trend and this demo): the RTO and every declared objective, ✓/✗/?."""
    if not journal_path:
        return {"figure": "-", "targets": [], "headline": ""}
    try:
        loaded = load_journal(Path(journal_path))
    except (InvalidInput, OSError):
        return {"figure": "-", "targets": [], "headline": ""}
    rec = resilience.client_recovery(loaded.journal)
    figure = {
        "restored": f"RTO {fmt_seconds(rec.rto_s)}",
        "no-impact": "RTO 0 s (no client-visible impact)",
        "not-restored": "RTO: not restored",
    }.get(rec.status, "RTO unknown")
    spend = chaos_spend_for(loaded.summary, store) if store is not None else None
    checks = objectives.objective_checks(loaded.journal, chaos_spend=spend)
    view = run_view(loaded, chaos_spend=spend)
    return {"figure": figure, "targets": [c.to_json() for c in checks], "headline": view.headline}


def run_demo(root: Path, calendar_path: Path, *, progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The whole demo; returns the summary (see :func:`render_summary`). Never leaves the estate up.
    Raises InvalidInput (before anything starts) when the calendar is malformed."""
    calendar = load_calendar(calendar_path)
    plan = plan_from_calendar(calendar)
    say = progress or (lambda _msg: None)
    summary: dict[str, Any] = {"root": str(root), "calendar": str(calendar_path), "runs": [], "ok": False}
    t0 = time.monotonic()
    previous = os.environ.get("CHAOSRUNNER_SANDBOX")
    try:
        say(f"sandbox up ({root}) …")
        state = up(SandboxOptions(root=root))
        summary["up_s"] = round(time.monotonic() - t0, 1)
        wait_scraped(state, 60)
        os.environ["CHAOSRUNNER_SANDBOX"] = str(root)  # the children's inventory, guard and drivers
        say(f"running {len(plan.experiments)} experiments of {plan.name} …")
        result = run_plan(plan, on_step=lambda s: say(f"  {Path(s.experiment).name}: {s.verdict} "
                                                        f"({s.duration_s:.0f} s)"))
        store = list_journals(journal_dir()).summaries
        for step in result.steps:
            summary["runs"].append({
                "experiment": Path(step.experiment).name, "verdict": step.verdict, "exit_code": step.exit_code,
                "reason": step.reason, "journal": step.journal, "seconds": round(step.duration_s, 1),
                **measured_vs_target(step.journal, store),
            })
        summary["report"] = write_report([s.journal for s in result.steps if s.journal], tz=calendar.zone)
        summary["ok"] = bool(result.steps) and all(r["verdict"] == "passed" for r in summary["runs"])
    finally:
        if previous is None:
            os.environ.pop("CHAOSRUNNER_SANDBOX", None)
        else:
            os.environ["CHAOSRUNNER_SANDBOX"] = previous
        say("sandbox down …")
        down(root)
        summary["total_s"] = round(time.monotonic() - t0, 1)
    return summary


def write_report(journals: list[str], *, tz: tzinfo = UTC) -> str | None:
    """The week's game-day report (one HTML file next to the journal store), or None without journals."""
    if not journals:
        return None
    target = journal_dir() / "reports" / f"demo-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    store = list_journals(journal_dir()).summaries
    target.write_text(render_html([load_journal(j) for j in journals], store=store, tz=tz), encoding="utf-8")
    return str(target)


def render_summary(summary: dict[str, Any]) -> str:
    """Pure: the one-screen text summary."""
    lines = [f"chaosrunner demo — sandbox {summary['root']} (up in {summary.get('up_s', '?')} s, "
             f"total {summary.get('total_s', '?')} s), calendar {summary['calendar']}"]
    lines.append(f"{'experiment':<32} {'verdict':<16} {'RTO':<36} journal")
    for r in summary["runs"]:
        lines.append(f"{r['experiment']:<32} {r['verdict']:<16} {r['figure']:<36} {r['journal'] or '-'}")
        for c in r.get("targets") or []:
            mark = {True: "✓", False: "✗", None: "?"}[c["met"]]
            lines.append(f"    {mark} {c['label']}: {c['measured']} (target {c['target']})")
    if summary.get("report"):
        lines.append(f"game-day report: {summary['report']}")
    lines.append("verdict: " + ("all passed" if summary["ok"] else "NOT all passed"))
    return "\n".join(lines)
