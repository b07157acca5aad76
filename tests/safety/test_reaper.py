"""The reaper's passes, without processes of their own: a dead run's record is finished once; a run whose undo
keeps failing is retried at a steady pace, not at every pass."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chaosrunner.faults import runs
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.reaper import RETRY_S, reap, serve
from tests.safety.harness import HERE

RUN = "20261201T100000Z-dead-run-abcdef"


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_dead_runs_journal_is_marked_even_when_nothing_was_open(state: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"status": "running", "chaosrunner": {"run_id": RUN, "verdict": "running"}}))
    runs.take(state, RUN, dead_pid(), journal, time.time())
    report = reap(state)
    assert report.runs == [RUN]
    section = json.loads(journal.read_text())["chaosrunner"]
    assert section["complete"] and section["verdict"] == "aborted" and section["recovered_by"] == "reaper"
    assert "nothing was left to revert" in section["reason"]
    assert runs.leases(state) == []


def test_a_failed_undo_is_on_record_and_ends_the_keepers_work(state: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"status": "running", "chaosrunner": {"run_id": RUN}}))
    pid = dead_pid()
    runs.take(state, RUN, pid, journal, time.time())
    Ledger(state).record(RUN, "broken", "t", {"type": "python", "module": "chaos_undo_marks", "func": "fail",
                                              "arguments": {}}, pid=pid)
    report = reap(state)
    assert [o.outcome for o in report.outcomes] == ["undo-failed"] and report.runs == [RUN]
    section = json.loads(journal.read_text())["chaosrunner"]
    assert section["verdict"] == "rollback-failed" and "still in place: broken on t" in section["reason"]
    assert runs.leases(state) == []


def test_an_undo_still_running_is_retried_at_a_pace_and_the_lease_kept(state: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"status": "running", "chaosrunner": {"run_id": RUN}}))
    pid = dead_pid()
    runs.take(state, RUN, pid, journal, time.time())
    Ledger(state).record(RUN, "slow", "t", {"type": "python", "module": "chaos_undo_marks", "func": "hang",
                                            "arguments": {"seconds": 3}}, pid=pid)
    attempted: dict[str, float] = {}
    first = reap(state, timeout_s=0.2, attempted=attempted)
    assert [o.outcome for o in first.outcomes] == ["undo-running"]
    assert [lease.run_id for lease in runs.leases(state)] == [RUN]  # kept while the fault may be in place
    second = reap(state, timeout_s=0.2, attempted=attempted)
    assert second.outcomes == [] and second.runs == []  # within RETRY_S: not tried again yet
    attempted[RUN] -= RETRY_S
    third = reap(state, timeout_s=5, attempted=attempted)
    assert [o.outcome for o in third.outcomes] == ["undone"] and runs.leases(state) == []


def test_the_service_reverts_in_a_fresh_interpreter_so_upgraded_undo_code_never_meets_old(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the crash matrix: chaosrunner changed on disk under a running reaper; a new undo module imported
    a helper from a module the reaper had loaded before — ImportError, the fault stayed until its deadline."""
    pkgs = tmp_path / "pkgs"
    (pkgs / "upgraded").mkdir(parents=True)
    (pkgs / "upgraded" / "__init__.py").write_text("")
    (pkgs / "upgraded" / "base.py").write_text("def old() -> int:\n    return 1\n")
    monkeypatch.syspath_prepend(str(pkgs))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pkgs), str(HERE), os.environ.get("PYTHONPATH", "")]))
    try:
        importlib.import_module("upgraded.base")  # the long-lived keeper loaded it before the upgrade
        (pkgs / "upgraded" / "base.py").write_text(
            "def old() -> int:\n    return 1\n\n\ndef new(path: str) -> None:\n"
            "    with open(path, 'w') as f:\n        f.write('undone')\n")
        (pkgs / "upgraded" / "undo.py").write_text(
            "from upgraded.base import new\n\n\ndef revert(path: str) -> None:\n    new(path)\n")
        journal = tmp_path / "journal.json"
        journal.write_text(json.dumps({"status": "running", "chaosrunner": {"run_id": RUN}}))
        pid, marker = dead_pid(), tmp_path / "undone"
        runs.take(state, RUN, pid, journal, time.time())
        Ledger(state).record(RUN, "fault", "t", {"type": "python", "module": "upgraded.undo", "func": "revert",
                                                 "arguments": {"path": str(marker)}}, pid=pid)
        stop = threading.Event()
        keeper = threading.Thread(target=serve, kwargs={"state": state, "interval_s": 0.1, "stop": stop}, daemon=True)
        keeper.start()
        try:
            deadline = time.monotonic() + 30
            while runs.leases(state) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            keeper.join(30)
    finally:
        for name in [m for m in sys.modules if m == "upgraded" or m.startswith("upgraded.")]:
            del sys.modules[name]
    section = json.loads(journal.read_text())["chaosrunner"]
    assert marker.read_text() == "undone", section.get("reason")
    assert section["verdict"] == "aborted" and section["recovered_by"] == "reaper", section
    assert Ledger(state).open_entries() == [] and runs.leases(state) == []


def test_a_watchdog_that_cannot_mark_the_journal_leaves_the_run_to_the_reaper(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog reverts, then fails to mark the journal: the run's lease stays, so the reaper's next pass
    marks it — no run ends with its journal still saying "running"."""
    from chaosrunner.faults import watchdog

    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"status": "running", "chaosrunner": {"run_id": RUN, "verdict": "running"}}))
    fault = tmp_path / "fault"
    fault.write_text("injected")
    pid = dead_pid()
    runs.take(state, RUN, pid, journal, time.time())
    Ledger(state).record(RUN, "file", str(fault), {"type": "python", "module": "chaos_undo_marks",
                                                   "func": "delete_file", "arguments": {"path": str(fault)}}, pid=pid)

    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise ImportError("the journal schema cannot be loaded")

    monkeypatch.setattr(watchdog, "mark_journal", unavailable)
    assert watchdog.watch(RUN, pid, journal, state, poll_s=0.01) == 0
    assert not fault.exists()  # reverted all the same
    assert [lease.run_id for lease in runs.leases(state)] == [RUN]
    monkeypatch.undo()
    assert reap(state).runs == [RUN]
    section = json.loads(journal.read_text())["chaosrunner"]
    assert section["complete"] and section["recovered_by"] == "reaper"
    assert runs.leases(state) == []
