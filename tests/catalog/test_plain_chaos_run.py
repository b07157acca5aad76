"""The shipped sandbox experiments stay plain Chaos Toolkit experiments: under ``chaos run
--rollback-strategy always`` (no chaosrunner runner, guard or ledger) each one really injects its fault —
seen in the sandbox's *real* state while the method runs — and leaves the sandbox whole afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosrunner.drivers.sandbox.state import load_state, steady_state_problems
from tests.catalog.conftest import EXPERIMENTS, REPO, RUN_TIMEOUT_S, Sandbox, wait_steady

pytestmark = pytest.mark.slow

CHAOS = Path(sys.executable).parent / "chaos"


@pytest.mark.parametrize("name", sorted(p.name for p in EXPERIMENTS.glob("*.yaml")))
def test_plain_chaos_run_injects_the_fault_and_leaves_the_sandbox_whole(
    name: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert wait_steady(sandbox) == [], "the sandbox was not steady before the run"
    journal = tmp_path / "journal.json"
    env = {**os.environ, "CHAOSRUNNER_SANDBOX": str(sandbox.root), "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [str(CHAOS), "--no-version-check", "--log-file", str(tmp_path / "chaos.log"), "run",
         "--rollback-strategy", "always", "--journal-path", str(journal), str(EXPERIMENTS / name)],
        env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen.update(steady_state_problems(load_state(state=str(sandbox.state_path))))
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate(timeout=30)[1].decode(errors="replace")
    assert proc.returncode == 0, stderr[-2000:]
    doc = json.loads(journal.read_text())
    assert doc["status"] == "completed", (doc["status"], stderr[-2000:])
    method = [r for r in doc["run"] if r["activity"]["type"] == "action"]
    assert method and all(r["status"] == "succeeded" for r in method), [(r["activity"]["name"], r["status"])
                                                                        for r in method]
    assert seen, "no fault was ever visible in the sandbox's real state while the method ran"
    assert wait_steady(sandbox) == [], "the sandbox was not whole after the run"
    print(f"{name}: seen during the run: {sorted(seen)}")
