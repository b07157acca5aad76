"""The dead-man's switch on real processes: kill -9 the runner, the watchdog reverts within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chaosrunner.faults.ledger import Ledger
from tests.safety.harness import child_env, pid_gone, wait_for

pytestmark = pytest.mark.slow

RUN_ID = "20261122T010203Z-file-faults-abc123"
REVERT_DEADLINE_S = 10.0


def journal_cr(journal: Path) -> dict:
    return json.loads(journal.read_text())["chaosrunner"]


def start_runner(
    spawn: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    mode: str,
    faults: int = 3,
    reap: list[int] | None = None,
) -> tuple[subprocess.Popen[bytes], dict, list[Path], Path]:
    files = [tmp_path / f"fault-{i}" for i in range(faults)]
    ready = tmp_path / "ready.json"
    journal = tmp_path / "journal.json"
    runner = spawn(
        str(Path(__file__).parent / "fake_runner.py"),
        RUN_ID,
        str(journal),
        str(ready),
        mode,
        *map(str, files),
    )
    def written() -> dict | None:  # the fake runner writes ready.json in place: wait for all of it
        try:
            return dict(json.loads(ready.read_text()))
        except (OSError, ValueError):
            return None

    wait_for(lambda: written() is not None or runner.poll() is not None, 20, "the fake runner to inject")
    assert runner.poll() in (None, 0), f"fake runner exited with {runner.returncode}"
    info = written()
    assert info is not None
    if reap is not None and info["watchdog_pid"]:
        reap.append(info["watchdog_pid"])
    return runner, info, files, journal


def test_kill_9_of_the_runner_reverts_every_fault_and_marks_the_journal(state, tmp_path, spawn, reap) -> None:
    runner, info, files, journal = start_runner(spawn, tmp_path, "hold", reap=reap)
    assert all(f.exists() for f in files)
    os.kill(runner.pid, signal.SIGKILL)
    took = wait_for(lambda: not any(f.exists() for f in files), REVERT_DEADLINE_S, "every fault to be reverted")
    assert took < REVERT_DEADLINE_S
    wait_for(lambda: pid_gone(info["watchdog_pid"]), 10, "the watchdog to exit")
    cr = json.loads(journal.read_text())["chaosrunner"]
    assert cr["recovered_by"] == "watchdog" and cr["complete"] is True
    assert cr["verdict"] == "aborted" and cr["exit_code"] == 3
    assert sorted(e["outcome"] for e in cr["ledger"]) == ["undone"] * 3
    assert Ledger(state).open_entries() == []


def test_watchdog_survives_the_runners_whole_process_group_being_killed(state, tmp_path, spawn, reap) -> None:
    runner, info, files, _ = start_runner(spawn, tmp_path, "hold", faults=1, reap=reap)
    os.killpg(runner.pid, signal.SIGKILL)
    wait_for(lambda: not files[0].exists(), REVERT_DEADLINE_S, "the fault to be reverted")


def test_a_runner_that_stops_beating_is_killed_and_its_faults_reverted(state, tmp_path, spawn, reap) -> None:
    runner, info, files, journal = start_runner(spawn, tmp_path, "hold", faults=2, reap=reap)
    os.kill(runner.pid, signal.SIGSTOP)  # hung: alive, but no heartbeat
    wait_for(lambda: not any(f.exists() for f in files), 3 + REVERT_DEADLINE_S, "faults of a hung runner reverted")
    wait_for(lambda: runner.poll() is not None, 5, "the hung runner to be killed")
    assert runner.returncode == -signal.SIGKILL
    wait_for(lambda: journal_cr(journal).get("recovered_by") == "watchdog", 10, "the journal mark")


def test_a_failed_undo_is_reported_as_rollback_failed(state, tmp_path, spawn, reap) -> None:
    runner, info, files, journal = start_runner(spawn, tmp_path, "fail-undo", faults=2, reap=reap)
    os.kill(runner.pid, signal.SIGKILL)
    wait_for(lambda: not files[0].exists(), REVERT_DEADLINE_S, "the revertible fault to be reverted")
    wait_for(lambda: journal_cr(journal).get("complete"), 10, "the journal mark")
    cr = json.loads(journal.read_text())["chaosrunner"]
    assert cr["verdict"] == "rollback-failed" and cr["exit_code"] == 5
    assert "driver API unreachable" in cr["reason"]
    assert files[1].exists()  # honestly reported as still in place


def test_a_clean_finish_lets_the_watchdog_exit_without_touching_anything(state, tmp_path, spawn, reap) -> None:
    runner, info, files, journal = start_runner(spawn, tmp_path, "finish", faults=2, reap=reap)
    assert runner.wait(timeout=20) == 0
    wait_for(lambda: pid_gone(info["watchdog_pid"]), 10, "the watchdog to exit after a clean finish")
    cr = json.loads(journal.read_text())["chaosrunner"]
    assert cr.get("recovered_by") is None and cr["verdict"] == "running"  # the runner's journal, untouched
    assert not (state / "heartbeats" / RUN_ID).exists()


def test_recover_command_reverts_a_run_that_had_no_watchdog(state, tmp_path, spawn) -> None:
    runner, info, files, _ = start_runner(spawn, tmp_path, "no-watchdog", faults=2)
    live = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "recover", "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert live.returncode == 0 and json.loads(live.stdout)["reverted"] == []  # its runner is alive: hands off
    assert all(f.exists() for f in files)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=5)
    done = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "recover", "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [r["outcome"] for r in report["reverted"]] == ["undone", "undone"]
    assert not any(f.exists() for f in files)


def test_recover_command_exits_5_when_a_fault_stays_in_place(state, tmp_path, spawn) -> None:
    runner, info, files, _ = start_runner(spawn, tmp_path, "no-watchdog", faults=1)
    Ledger(state).record(
        RUN_ID,
        "unrevertable",
        "db",
        {"type": "python", "module": "chaos_undo_marks", "func": "fail", "arguments": {}},
        pid=runner.pid,
    )
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=5)
    out = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "recover"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 5
    assert "undo-failed" in out.stdout and "unrevertable" in out.stdout


def test_a_watchdog_that_cannot_preload_the_undo_machinery_keeps_watching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The preload is an optimisation inside the watch loop: its failure is logged, never the watchdog's end."""
    import logging
    import threading

    from chaosrunner.faults import watchdog
    from chaosrunner.faults.heartbeat import done_path

    monkeypatch.setattr(watchdog, "PRELOAD_AFTER_S", 0.0)
    monkeypatch.setitem(sys.modules, "chaoslib.activity", None)  # the import raises ImportError
    caplog.set_level(logging.INFO, logger="chaosrunner.faults.watchdog")
    state = tmp_path / "state"
    done = done_path(state, RUN_ID)
    done.parent.mkdir(parents=True, exist_ok=True)
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(watchdog.watch(RUN_ID, os.getpid(), None, state, poll_s=0.02)))
    t.start()
    wait_for(lambda: "cannot preload the undo machinery" in caplog.text or not t.is_alive(), 5, "the preload")
    assert t.is_alive(), "the watchdog stopped watching"
    done.touch()  # the run ends cleanly: the watchdog leaves
    t.join(5)
    assert result == [0]
