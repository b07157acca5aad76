"""kill -9 of ``chaosrunner run`` on the real sandbox: the latency toxic is gone within 10 s, verified from
the sandbox's real state (fault proxy API, supervisor, PostgreSQL roles, HAProxy), without a human."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chaosrunner.sandbox.state import SandboxState
from tests.safety.harness import chaosrunner, wait_for

pytestmark = pytest.mark.slow
REVERT_DEADLINE_S = 10.0


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: Path) -> Iterator[SandboxState]:
    from chaosrunner.sandbox import estate

    root = tmp_path / "sandbox"
    monkeypatch.setenv("CHAOSRUNNER_SANDBOX", str(root))
    try:
        st = estate.up(estate.SandboxOptions(root=root))
        wait_for(lambda: not problems(st), 90, "the sandbox to be steady")
        yield st
    finally:
        estate.down(root)


def problems(st: SandboxState) -> list[str]:
    from chaosrunner.drivers.sandbox.state import steady_state_problems

    # Other suites may run stress-ng on this machine; this experiment never does.
    return [p for p in steady_state_problems(st) if p != "stress-ng is running"]


def toxics(st: SandboxState) -> dict[str, list[str]]:
    from chaosrunner.drivers.sandbox.state import toxiproxy

    return {name: [t["name"] for t in p.get("toxics") or []] for name, p in (toxiproxy(st, "/proxies") or {}).items()}


def test_kill_9_during_a_latency_toxic_leaves_the_sandbox_whole(sandbox, tmp_path, state, reap) -> None:
    ready = tmp_path / "in-method"
    doc = {
        "title": "latency on the database path, killed mid-way",
        "description": "latency toxic through the sandbox driver, then a long method",
        "method": [
            {
                "type": "action",
                "name": "add-latency",
                "provider": {
                    "type": "python",
                    "module": "chaosrunner.drivers.sandbox.latency",
                    "func": "add_latency",
                    "arguments": {"latency_ms": 200, "path": "database", "expires_in_s": 300},
                },
            },
            {
                "type": "action",
                "name": "hold",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "hold",
                    "arguments": {"ready": str(ready)},
                },
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-latency",
                "provider": {
                    "type": "python",
                    "module": "chaosrunner.drivers.sandbox.latency",
                    "func": "remove_latency",
                    "arguments": {"path": "database"},
                },
            }
        ],
    }
    path = tmp_path / "latency.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = chaosrunner("run", str(path), "--json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, 90, "the toxic to be in place")
        assert run.poll() is None
        assert any(toxics(sandbox).values()), "the fault was injected"
        assert problems(sandbox)
        os.killpg(run.pid, signal.SIGKILL)
        took = wait_for(lambda: not problems(sandbox), REVERT_DEADLINE_S, "the sandbox to be whole again")
        assert took < REVERT_DEADLINE_S
        assert not any(toxics(sandbox).values())
        [journal] = list((tmp_path / "journals").rglob("*.json"))
        wait_for(
            lambda: json.loads(journal.read_text())["chaosrunner"].get("recovered_by") == "watchdog",
            10,
            "the journal to say the watchdog recovered the run",
        )
    finally:
        run.kill()
        run.wait(timeout=5)
        import psutil

        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if "chaosrunner.faults.watchdog" in cmd and str(state) in cmd:
                reap.append(p.pid)
