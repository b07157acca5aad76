"""HTML and Markdown reports: what they show, escaping, downsampling, game-day summaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chaosrunner.journal.store import LoadedJournal, parse_journal
from chaosrunner.report.charts import MAX_POINTS, downsample, nice_ceiling
from chaosrunner.report.formatting import fmt_ratio, fmt_seconds
from chaosrunner.report.html import render_html
from chaosrunner.report.markdown import cell, render_markdown
from chaosrunner.report.view import run_view
from tests.review import journals as J


def loaded(doc: dict, name: str = "j.json") -> LoadedJournal:
    return parse_journal(json.dumps(doc), Path(name))


def test_passed_report_has_banner_timeline_charts_blast_radius_and_targets() -> None:
    html = render_html([loaded(J.passed())])
    assert 'data-verdict="passed"' in html and '<div class="v">passed</div>' in html
    assert 'data-role="timeline"' in html
    for key in ("sli", "burn", "budget"):
        assert f'data-chart="{key}"' in html
    assert html.count("<polyline") == 5  # 2 SLOs × (SLI, burn) + budget
    assert "abort at 14.4×" in html and "allowance 1.00 %" in html
    assert "pinboard-us-east-a-1" in html and "us-east-a" in html
    assert 'data-marker="inject"' in html and 'data-marker="recover"' in html
    assert "replacement_time_s" in html


def test_aborted_report_marks_detection_abort_rollback_and_escapes_journal_text() -> None:
    html = render_html([loaded(J.aborted())])
    assert 'data-verdict="aborted"' in html
    for kind in ("inject", "detect", "abort", "rollback", "recover"):
        assert f'data-marker="{kind}"' in html, kind
    assert "<script>" not in html  # the activity error carries a <script> tag
    assert "&lt;script&gt;alert(" in html
    assert "burn rate 20.1x above 14.4x" in html


def test_refused_report_shows_the_preflight_and_no_charts() -> None:
    html = render_html([loaded(J.refused())])
    assert 'data-verdict="refused"' in html
    assert "12% remaining &lt; 25% gate" in html
    assert "data-chart=" not in html and "no guard samples" in html


def test_incomplete_report_says_incomplete_and_shows_what_ran() -> None:
    html = render_html([loaded(J.incomplete())])
    assert '<div class="v">incomplete</div>' in html and "Incomplete journal" in html
    assert "never ended" in html and "observe" in html and "running" in html


def test_plain_chaos_toolkit_journal_shows_absent_sections() -> None:
    html = render_html([loaded(J.ctk(), "journal.json")])
    assert 'data-verdict="failed"' in html and "Plain Chaos Toolkit journal" in html
    assert "process &#39;false&#39; exited with code 1" in html
    assert "data-chart=" not in html


def test_game_day_report_has_one_section_per_run_and_a_summary_table() -> None:
    docs = [J.passed(seed=1), J.aborted(seed=2), J.refused(seed=3), J.incomplete(seed=4), J.ctk()]
    html = render_html([loaded(d, f"j{i}.json") for i, d in enumerate(docs)])
    assert html.count('<section class="run"') == 5
    assert 'class="summary-table"' in html
    assert len(re.findall(r'<tr><td><a href="#run-\d">', html)) == 5


def test_no_external_assets_or_scripts() -> None:
    html = render_html([loaded(J.aborted())])
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@import" not in html and "url(" not in html


def test_long_runs_are_downsampled_and_stay_small() -> None:
    doc = J.passed(samples=3600)
    html = render_html([loaded(doc)])
    for points in re.findall(r'points="([^"]*)"', html):
        assert len(points.split()) <= MAX_POINTS
    assert len(html.encode()) < 2 * 1024 * 1024
    assert "(3600 samples)" in html


def test_downsample_keeps_the_spike() -> None:
    pts = [(float(i), 0.0) for i in range(10_000)]
    pts[7777] = (7777.0, 42.0)
    out = downsample(pts, 100)
    assert len(out) <= 100 and (7777.0, 42.0) in out
    assert out == sorted(out)


@pytest.mark.parametrize(
    "value, text",
    [(None, "—"), (0.0123, "1.23 %"), (0.5, "50.0 %"), (1e-9, "< 0.0001 %"), (0.0, "0 %"), (0.000123, "0.0123 %")],
)
def test_fmt_ratio(value: float | None, text: str) -> None:
    assert fmt_ratio(value) == text


def test_fmt_seconds_and_axis_tops() -> None:
    assert [fmt_seconds(v) for v in (0.25, 12.5, 184, 7500, None)] == [
        "250 ms",
        "12.5 s",
        "3 min 04 s",
        "2 h 05 min",
        "—",
    ]
    assert [nice_ceiling(v) for v in (0.7, 14.4, 3, 0)] == [1.0, 20.0, 5.0, 1.0]


def test_markdown_report_escapes_tables_and_fences_errors() -> None:
    doc = J.aborted()
    doc["chaosrunner"]["activities"][1]["name"] = "evil | name\n# heading"
    doc["chaosrunner"]["activities"][0]["name"] = "<img src=x onerror=alert(1)>"
    doc["chaosrunner"]["activities"][2]["error"] = "line1\n```\nrm -rf /\n```"
    md = render_markdown([loaded(doc)])
    assert md.startswith("# Tuesday")
    assert "**Verdict: ABORTED**" in md
    assert "evil \\| name # heading" in md
    assert "````" in md  # the fence is longer than any backtick run inside the error
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert cell("a|b<c>") == "a\\|b&lt;c&gt;"


def test_markdown_game_day_and_plain_journal() -> None:
    md = render_markdown([loaded(J.passed(seed=1)), loaded(J.ctk(), "journal.json")])
    assert md.startswith("# Game-day report: 2 runs")
    assert "Plain Chaos Toolkit journal" in md


def test_injection_is_the_first_driver_fault_not_the_run_level_ledger_entry() -> None:
    doc = J.passed()
    v = run_view(loaded(doc))
    inject = [m for m in v.markers if m.kind == "inject"][0]
    assert inject.at.isoformat() == doc["chaosrunner"]["ledger"][1]["recorded_at"]
    doc["chaosrunner"]["ledger"] = doc["chaosrunner"]["ledger"][:1]  # only the run-level entry
    v = run_view(loaded(doc))
    inject = [m for m in v.markers if m.kind == "inject"][0]
    assert inject.at.isoformat() == doc["chaosrunner"]["activities"][1]["start"]  # first method action


def test_view_places_markers_in_time_order() -> None:
    v = run_view(loaded(J.aborted()))
    kinds = [m.kind for m in v.markers]
    assert kinds == ["inject", "detect", "abort", "rollback", "recover"]
    assert all(a.at <= b.at for a, b in zip(v.markers, v.markers[1:], strict=False))
