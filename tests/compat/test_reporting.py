"""chaostoolkit-reporting (``chaos report``, the facilitators' other tool) renders chaosrunner journals of
every verdict: real ``chaosrunner run`` journals, one experiment per verdict, exported to HTML through
Debian's pandoc in one report, then each on its own to Markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compat.harness import VENV_BIN, env

pytestmark = pytest.mark.slow

TRUE = {"type": "process", "path": "/bin/true"}
RAISES = {"type": "python", "module": "os", "func": "rmdir", "arguments": {"path": "/nonexistent/chaosrunner"}}


def _sh(script: str) -> dict[str, Any]:
    return {"type": "process", "path": "/bin/sh", "arguments": ["-c", script]}


def _experiment(title: str, *, probe: dict[str, Any] = TRUE, method: dict[str, Any] = TRUE,
                rollback: dict[str, Any] = TRUE, ext: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "1.0.0", "title": title, "description": f"chaosrunner journal with verdict {title}",
        "steady-state-hypothesis": {"title": "holds", "probes": [
            {"type": "probe", "name": "check", "tolerance": 0, "provider": probe}]},
        "method": [{"type": "action", "name": "act", "provider": method}],
        "rollbacks": [{"type": "action", "name": "undo", "provider": rollback}],
    }
    if ext:
        doc["extensions"] = [{"name": "chaosrunner", **ext}]
    return doc


def experiments(work: Path) -> dict[str, dict[str, Any]]:
    """Verdict → an experiment that ends with it."""
    mark = work / "deviated-mark"
    return {
        "passed": _experiment("passed"),
        "deviated": _experiment("deviated", probe=_sh(f"test ! -e {mark}"), method=_sh(f"touch {mark}")),
        "failed": _experiment("failed", probe={"type": "process", "path": "/bin/false"}),
        "aborted": _experiment("aborted", method=_sh("sleep 30"), ext={"blast_radius": {"max_duration": "1s"}}),
        "interrupted": _experiment("interrupted", method=_sh("kill -TERM $PPID; sleep 30")),
        "rollback-failed": _experiment("rollback-failed", rollback=RAISES),
        "invalid": _experiment("invalid", ext={"slo_guard": {"slos": ["x"], "catalog": [str(work / "missing")]}}),
        "refused": _experiment("refused"),
    }


def run_all(work: Path, tmp_path: Path) -> dict[str, Path]:
    journals: dict[str, Path] = {}
    for verdict, doc in experiments(work).items():
        path = work / f"{verdict}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        run_env = env(tmp_path)
        if verdict == "refused":  # the kill switch is engaged: preflight refuses, the journal says why
            subprocess.run([sys.executable, "-m", "chaosrunner", "halt", "--reason", "report test"],
                           env=run_env, check=True, capture_output=True, timeout=60)
        done = subprocess.run([sys.executable, "-m", "chaosrunner", "run", str(path), "--json"], env=run_env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=work)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["verdict"] == verdict, (verdict, result, done.stderr[-1500:])
        journals[verdict] = Path(result["journal"])
        doc = json.loads(journals[verdict].read_text())
        cut = [e["activity"]["name"] for k in ("run", "rollbacks") for e in doc[k] if "status" not in e]
        assert not cut, f"{verdict}: activities without a status in a finished journal: {cut}"
    return journals


def test_chaos_report_renders_journals_of_every_verdict(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    journals = run_all(work, tmp_path)
    html = tmp_path / "report.html"
    done = subprocess.run(
        [str(VENV_BIN / "chaos"), "--no-version-check", "--no-log-file", "report", "--export-format=html",
         *map(str, journals.values()), str(html)],
        env=env(tmp_path), capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = html.read_text()
    for verdict in journals:
        assert f"chaosrunner journal with verdict {verdict}" in text, verdict
    for verdict, journal in journals.items():
        md = tmp_path / f"{verdict}.md"
        one = subprocess.run(
            [str(VENV_BIN / "chaos"), "--no-version-check", "--no-log-file", "report", "--export-format=markdown",
             str(journal), str(md)],
            env=env(tmp_path), capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )
        assert one.returncode == 0 and md.exists(), (verdict, one.stderr[-2000:])
        assert verdict in md.read_text(), verdict

