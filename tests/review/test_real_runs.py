"""Reports of journals written by real processes: `chaosrunner run` (finished and `kill -9`ed) and plain
`chaos run` — rendered through the CLI and opened in headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from click.testing import CliRunner

from chaosrunner.cli import app
from tests.review.conftest import check_in_browser

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent


def experiment(tmp_path: Path, name: str, method: list[dict[str, Any]]) -> Path:
    doc = {
        "version": "1.0.0",
        "title": f"review {name}",
        "description": "journal review end-to-end",
        "method": method,
        "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}],
    }
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def act(name: str, *argv: str, timeout: int = 30) -> dict[str, Any]:
    return {
        "type": "action",
        "name": name,
        "provider": {"type": "process", "path": argv[0], "arguments": list(argv[1:]), "timeout": timeout},
    }


def store() -> Path:
    return Path(os.environ["CHAOSRUNNER_JOURNALS"])


def journal_cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["journal", *args], catch_exceptions=False)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts (each in its own session); their whole groups are killed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait(timeout=10)


def stop_watchdogs(run_id: str) -> None:
    """The runner's watchdog lives in its own session; make sure the one for this run is gone."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if "chaosrunner.faults.watchdog" in cmd and run_id in cmd:
            try:
                proc.wait(timeout=15)
            except psutil.TimeoutExpired:
                proc.kill()


def test_report_of_a_real_chaosrunner_run(tmp_path: Path, browser: Any) -> None:
    exp = experiment(tmp_path, "passes", [act("say-hello", "true"), act("say-again", "echo", "hi")])
    p = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "run", str(exp), "--journal-dir", str(store())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(journal_cli("list", "--json").stdout)
    assert [r["verdict"] for r in rows] == ["passed"] and rows[0]["kind"] == "chaosrunner"
    stop_watchdogs(rows[0]["run_id"])
    out = tmp_path / "real.html"
    assert journal_cli("report", rows[0]["run_id"], "--out", str(out)).exit_code == 0
    seen = check_in_browser(browser, out, tmp_path / "real.png")
    assert seen["verdicts"] == ["passed"]
    assert "say-again" in seen["text"] and "undo" in seen["text"]
    show = journal_cli("show", rows[0]["run_id"]).stdout
    assert "verdict: passed" in show and "undo: succeeded" in show


def test_report_of_a_run_killed_with_sigkill(tmp_path: Path, browser: Any, spawned: list) -> None:
    exp = experiment(tmp_path, "killed", [act("prepare", "true"), act("hold", "sleep", "30", timeout=60)])
    runner = subprocess.Popen(
        [sys.executable, "-m", "chaosrunner", "run", str(exp), "--journal-dir", str(store())],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spawned.append(runner)

    def holding() -> tuple[Path, bytes] | None:
        for f in store().rglob("*.json"):
            data = f.read_bytes()
            acts = json.loads(data)["chaosrunner"]["activities"]
            if any(a["name"] == "hold" and a["status"] == "running" for a in acts):
                return f, data
        return None

    path, on_disk = wait_for(holding, 60, "the runner to be inside the 'hold' activity")
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    run_id = path.stem
    try:
        # What kill -9 leaves behind is exactly the journal as it was on disk at that moment.
        left = tmp_path / "killed" / "journal-at-kill.json"
        left.parent.mkdir()
        left.write_bytes(on_disk)
        md = journal_cli("report", str(left), "--format", "md", "--out", "-")
        assert md.exit_code == 0 and "**Verdict: INCOMPLETE**" in md.stdout
        out = tmp_path / "killed.html"
        assert journal_cli("report", str(left), "--out", str(out)).exit_code == 0
        seen = check_in_browser(browser, out, tmp_path / "killed.png")
        assert seen["verdicts"] == ["incomplete"]
        assert "hold" in seen["text"] and "Incomplete journal" in seen["text"]
        # The watchdog then reverts the run's faults and marks the journal; the report says so.
        marked = wait_for(
            lambda: json.loads(path.read_text())["chaosrunner"].get("recovered_by"),
            30,
            "the watchdog to mark the journal",
        )
        assert marked == "watchdog"
        show = journal_cli("show", run_id)
        assert show.exit_code == 0 and "reverted by: watchdog" in show.stdout
    finally:
        stop_watchdogs(run_id)


def test_report_of_a_plain_chaos_run_journal(tmp_path: Path, browser: Any) -> None:
    exp = experiment(tmp_path, "plain", [act("say-hello", "true"), act("exit-1", "false")])
    journal = tmp_path / "journal.json"
    p = subprocess.run(
        [str(VENV_BIN / "chaos"), "--no-version-check", "run", str(exp), "--journal-path", str(journal)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr  # Chaos Toolkit calls it "completed"
    assert json.loads(journal.read_text())["status"] == "completed"
    out = tmp_path / "plain.html"
    assert journal_cli("report", str(journal), "--out", str(out)).exit_code == 0
    seen = check_in_browser(browser, out, tmp_path / "plain.png")
    assert seen["verdicts"] == ["failed"]  # ours: a process that exited 1 is a failed action
    assert "Plain Chaos Toolkit journal" in seen["text"] and "process exited with status 1" in seen["text"]
