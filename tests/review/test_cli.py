"""`chaosrunner journal list|show|report|trend`: output, filters, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaosrunner.cli import app
from tests.review import journals as J
from tests.review.conftest import write_json

runner = CliRunner()


def cli(*args: str) -> object:
    return runner.invoke(app, ["journal", *args], catch_exceptions=False)


@pytest.fixture
def filled(store: Path) -> dict[str, Path]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "passed": J.write_journal(store, J.passed(now - timedelta(days=3), seed=1)),
        "aborted": J.write_journal(store, J.aborted(now - timedelta(days=2), seed=2)),
        "refused": J.write_journal(store, J.refused(now - timedelta(days=1), seed=3)),
        "incomplete": J.write_journal(store, J.incomplete(now - timedelta(hours=1), seed=4)),
    }


def run_id(p: Path) -> str:
    return p.stem


def test_list_json_and_filters(filled: dict[str, Path]) -> None:
    r = cli("list", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert [x["verdict"] for x in rows] == ["running", "refused", "aborted", "passed"]
    r = cli("list", "--json", "--verdict", "aborted")
    assert [x["run_id"] for x in json.loads(r.stdout)] == [run_id(filled["aborted"])]
    r = cli("list", "--json", "--since", "36h")
    assert [x["verdict"] for x in json.loads(r.stdout)] == ["running", "refused"]
    r = cli("list", "--json", "--trigger", "schedule", "--entry", "thursday-db")
    assert [x["verdict"] for x in json.loads(r.stdout)] == ["refused"]


def test_list_human_table(filled: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal, no width: a pipe keeps whole run ids
    r = cli("list")
    assert r.exit_code == 0
    assert run_id(filled["aborted"]) in r.stdout and "incomplete" in r.stdout
    monkeypatch.setenv("COLUMNS", "80")  # a terminal of 80 columns: the shortened id still finds the run
    r = cli("list")
    short = next(line.split()[0] for line in r.stdout.splitlines() if "aborted" in line)
    assert "…" in short and len(r.stdout.splitlines()[1]) <= 80
    shown = cli("show", short, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["summary"]["run_id"] == run_id(filled["aborted"])


def test_list_bad_options_exit_2(filled: dict[str, Path]) -> None:
    r = cli("list", "--verdict", "great")
    assert r.exit_code == 2 and "--verdict: 'great'" in r.stderr
    r = cli("list", "--since", "last tuesday")
    assert r.exit_code == 2 and "--since: 'last tuesday'" in r.stderr
    r = cli("list", "--trigger", "gamday")  # a typo is not "no journals"
    assert r.exit_code == 2 and "--trigger: 'gamday': expected one of cli|schedule|gameday" in r.stderr


def test_list_warns_about_bad_files_but_lists_the_rest(filled: dict[str, Path]) -> None:
    bad = filled["passed"].parent / "20261116T150000Z-broken-abcdef.json"
    bad.write_text("{")
    r = cli("list", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 4
    assert "skipped 1 unreadable" in r.stderr and str(bad) in r.stderr


def test_show_human_and_json(filled: dict[str, Path]) -> None:
    r = cli("show", run_id(filled["aborted"]))
    assert r.exit_code == 0
    out = r.stdout
    for needle in (
        "verdict: aborted",
        "injected where:",
        "pinboard-us-east-a-1",
        "guard decision abort",
        "rolled back:",
        "undo-fault: succeeded",
        "time to detect",
        "figures: replacement_time_s 3.2",
    ):
        assert needle in out, needle
    r = cli("show", "latest", "--json")
    doc = json.loads(r.stdout)
    assert doc["summary"]["verdict"] == "running" and doc["journal"]["chaosrunner"]["complete"] is False


def test_show_refused_run_explains_the_preflight(filled: dict[str, Path]) -> None:
    r = cli("show", run_id(filled["refused"]))
    assert r.exit_code == 0
    assert "verdict: refused" in r.stdout and "error-budget: refused — 12% remaining < 25% gate" in r.stdout


def test_show_strips_terminal_escapes(store: Path) -> None:
    doc = J.passed(seed=9)
    doc["chaosrunner"]["reason"] = "ok\x1b[2J\x1b]0;pwned\x07"
    p = J.write_journal(store, doc)
    r = cli("show", run_id(p))
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "ok[2J]0;pwned" in r.stdout


def test_show_unknown_and_traversal_and_malformed_exit_2(store: Path, tmp_path: Path) -> None:
    r = cli("show", "../../etc/passwd")
    assert r.exit_code == 2 and "not a run id" in r.stderr
    r = cli("show", "20200101T000000Z-gone-abcdef")
    assert r.exit_code == 2 and "no journal with run id" in r.stderr
    bad = write_json(tmp_path / "bad.json", {"chaosrunner": {"verdict": "great"}})
    r = cli("show", str(bad))
    assert r.exit_code == 2 and f"{bad}: chaosrunner.verdict: unknown verdict" in r.stderr


def test_report_html_markdown_and_game_day(filled: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "one.html"
    r = cli("report", run_id(filled["aborted"]), "--out", str(out))
    assert r.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    md = tmp_path / "day.md"
    ids = [run_id(p) for p in filled.values()]
    r = cli("report", *ids, "--out", str(md))
    assert r.exit_code == 0 and md.read_text().startswith("# Game-day report: 4 runs")
    r = cli("report", *ids, "--format", "html", "--trend", "--out", "-")
    assert r.exit_code == 0 and r.stdout.count('<section class="run"') == 4 and 'id="trend"' in r.stdout
    r = cli("report", ids[0], "--format", "pdf", "--out", "-")
    assert r.exit_code == 2 and "--format: 'pdf'" in r.stderr


def test_report_of_a_game_day_by_time_range(filled: dict[str, Path]) -> None:
    r = cli("report", "--since", "4d", "--trigger", "schedule", "--format", "md", "--out", "-")
    assert r.exit_code == 0 and r.stdout.startswith("# Game-day report: 2 runs")
    assert r.stdout.index("## Monday") < r.stdout.index("## Thursday")  # oldest first
    r = cli("report", "--since", "2000-01-01", "--until", "2000-01-02", "--out", "-")
    assert r.exit_code == 2 and "no journals" in r.stderr
    r = cli("report", "--until", "1d", "--out", "-")
    assert r.exit_code == 2 and "--since: required" in r.stderr


def test_report_of_a_plain_chaos_toolkit_journal_file(tmp_path: Path) -> None:
    p = write_json(tmp_path / "journal.json", J.ctk())
    r = cli("report", str(p), "--out", "-", "--format", "md")
    assert r.exit_code == 0 and "Plain Chaos Toolkit journal" in r.stdout and "**Verdict: FAILED**" in r.stdout


def test_trend_table_json_and_html(filled: dict[str, Path], tmp_path: Path) -> None:
    r = cli("trend", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert {e["title"] for e in doc["experiments"]} == {J.EXPERIMENTS[i][1] for i in (0, 1, 2, 3)}
    assert doc["overall"] is not None
    r = cli("trend", "--experiment", "latency")
    assert r.exit_code == 0 and "Tuesday" in r.stdout and "resilience score" in r.stdout
    page = tmp_path / "trend.html"
    r = cli("trend", "--html", str(page))
    assert r.exit_code == 0 and 'id="trend"' in page.read_text()


def test_real_cli_process_exit_2_on_malformed_journal(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"run": [], "chaosrunner": {"guard": {"samples": "lots"}}}')
    p = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "journal", "report", str(bad), "--out", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert p.stderr.strip() == f"{bad}: chaosrunner.guard.samples: Input should be a valid list"
    assert "Traceback" not in p.stderr
