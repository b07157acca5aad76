"""The fault ledger: durable entries, undo execution with timeouts, orphan recovery, journal marking."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from chaosrunner.faults.ledger import Ledger, close_fault, record_fault
from chaosrunner.faults.recovery import journal_path_for, mark_journal, recover_orphans
from chaosrunner.faults.undo import revert_open, rollbacks_undo, still_running
from chaosrunner.faults.watchdog import Decision, decide


def undo(func: str, **arguments: object) -> dict:
    return {"type": "python", "module": "chaos_undo_marks", "func": func, "arguments": arguments}


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_record_is_on_disk_before_it_returns(state: Path) -> None:
    ledger = Ledger(state)
    entry_id = ledger.record("run-1", "latency-toxic", "proxy a", undo("delete_file", path="/x"), expires_at=123.0)
    data = json.loads((state / "ledger" / "run-1" / f"{entry_id}.json").read_text())
    assert data["status"] == "open" and data["fault"] == "latency-toxic" and data["expires_at"] == 123.0
    assert data["pid"] == os.getpid() and data["undo"]["func"] == "delete_file"
    assert [e.id for e in ledger.open_entries("run-1")] == [entry_id]


def test_close_takes_the_entry_out_of_the_open_index(state: Path) -> None:
    ledger = Ledger(state)
    a = ledger.record("run-1", "f", "t", None)
    b = ledger.record("run-1", "g", "t", None)
    ledger.close(a, "undone")
    ledger.close(a, "undo-failed")  # closing twice keeps the first outcome
    assert [e.id for e in ledger.open_entries()] == [b]
    closed = ledger.get(a)
    assert closed is not None and closed.status == "closed" and closed.outcome == "undone"
    assert closed.closed_at is not None
    assert [m[1] for m in ledger.open_markers()] == [b]


def test_refuses_run_ids_that_escape_the_ledger(state: Path) -> None:
    for bad in ("../x", "a/b", "..", "", "_open/../../etc", "a+b"):
        with pytest.raises(ValueError):
            Ledger(state).record(bad, "f", "t", None)
    assert not (state.parent / "x").exists()


def test_cannot_record_when_the_state_dir_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state dir should be")
    with pytest.raises(OSError):
        Ledger(blocker).record("run-1", "f", "t", None)


def test_revert_open_runs_undos_newest_first_and_closes_them(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    log = tmp_path / "log"
    first = ledger.record("run-1", "first", "t", undo("append_line", path=str(log), text="first"))
    time.sleep(0.01)
    second = ledger.record("run-1", "second", "t", undo("append_line", path=str(log), text="second"))
    outcomes = revert_open(ledger, "run-1")
    assert [o.entry_id for o in outcomes] == [second, first]
    assert log.read_text().split() == ["second", "first"]
    assert all(o.outcome == "undone" for o in outcomes)
    assert ledger.open_entries() == []
    assert revert_open(ledger) == []  # nothing runs twice


def test_one_failed_undo_does_not_stop_the_others(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    fault = tmp_path / "fault"
    fault.write_text("x")
    ledger.record("run-1", "kept", "t", undo("delete_file", path=str(fault)))
    time.sleep(0.01)
    ledger.record("run-1", "broken", "t", undo("fail", message="toxiproxy said 500"))
    outcomes = revert_open(ledger)
    assert [(o.fault, o.outcome) for o in outcomes] == [("broken", "undo-failed"), ("kept", "undone")]
    assert "toxiproxy said 500" in outcomes[0].detail
    assert not fault.exists()


def test_a_hung_undo_is_reported_still_running_and_its_entry_stays_open(state: Path, tmp_path: Path) -> None:
    """The undo's thread cannot be killed: the entry is not closed as if it had failed (its fault may still
    be in place), it stays open for the next keeper, and the live thread is reported."""
    ledger = Ledger(state)
    fault = tmp_path / "fault"
    fault.write_text("x")
    ledger.record("run-1", "after", "t", undo("delete_file", path=str(fault)))
    time.sleep(0.01)
    ledger.record("run-1", "hung", "t", undo("hang", seconds=60))
    start = time.monotonic()
    outcomes = revert_open(ledger, timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert [(o.fault, o.outcome) for o in outcomes] == [("hung", "undo-running"), ("after", "undone")]
    assert "0.5 s" in outcomes[0].detail and "still running" in outcomes[0].detail
    assert not outcomes[0].ok
    assert not fault.exists()
    assert [e.fault for e in ledger.open_entries("run-1")] == ["hung"]
    assert "undo hung" in still_running()


def test_an_expired_fault_without_undo_closes_as_expired(state: Path) -> None:
    ledger = Ledger(state)
    ledger.record("run-1", "stress-ng --timeout", "host", None, expires_at=time.time() - 1)
    ledger.record("run-1", "no undo, not expired", "host", None, expires_at=time.time() + 3600)
    outcomes = {o.fault: o.outcome for o in revert_open(ledger)}
    assert outcomes == {"stress-ng --timeout": "expired", "no undo, not expired": "undo-failed"}


def test_a_planted_entry_writable_by_others_is_never_executed(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    log = tmp_path / "log"
    entry_id = ledger.record("run-1", "f", "t", undo("append_line", path=str(log)))
    path = state / "ledger" / "run-1" / f"{entry_id}.json"
    os.chmod(path, 0o666)
    [outcome] = revert_open(ledger)
    assert outcome.outcome == "undo-failed" and "not owner-only" in outcome.detail
    assert not log.exists()
    assert ledger.unreadable_open() == [("run-1", entry_id, path)]  # still reported, never forgotten
    assert [o.outcome for o in revert_open(ledger)] == ["undo-failed"]


def test_a_corrupt_entry_keeps_its_run_visible_as_not_reverted(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    entry_id = ledger.record("run-1", "f", "t", None, pid=dead_pid())
    (state / "ledger" / "run-1" / f"{entry_id}.json").write_text("{torn")
    [outcome] = recover_orphans()
    assert outcome.outcome == "undo-failed" and outcome.entry_id == entry_id
    assert ledger.open_markers() != []


def test_driver_api_uses_the_run_id_from_the_environment(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adhoc = record_fault("f", "t", None)
    monkeypatch.setenv("CHAOSRUNNER_RUN_ID", "20261122T010000Z-latency-abc123")
    monkeypatch.setenv("CHAOSRUNNER_RUNNER_PID", "4242")
    in_run = record_fault("f", "t", None)
    ledger = Ledger(state)
    assert ledger.get(adhoc, "adhoc") is not None
    entry = ledger.get(in_run, "20261122T010000Z-latency-abc123")
    assert entry is not None and entry.pid == 4242
    close_fault(in_run)
    close_fault(None)
    assert [e.id for e in ledger.open_entries()] == [adhoc]


def test_recover_orphans_reverts_only_runs_whose_owner_is_gone(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    orphan = tmp_path / "orphan"
    live = tmp_path / "live"
    orphan.write_text("x")
    live.write_text("x")
    ledger.record("dead-run", "f", "t", undo("delete_file", path=str(orphan)), pid=dead_pid())
    ledger.record("live-run", "f", "t", undo("delete_file", path=str(live)))
    outcomes = recover_orphans()
    assert [(o.run_id, o.outcome) for o in outcomes] == [("dead-run", "undone")]
    assert not orphan.exists() and live.exists()
    assert [e.run_id for e in ledger.open_entries()] == ["live-run"]


def test_recover_orphans_with_nothing_open_creates_nothing(state: Path) -> None:
    assert recover_orphans() == []
    assert not state.exists()


def test_recover_orphans_marks_the_dead_runs_journal(state: Path, tmp_path: Path) -> None:
    run_id = "20261122T010203Z-latency-abc123"
    journal = tmp_path / "journals" / "2026" / "11" / "22" / f"{run_id}.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(
        json.dumps(
            {
                "status": "running",
                "chaosrunner": {"run_id": run_id, "verdict": "running", "complete": False, "ledger": []},
            }
        )
    )
    assert journal_path_for(run_id) == journal
    Ledger(state).record(run_id, "f", "t", undo("fail"), pid=dead_pid())
    recover_orphans()
    cr = json.loads(journal.read_text())["chaosrunner"]
    assert cr["recovered_by"] == "recover" and cr["complete"] is True
    assert cr["verdict"] == "rollback-failed" and cr["exit_code"] == 5
    assert cr["ledger"][0]["outcome"] == "undo-failed"


def test_journal_mark_merges_ledger_outcomes(state: Path, tmp_path: Path) -> None:
    ledger = Ledger(state)
    eid = ledger.record("r1", "latency", "proxy", undo("append_line", path=str(tmp_path / "log")))
    journal = tmp_path / "j.json"
    journal.write_text(json.dumps({"chaosrunner": {"ledger": [{"id": eid, "fault": "latency", "outcome": None}]}}))
    outcomes = revert_open(ledger)
    data = mark_journal(journal, ledger, "r1", outcomes, "watchdog")
    cr = data["chaosrunner"]
    assert cr["verdict"] == "aborted" and cr["exit_code"] == 3 and cr["recovered_by"] == "watchdog"
    assert len(cr["ledger"]) == 1 and cr["ledger"][0]["outcome"] == "undone"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


def test_journal_mark_creates_a_minimal_journal_when_none_survived(state: Path, tmp_path: Path) -> None:
    data = mark_journal(tmp_path / "missing.json", Ledger(state), "r1", [], "watchdog")
    assert data["chaosrunner"]["recovered_by"] == "watchdog"
    assert json.loads((tmp_path / "missing.json").read_text())["chaosrunner"]["complete"] is True


EXPERIMENT = {
    "title": "t",
    "description": "d",
    "configuration": {"marks": {"type": "env", "key": "SAFETY_MARKS"}, "zone": "us-east-a"},
    "secrets": {"proxy": {"token": {"type": "env", "key": "SAFETY_TOKEN"}}},
    "method": [
        {
            "type": "action",
            "name": "remove-marker",
            "provider": {
                "type": "python",
                "module": "chaos_undo_marks",
                "func": "append_line",
                "arguments": {"path": "${marks}", "text": "ref-${zone}"},
            },
        }
    ],
    "rollbacks": [
        {
            "type": "action",
            "name": "record",
            "provider": {
                "type": "python",
                "module": "chaos_undo_marks",
                "func": "record_configuration",
                "secrets": ["proxy"],
                "arguments": {"path": "${marks}.conf"},
            },
        },
        {"ref": "remove-marker"},
        {
            "type": "action",
            "name": "broken",
            "provider": {"type": "python", "module": "chaos_undo_marks", "func": "fail", "arguments": {}},
        },
    ],
}


def test_run_level_entry_stores_references_never_secret_values(tmp_path: Path) -> None:
    spec = rollbacks_undo(tmp_path / "e.json", {"marks": "/resolved/value", "zone": "us-east-a"}, EXPERIMENT)
    text = json.dumps(spec)
    assert spec["configuration"]["marks"] == {"type": "env", "key": "SAFETY_MARKS"}
    assert spec["secret_env"] == ["SAFETY_TOKEN"] and "/resolved/value" not in text


def test_run_level_entry_replays_the_experiments_rollbacks(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks"
    monkeypatch.setenv("SAFETY_MARKS", str(marks))
    monkeypatch.setenv("SAFETY_TOKEN", "s3cret-token")
    experiment = tmp_path / "e.json"
    experiment.write_text(json.dumps(EXPERIMENT))
    ledger = Ledger(state)
    ledger.record("r1", "experiment", str(experiment), rollbacks_undo(experiment, {}, EXPERIMENT))
    assert "s3cret-token" not in (state / "ledger" / "r1").joinpath(os.listdir(state / "ledger" / "r1")[0]).read_text()
    [outcome] = revert_open(ledger)
    assert outcome.outcome == "undo-failed" and "broken" in outcome.detail  # one rollback failed: reported
    assert marks.read_text().split() == ["ref-us-east-a"]  # the others still ran, with configuration
    seen = json.loads(Path(f"{marks}.conf").read_text())
    assert seen["secrets"] == {"token": "s3cret-token"}  # secrets resolved from env at recovery time


def test_watchdog_decisions() -> None:
    assert decide(runner_alive=True, done=False, heartbeat_age_s=0.4, open_entries=2) is Decision.WAIT
    assert decide(runner_alive=True, done=False, heartbeat_age_s=3.1, open_entries=2) is Decision.KILL_AND_REVERT
    assert decide(runner_alive=True, done=False, heartbeat_age_s=9.0, open_entries=0) is Decision.WAIT
    assert decide(runner_alive=False, done=False, heartbeat_age_s=0.1, open_entries=1) is Decision.REVERT
    assert decide(runner_alive=False, done=False, heartbeat_age_s=0.1, open_entries=0) is Decision.EXIT
    assert decide(runner_alive=False, done=True, heartbeat_age_s=9.0, open_entries=1) is Decision.EXIT


def test_one_fault_on_several_targets_is_undone_together_and_layers_stay_ordered(state: Path, tmp_path: Path) -> None:
    from chaosrunner.faults.undo import undo_batches

    ledger = Ledger(state)
    spans = tmp_path / "spans"
    log = tmp_path / "order"
    ledger.record("r1", "experiment", "e", rollbacks_undo(tmp_path / "e.json", {}, {}))
    for proxy in ("a-1", "a-2", "b-1"):
        time.sleep(0.01)
        ledger.record("r1", "region-out", proxy, undo("timed", path=str(spans), seconds=0.5))
    time.sleep(0.01)
    ledger.record("r1", "latency", "a-1", undo("append_line", path=str(log), text="latency"))
    batches = undo_batches(sorted(ledger.open_entries("r1"), key=lambda e: e.recorded_at, reverse=True))
    assert [[e.fault for e in b] for b in batches] == [["latency"], ["region-out"] * 3, ["experiment"]]
    (tmp_path / "e.json").write_text(
        json.dumps(
            {
                "title": "t",
                "description": "d",
                "method": [],
                "rollbacks": [
                    {
                        "type": "action",
                        "name": "after-region",
                        "provider": {
                            "type": "python",
                            "module": "chaos_undo_marks",
                            "func": "append_line",
                            "arguments": {"path": str(log), "text": "rollback"},
                        },
                    }
                ],
            }
        )
    )
    outcomes = revert_open(ledger, "r1")
    assert [o.outcome for o in outcomes] == ["undone"] * 5
    intervals = [json.loads(line) for line in spans.read_text().splitlines()]
    assert max(s for s, _ in intervals) < min(e for _, e in intervals)  # the three region undos overlapped
    assert log.read_text().split() == ["latency", "rollback"]  # layers: newest first, run-level last
