"""The statistical baseline is quiet time: readings taken while another run's fault was live are left out."""

from __future__ import annotations

import json
import time
from pathlib import Path

from chaosrunner.faults.ledger import FaultWindow, Ledger
from chaosrunner.guard.baseline import read_baseline
from chaosrunner.slo.source import SliUnavailable

T0 = 1_800_000_000.0


def scripted(points: dict[str, dict[float, float]]):  # noqa: ANN201 - a series() stand-in
    def series(promql: str) -> list[tuple[float, float]]:
        if "broken" in promql:
            raise SliUnavailable("unreachable", "down")
        return sorted(points["bad" if promql.startswith("(bad") else "total"].items())
    return series


def test_readings_while_another_runs_fault_was_live_are_left_out_and_counted() -> None:
    # 60 readings, one per second; errors 2 % while a Thursday's fault was live (t0+10 … t0+16) and for
    # the 5 s SLI window after its revert, 0 % otherwise
    total = {T0 + i: 50.0 for i in range(60)}
    bad = {T0 + i: (1.0 if 10 <= i <= 21 else 0.0) for i in range(60)}
    windows = [FaultWindow("thu", T0 + 10, T0 + 16)]
    b = read_baseline(scripted({"bad": bad, "total": total}), [("avail", "bad", "total")], "60s:1s", windows,
                      5.0, T0 + 60)
    assert b.samples["avail"] == [0.0] * 48  # t0+10 … t0+21 (16 + the 5 s window) left out
    assert b.excluded == {"avail": 12} and "thu" in (b.why() or "")
    quiet = read_baseline(scripted({"bad": bad, "total": total}), [("avail", "bad", "total")], "60s:1s", [],
                          5.0, T0 + 60)
    assert len(quiet.samples["avail"]) == 60 and max(quiet.samples["avail"]) == 0.02 and quiet.why() is None


def test_a_fault_still_open_covers_up_to_now_and_a_failing_query_leaves_no_baseline() -> None:
    total = {T0 + i: 10.0 for i in range(10)}
    b = read_baseline(scripted({"bad": {}, "total": total}), [("a", "bad", "total"), ("b", "broken", "total")],
                      "10s:1s", [FaultWindow("open-run", T0 + 7, None)], 0.0, T0 + 10)
    assert b.samples == {"a": [0.0] * 7} and b.excluded == {"a": 3}


def test_the_ledger_names_other_runs_fault_windows_from_recent_history(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - 3 * 86400))
    mine, other, ancient = f"{stamp}-tue-aaaaaa", f"{stamp}-thu-bbbbbb", f"{old}-mon-cccccc"
    ledger.record(mine, "experiment", "run", None, pid=1)
    ledger.record(mine, "latency", "db", None, pid=1)
    run_level = ledger.record(other, "experiment", "run", None, pid=1)
    failover = ledger.record(other, "failover", "db", None, pid=1)
    ledger.close(failover, "undone")
    ledger.close(run_level, "undone")
    still_open = ledger.record(ancient, "kill", "i-1", None, pid=1)  # started days ago, never reverted
    windows = ledger.fault_windows(now - 60, other_than=mine)
    assert {(w.run_id, w.reverted is None) for w in windows} == {(other, False), (ancient, True)}
    assert all(w.run_id != mine for w in windows)  # the run's own faults are not "another run's"
    assert ledger.fault_windows(time.time() + 60, other_than=mine) == [
        FaultWindow(ancient, ledger.get(still_open).recorded_at, None)]  # type: ignore[union-attr]
    assert json.dumps([w.__dict__ for w in windows])  # plain data


def test_faults_injected_outside_any_run_count_as_another_runs_window(tmp_path: Path) -> None:
    """Our drivers under plain `chaos run` (or by hand) record under ``adhoc``: a chaosrunner run right after
    must not take their errors for its baseline (they were invisible once reverted)."""
    ledger = Ledger(tmp_path)
    now = time.time()
    mine = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-tue-aaaaaa"
    cut = ledger.record("adhoc", "partition", "pg-a", None, pid=1)
    ledger.close(cut, "undone")
    windows = ledger.fault_windows(now - 60, other_than=mine)
    assert [(w.run_id, w.reverted is not None) for w in windows] == [("adhoc", True)]
    assert ledger.fault_windows(time.time() + 60, other_than=mine) == []  # reverted before: not this baseline's
