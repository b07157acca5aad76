"""One self-contained HTML file for one run or a whole game day.

Journals are untrusted input: the template is rendered with jinja2 autoescaping on, and everything
that is not our own number-formatting goes through it. The page has inline CSS and server-side SVG
only — no scripts, no fonts, no external URLs — so it opens offline and in a locked-down browser.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

import jinja2

from chaosrunner.journal.spend import SpendStore, chaos_spend_for
from chaosrunner.journal.store import LoadedJournal
from chaosrunner.journal.summary import JournalSummary
from chaosrunner.report.formatting import fmt_ratio, fmt_seconds
from chaosrunner.report.trend import Trend, verdicts_text
from chaosrunner.report.view import RunView, run_view

VERSION = "0.1.0"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("chaosrunner.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt_seconds=fmt_seconds, fmt_ratio=fmt_ratio)
    return env


def trend_rows(trend: Trend) -> dict[str, Any]:
    """The trend as display strings for the template (one row per experiment and week)."""
    rows = []
    for e in trend.experiments:
        for w in e.weeks:
            rows.append(
                {
                    "experiment": e.title,
                    "week": w.week,
                    "runs": w.runs,
                    "verdicts": verdicts_text(w.verdicts),
                    "aborts": w.aborts,
                    "rto": fmt_seconds(w.median_rto_s),
                    "ttr": fmt_seconds(w.median_time_to_recover_s),
                    "budget": fmt_ratio(w.max_budget_spent),
                    "targets": f"{w.targets_met}✓ {w.targets_missed}✗ {w.targets_unmeasured}?"
                    if (w.targets_met + w.targets_missed + w.targets_unmeasured)
                    else "—",
                    "score": "—" if w.score is None else f"{w.score:.0f}",
                }
            )
        rows.append(
            {
                "experiment": e.title,
                "week": "all (weighted)",
                "runs": e.runs,
                "verdicts": "",
                "aborts": sum(w.aborts for w in e.weeks),
                "rto": "",
                "ttr": "",
                "budget": "",
                "targets": ", ".join(f"{n} held {r['held']}/{r['runs']}" for n, r in e.per_slo.items()),
                "score": "—" if e.score is None else f"{e.score:.0f}",
            }
        )
    overall = "—" if trend.overall is None else f"{trend.overall:.0f} / 100"
    spend = [
        {
            "month": m["month"],
            "used": ("≥ " if m["unknown"] else "") + fmt_ratio(m["used"]),
            "runs": m["runs"],
            "unknown": m["unknown"],
            "ceiling": fmt_ratio(m["ceiling"]),
            "mark": {True: "✓", False: "✗", None: "?"}[m["within_ceiling"]],
        }
        for m in trend.chaos_spend
    ]
    return {"rows": rows, "overall_text": overall, "weighting": trend.weighting, "spend": spend}


def render_views(
    views: list[RunView],
    *,
    trend: Trend | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    if title is None:
        title = f"Chaos run: {views[0].title}" if len(views) == 1 else f"Game-day report: {len(views)} runs"
    counts = Counter(v.verdict_label for v in views)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            page_title=title,
            runs=views,
            verdict_counts=sorted(counts.items()),
            trend=trend_rows(trend) if trend and trend.experiments else None,
            generated_at=(generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
            version=VERSION,
        )
    )


def render_html(
    journals: list[LoadedJournal],
    *,
    trend: Trend | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
    store: list[JournalSummary] | None = None,
    tz: tzinfo = UTC,
) -> str:
    """Render one journal (a run report) or several (a game-day report with a summary table).
    ``store``: every run's summary, for the month-to-date chaos spend (absent: shown as unknown);
    ``tz``: the zone times are shown in (the calendar's)."""
    if not journals and trend is None:
        raise ValueError("nothing to report")
    spend = SpendStore.of(store) if store is not None else None  # parsed once for every run of the report
    views = [
        run_view(j, chaos_spend=chaos_spend_for(j.summary, spend, tz=tz) if spend is not None else None, tz=tz)
        for j in journals
    ]
    return render_views(views, trend=trend, title=title, generated_at=generated_at)
