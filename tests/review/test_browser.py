"""Reports opened in a real headless Chromium: they render, show the verdict and the charts, and load nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaosrunner.journal.store import parse_journal
from chaosrunner.report.html import render_html
from tests.review import journals as J
from tests.review.conftest import check_in_browser

pytestmark = pytest.mark.slow

CASES = {
    "passed": (J.passed, "passed", {"sli": 2, "burn": 2, "budget": 1}, ["inject", "recover", "rollback"]),
    "aborted": (
        J.aborted,
        "aborted",
        {"sli": 2, "burn": 2, "budget": 1},
        ["abort", "detect", "inject", "recover", "rollback"],
    ),
    "refused": (J.refused, "refused", {}, []),
    "incomplete": (J.incomplete, "incomplete", {"sli": 2, "burn": 2, "budget": 1}, ["inject"]),
    "ctk": (J.ctk, "failed", {}, ["inject"]),
}


def write_report(tmp_path: Path, name: str, docs: list[dict[str, Any]]) -> Path:
    loaded = [parse_journal(json.dumps(d), Path(f"{name}-{i}.json")) for i, d in enumerate(docs)]
    out = tmp_path / f"{name}.html"
    out.write_text(render_html(loaded), encoding="utf-8")
    return out


@pytest.mark.parametrize("kind", list(CASES))
def test_report_renders_in_chromium(browser: Any, tmp_path: Path, kind: str) -> None:
    make, verdict, charts, markers = CASES[kind]
    page = write_report(tmp_path, kind, [make()])
    seen = check_in_browser(browser, page, tmp_path / f"{kind}.png")
    assert seen["verdicts"] == [verdict]
    assert seen["charts"] == charts
    assert seen["markers"] == markers
    assert seen["sections"] == 1
    assert (seen["timelines"] == 0) if kind == "refused" else (seen["timelines"] >= 1)  # refused: nothing ran
    assert seen["size"][0] <= 1200  # nothing overflows the window sideways


def test_hostile_journal_text_stays_text(browser: Any, tmp_path: Path) -> None:
    doc = J.aborted()
    doc["chaosrunner"]["experiment_title"] = "<img src=x onerror=\"document.title='pwned'\">"
    seen = check_in_browser(browser, write_report(tmp_path, "hostile", [doc]), tmp_path / "hostile.png")
    assert seen["title"].startswith("Chaos run: <img src=x")  # the markup is the title's text, not an element
    assert browser.find_elements("css selector", "img") == []
    assert "<script>alert('x')</script>" in seen["text"]  # shown as text, never run


def test_game_day_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    docs = [J.passed(seed=1), J.aborted(seed=2), J.refused(seed=3), J.incomplete(seed=4), J.ctk()]
    seen = check_in_browser(browser, write_report(tmp_path, "gameday", docs), tmp_path / "gameday.png")
    assert seen["sections"] == 5
    assert seen["verdicts"] == ["passed", "aborted", "refused", "incomplete", "failed"]
    assert "Game-day summary" in seen["text"]


def test_long_run_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    page = write_report(tmp_path, "long", [J.aborted(samples=3600)])
    assert page.stat().st_size < 2 * 1024 * 1024
    seen = check_in_browser(browser, page, tmp_path / "long.png")
    assert seen["charts"] == {"sli": 2, "burn": 2, "budget": 1}


def test_trend_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from chaosrunner.report.html import render_views
    from chaosrunner.report.trend import compute_trend

    docs = [J.passed(J.BASE - timedelta(days=d), exp=d % 3, seed=d) for d in range(0, 40, 3)]
    docs += [J.aborted(J.BASE - timedelta(days=5), exp=1, seed=99)]
    summaries = [parse_journal(json.dumps(d), Path(f"t{i}.json")).summary for i, d in enumerate(docs)]
    page = tmp_path / "trend.html"
    page.write_text(render_views([], trend=compute_trend(summaries, J.BASE, weeks=8), title="trend"))
    seen = check_in_browser(browser, page, tmp_path / "trend.png")
    assert seen["sections"] == 0 and "Resilience trend" in seen["text"]
    score = browser.find_element("css selector", "[data-role=score]").text
    assert score.endswith("/ 100") and 0 <= int(score.split()[0]) <= 100
