"""Issue 16 in a real headless Chromium: each kind of run leads with its answer — the target table,
failed activities in red with their error, recovery after an abort, the statistics line."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from chaosrunner.journal.store import parse_journal
from chaosrunner.report.html import render_html
from tests.review import journals as J
from tests.review.conftest import check_in_browser
from tests.review.test_evidence import declare, failed_process_action, with_recovery_samples

pytestmark = pytest.mark.slow

TARGETS = {"rto": "45s", "availability_during": "85%", "users_unaffected": "90%", "monthly_budget_use": "20%"}
RED = "rgba(179, 38, 30, 1)"


def with_baseline(doc: dict[str, Any], mean: float = 0.0005) -> dict[str, Any]:
    rng = random.Random(5)
    doc["chaosrunner"]["guard"]["baseline_samples"] = {
        "pinboard-availability": [round(mean + rng.random() * 0.0003, 6) for _ in range(60)]
    }
    return doc


def faulted(doc: dict[str, Any]) -> dict[str, Any]:
    """The fault bites from the third sample on: the availability SLI at ~2 % (burn ~20×)."""
    for i, smp in enumerate(doc["chaosrunner"]["guard"]["samples"]):
        if i >= 2:
            smp["slos"]["pinboard-availability"].update(sli=0.02 + i * 1e-5, burn_rate=20.0 + i / 100)
    return doc


def recovered() -> dict[str, Any]:
    return with_baseline(declare(with_recovery_samples(faulted(J.aborted()), bad=3, good=8), **TARGETS))


def not_recovered() -> dict[str, Any]:
    return with_baseline(declare(with_recovery_samples(faulted(J.aborted()), bad=10, good=0), **TARGETS))


CASES = {
    "passed": lambda: with_baseline(declare(J.passed(), **TARGETS)),
    "failed": lambda: declare(failed_process_action(), **TARGETS),
    "aborted-recovered": recovered,
    "aborted-not-recovered": not_recovered,
    "refused": lambda: declare(J.refused(), **TARGETS),
}


def page(tmp_path: Path, kind: str) -> Path:
    doc = CASES[kind]()
    loaded = parse_journal(json.dumps(doc), Path(f"{kind}.json"))
    out = tmp_path / f"{kind}.html"
    out.write_text(render_html([loaded], store=[loaded.summary]), encoding="utf-8")
    return out


def texts(browser: Any, css: str) -> list[str]:
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, css)]


def test_passed_run_leads_with_targets_and_statistics(browser: Any, tmp_path: Path) -> None:
    seen = check_in_browser(browser, page(tmp_path, "passed"), tmp_path / "passed.png")
    assert seen["verdicts"] == ["passed"]
    assert texts(browser, "[data-role=headline]")[0].startswith("Held · RTO")
    met = {
        e.get_attribute("data-objective"): e.get_attribute("data-met")
        for e in browser.find_elements(By.CSS_SELECTOR, "[data-role=objectives] tr[data-objective]")
    }
    assert met == {
        "rto": "no",
        "availability_during": "yes",
        "users_unaffected": "unknown",
        "monthly_budget_use": "yes",
    }  # RTO 54 s (recovery watch 12.5 s after the rollback) > 45 s
    stats = texts(browser, "[data-role=statistics] li")
    assert len(stats) == 1 and "during the fault" in stats[0]
    assert browser.find_elements(By.CSS_SELECTOR, "[data-role=failed]") == []


def test_failed_run_shows_the_failed_activity_in_red_with_its_error(browser: Any, tmp_path: Path) -> None:
    seen = check_in_browser(browser, page(tmp_path, "failed"), tmp_path / "failed.png")
    assert seen["verdicts"] == ["failed"]
    broke = texts(browser, "[data-role=failed]")
    assert broke == ["inject-fault (method) failed: process exited with status 1: kill: (4242) - No such process"]
    row = browser.find_element(By.CSS_SELECTOR, "table.activities tr[data-status=failed]")
    assert "inject-fault" in row.text and "No such process" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.status").value_of_css_property("color") == RED
    bars = browser.find_elements(By.CSS_SELECTOR, "svg[data-role=timeline] rect.bar-failed")
    assert len(bars) == 1 and bars[0].value_of_css_property("fill") == "rgb(217, 83, 79)"
    assert "Errors\nnone" not in seen["text"]


def test_aborted_then_recovered_shows_recovery_after_the_abort(browser: Any, tmp_path: Path) -> None:
    seen = check_in_browser(browser, page(tmp_path, "aborted-recovered"), tmp_path / "aborted-recovered.png")
    assert seen["verdicts"] == ["aborted"] and "recover" in seen["markers"]
    recovery = texts(browser, "[data-role=recovery]")[0]
    assert "recovery watch after the abort" in recovery and "SLOs back within objective after 3.2 s" in recovery
    assert "(restored 3.2 s after rollback)" in texts(browser, "[data-role=headline]")[0]
    stats = texts(browser, "[data-role=statistics] li")[0]
    assert "during the fault (p < 0.001" in stats and "back to baseline 3.2 s after rollback" in stats


def test_aborted_and_never_recovered_says_not_restored(browser: Any, tmp_path: Path) -> None:
    seen = check_in_browser(browser, page(tmp_path, "aborted-not-recovered"), tmp_path / "aborted-nr.png")
    assert seen["verdicts"] == ["aborted"] and "recover" not in seen["markers"]
    assert "RTO not restored" in texts(browser, "[data-role=headline]")[0]
    assert "not recovered within 30s" in texts(browser, "[data-role=recovery]")[0]
    rto = browser.find_element(By.CSS_SELECTOR, "[data-role=objectives] tr[data-objective=rto]")
    assert rto.get_attribute("data-met") == "no" and "not restored" in rto.text
    stats = texts(browser, "[data-role=statistics] li")[0]
    assert "not back to baseline" in stats


def test_refused_run_says_nothing_was_injected(browser: Any, tmp_path: Path) -> None:
    seen = check_in_browser(browser, page(tmp_path, "refused"), tmp_path / "refused.png")
    assert seen["verdicts"] == ["refused"]
    assert texts(browser, "[data-role=headline]")[0].startswith("Refused — nothing injected · error budget too low")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-role=recovery]") == []
    assert browser.find_elements(By.CSS_SELECTOR, "[data-role=statistics]") == []
