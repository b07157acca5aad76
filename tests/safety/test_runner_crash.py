"""Crashes of the real ``chaosrunner run`` (no sandbox): kill -9 mid-method, faults come back out.

Two kinds of fault: one injected like a third-party driver does (only the experiment's rollback knows how
to undo it → the run-level ledger entry replays the rollbacks) and one injected like chaosrunner's own
drivers do (its own ledger entry). Plus the dependency faults around the journal store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.safety.harness import chaosrunner, child_env, wait_for

pytestmark = pytest.mark.slow

REVERT_DEADLINE_S = 10.0


def experiment(tmp_path: Path, *, rollback: bool = True) -> tuple[Path, Path, Path, Path]:
    third_party, own, ready = tmp_path / "fault-third-party", tmp_path / "fault-own", tmp_path / "in-method"
    doc = {
        "title": "file faults",
        "description": "two file faults and a long method, to be killed mid-way",
        "method": [
            {
                "type": "action",
                "name": "inject-third-party",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "inject_file",
                    "arguments": {"path": str(third_party)},
                },
            },
            {
                "type": "action",
                "name": "inject-own",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "inject_file_with_ledger",
                    "arguments": {"path": str(own)},
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
                "name": "remove-third-party",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "delete_file",
                    "arguments": {"path": str(third_party)},
                },
            }
        ]
        if rollback
        else [],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, third_party, own, ready


def journals(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json")) if root.exists() else []


def test_kill_9_of_chaosrunner_run_mid_method_reverts_both_kinds_of_fault(state, tmp_path, reap) -> None:
    path, third_party, own, ready = experiment(tmp_path)
    run = chaosrunner("run", str(path), "--json")
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, 60, "the method to be under way")
        assert run.poll() is None, run.stderr.read().decode() if run.stderr else ""
        assert third_party.exists() and own.exists()
        os.killpg(run.pid, signal.SIGKILL)  # the runner and everything in its group
        took = wait_for(
            lambda: not third_party.exists() and not own.exists(),
            REVERT_DEADLINE_S,
            "both faults reverted by the watchdog",
        )
        assert took < REVERT_DEADLINE_S
        [journal] = journals(tmp_path / "journals")
        wait_for(
            lambda: json.loads(journal.read_text())["chaosrunner"].get("recovered_by") == "watchdog",
            10,
            "the journal to be marked",
        )
        cr = json.loads(journal.read_text())["chaosrunner"]
        assert cr["verdict"] == "aborted" and cr["complete"] is True
        assert sorted(e["fault"] for e in cr["ledger"]) == ["experiment", "file-exists"]
        assert all(e["outcome"] == "undone" for e in cr["ledger"])
    finally:
        run.kill()
        run.wait(timeout=5)
        _reap_watchdogs(state, reap)


def test_next_run_reverts_what_a_crashed_run_without_watchdog_left(state, tmp_path, reap) -> None:
    path, third_party, own, ready = experiment(tmp_path)
    run = chaosrunner("run", str(path), "--json")
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, 60, "the method to be under way")
        _reap_watchdogs(state, reap, kill=True)  # the watchdog died too (the OOM killer took both)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=5)
        assert third_party.exists() and own.exists()
        log = tmp_path / "harmless.log"
        harmless = tmp_path / "harmless.yaml"
        harmless.write_text(
            yaml.safe_dump(
                {
                    "title": "harmless",
                    "description": "a run that injects nothing",
                    "method": [
                        {
                            "type": "action",
                            "name": "note",
                            "provider": {
                                "type": "python",
                                "module": "chaos_undo_marks",
                                "func": "append_line",
                                "arguments": {"path": str(log)},
                            },
                        }
                    ],
                }
            )
        )
        out = subprocess.run(
            [sys.executable, "-m", "chaosrunner", "run", str(harmless), "--json"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, (out.stdout, out.stderr)
        assert not third_party.exists() and not own.exists()  # reverted before the next run started
        crashed = [
            j for j in journals(tmp_path / "journals") if json.loads(j.read_text())["chaosrunner"].get("recovered_by")
        ]
        assert len(crashed) == 1
        assert json.loads(crashed[0].read_text())["chaosrunner"]["recovered_by"] == "recover"
    finally:
        run.kill()
        run.wait(timeout=5)
        _reap_watchdogs(state, reap, kill=True)


def _reap_watchdogs(state: Path, reap: list[int], kill: bool = False) -> None:
    """Find watchdogs of this test's runs (by their --state argument) so they never outlive the test."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "chaosrunner.faults.watchdog" in cmd and str(state) in cmd:
            reap.append(p.pid)
            if kill:
                try:
                    p.kill()
                    p.wait(timeout=5)
                except psutil.Error:
                    pass


def test_refused_before_injecting_when_the_journal_store_is_not_writable(state, tmp_path) -> None:
    path, third_party, own, ready = experiment(tmp_path)
    blocked = tmp_path / "journals-is-a-file"
    blocked.write_text("not a directory")
    out = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "run", str(path), "--json", "--journal-dir", str(blocked)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 4, out.stderr
    assert json.loads(out.stdout)["verdict"] == "refused"
    assert not third_party.exists() and not own.exists() and not ready.exists()


def test_refused_before_injecting_when_the_disk_is_full(state, tmp_path) -> None:
    """RLIMIT_FSIZE=0 makes every file write fail (EFBIG) like a full disk; Python ignores SIGXFSZ."""
    import resource

    path, third_party, own, ready = experiment(tmp_path)

    def no_space() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    out = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "run", str(path), "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=no_space,
    )
    assert out.returncode == 4, (out.stdout, out.stderr)
    assert not third_party.exists() and not own.exists() and not ready.exists()
