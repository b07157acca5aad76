"""The daemon: real-time runs in child processes, journals, kill -9 + restart, misfire policies,
SIGTERM with rollback, concurrency forbid; and (injected clock) pre-run checks and restricted windows."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaosrunner.calendar.model import load_calendar
from chaosrunner.calendar.parts import WEEKDAYS
from chaosrunner.core.clock import FakeClock
from chaosrunner.sandbox.processes import ManagedProcess
from chaosrunner.schedule.daemon import Daemon, DaemonOptions, FireResult
from chaosrunner.schedule.monkey import real_seconds
from tests.schedule.conftest import journals, wait_for

ALWAYS_OPEN = {"timezone": "UTC", "work_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
               "business_hours": {"start": "00:00", "end": "24:00"}}


def marker_lines(path: Path) -> list[str]:
    try:
        return [x for x in path.read_text().splitlines() if x.strip()]
    except FileNotFoundError:
        return []


def method_runs(path: Path, label: str = "e") -> list[str]:
    """Scheduled-at stamps of the runs whose method ran (the fixture appends 'label ISO')."""
    return [x.split()[1] for x in marker_lines(path) if x.startswith(label + " ")]


class DaemonProcess:
    """`chaosrunner scheduler start` as a real child process (own session, stopped in finally)."""

    def __init__(self, tmp: Path, calendar: Path, name: str, store: str | None = None, ha_group: str = "t",
                 extra: tuple[str, ...] = ()) -> None:
        argv = [sys.executable, "-m", "chaosrunner", "scheduler", "start", str(calendar), "--poll", "0.2",
                "--leader-poll", "0.5", "--ha-group", ha_group, *extra]
        if store:
            argv += ["--store", store]
        self.mp = ManagedProcess(name, argv, tmp / f"{name}.log", env={"PYTHONUNBUFFERED": "1"})

    def __enter__(self) -> DaemonProcess:
        self.mp.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mp.stop(timeout=20)

    def kill9(self) -> None:
        assert self.mp.proc is not None
        os.kill(self.mp.pid, signal.SIGKILL)  # the daemon only: its children live in their own sessions
        self.mp.proc.wait(timeout=10)

    def log(self) -> str:
        return self.mp.log_path.read_text(errors="replace") if self.mp.log_path.exists() else ""


def fires_table(home: Path) -> list[dict]:
    con = sqlite3.connect(home / "scheduler.sqlite")
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM chaosrunner_fires ORDER BY scheduled_at")]
    finally:
        con.close()


def wait_children_gone(marker: Path, timeout: float = 30) -> None:
    """Runs in flight when a daemon died finish on their own (own session): wait for their rollbacks.

    Every run whose method started must have rolled back. The converse need not hold: a runner stopped
    after recording its run-level ledger entry but before its method began gets its (idempotent)
    rollbacks replayed by the watchdog, so a rollback may have no method run."""
    unsettled: list[str] = []

    def settled() -> bool:
        runs = method_runs(marker)
        rollbacks = [x.split()[1] for x in marker_lines(marker) if x.startswith("rollback-e ")]
        unsettled[:] = sorted((Counter(runs) - Counter(rollbacks)).elements())
        return not unsettled
    try:
        wait_for(settled, timeout, "every started run to roll back")
    except BaseException:  # say which runs, and what the marker recorded, before failing
        print(f"runs without a rollback: {unsettled}\nmarker:\n" + "\n".join(marker_lines(marker)[-40:]))
        raise


@pytest.mark.slow
def test_runs_fire_in_child_processes_and_write_journals(tmp_path, write_calendar, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    cal = write_calendar({**ALWAYS_OPEN, "entries": [
        {"name": "e", "every": "2s", "configuration": {"marker": str(marker), "label": "e"}}]})
    with DaemonProcess(tmp_path, cal, "daemon") as d:
        wait_for(lambda: len([j for j in journals(private_state["journals"])
                              if j["chaosrunner"]["verdict"] == "passed"]) >= 3, 60, "three passed runs")
        daemon_pid = d.mp.pid
    wait_children_gone(marker)
    runs = method_runs(marker)
    assert len(runs) == len(set(runs))  # each fire once
    docs = [j for j in journals(private_state["journals"]) if j["chaosrunner"]["verdict"] == "passed"]
    assert len(docs) >= 3
    for j in docs:
        assert j["chaosrunner"]["trigger"] == "schedule" and j["chaosrunner"]["calendar_entry"] == "e"
    rows = fires_table(private_state["home"])
    ran = [r for r in rows if r["outcome"] == "ran"]
    assert len([r for r in ran if r["exit_code"] == 0]) >= 2, rows  # the last may be cut short by the stop
    assert all(r["owner"].endswith(f":{daemon_pid}") for r in rows)
    logs = sorted((private_state["home"] / "scheduler-logs").glob("e-*.log"))
    assert len(logs) >= 3  # one child process (and log) per fire


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_kill9_and_restart_never_runs_a_fire_twice(tmp_path, write_calendar, private_state, policy) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    cal = write_calendar({**ALWAYS_OPEN, "defaults": {"misfire": policy, "misfire_grace": "10m"}, "entries": [
        {"name": "e", "every": "2s", "configuration": {"marker": str(marker), "label": "e"}}]})
    with DaemonProcess(tmp_path, cal, "first") as d:
        wait_for(lambda: len(method_runs(marker)) >= 1, 40, "a run before the crash")
        d.kill9()
    killed_at = datetime.now(UTC)
    # Stay down long enough to miss at least two fires (deliberate downtime, not a wait for a condition).
    time.sleep(5)
    wait_children_gone(marker)
    before = set(method_runs(marker))
    with DaemonProcess(tmp_path, cal, "second") as d2:
        wait_for(lambda: len(set(method_runs(marker)) - before) >= 2, 40, "runs after the restart")
        lead = re.search(r"leading since (\S+):", d2.log())
        assert lead, d2.log()
    wait_children_gone(marker)
    runs = method_runs(marker)
    assert len(runs) == len(set(runs)), Counter(runs).most_common(3)  # no fire ran twice
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    missed_and_ran = [r for r in set(runs) - before
                      if killed_at.strftime(stamp) < r <= lead.group(1)]  # whole-second fires
    refusals = [j["chaosrunner"]["reason"] for j in journals(private_state["journals"])
                if j["chaosrunner"]["verdict"] == "refused"]
    if policy == "run_once":
        assert len(missed_and_ran) == 1, missed_and_ran  # coalesced: the missed fires ran once
        assert not any("missed" in r for r in refusals)
    else:
        assert missed_and_ran == []
        assert any("misfire policy: skip" in r for r in refusals), refusals


@pytest.mark.slow
def test_the_daemon_serves_its_metrics_leader_fires_and_runs_by_exit_code(
    tmp_path, write_calendar, private_state  # noqa: ANN001
) -> None:
    marker = tmp_path / "marker"
    cal = write_calendar({**ALWAYS_OPEN, "entries": [
        {"name": "e", "every": "2s", "configuration": {"marker": str(marker), "label": "e"}}]})
    with DaemonProcess(tmp_path, cal, "daemon", extra=("--metrics-port", "0")) as d:
        port = int(wait_for(lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", d.log()), 30,
                            "the metrics server").group(1))

        def scrape() -> dict[str, float]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
                return {f"{s.name}{sorted(s.labels.items())}": s.value
                        for fam in text_string_to_metric_families(r.read().decode()) for s in fam.samples}

        m = wait_for(lambda: (lambda m: m if m.get("chaosrunner_scheduler_runs_total[('entry', 'e'), "
                                             "('exit_code', '0')]", 0) >= 2 else None)(scrape()),
                     60, "two passed runs in /metrics")
        assert m["chaosrunner_scheduler_leader[]"] == 1.0 and m["chaosrunner_scheduler_kill_switch[]"] == 0.0
        assert m["chaosrunner_scheduler_fires_total[('entry', 'e'), ('outcome', 'ran')]"] >= 2
        next_fire = m["chaosrunner_scheduler_next_fire_timestamp_seconds[('entry', 'e')]"]
        assert time.time() - 1 <= next_fire <= time.time() + 3  # every 2 s
    with pytest.raises(OSError):  # the server went with the daemon
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3)


@pytest.mark.slow
def test_sigterm_lets_the_running_experiment_roll_back(tmp_path, write_calendar, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    cal = write_calendar({**ALWAYS_OPEN, "defaults": {"term_grace": "20s"}, "entries": [
        {"name": "e", "every": "1s", "configuration": {"marker": str(marker), "label": "e", "hold": "60"}}]})
    with DaemonProcess(tmp_path, cal, "daemon") as d:
        wait_for(lambda: method_runs(marker), 40, "the run's method to start")
        # While it holds, later fires are refused (concurrency: forbid) and journaled.
        wait_for(lambda: any("still in progress" in (j["chaosrunner"].get("reason") or "")
                             for j in journals(private_state["journals"])), 20, "a concurrency refusal")
        os.killpg(d.mp.pid, signal.SIGTERM)  # the daemon's own group; the child has its own session
        d.mp.proc.wait(timeout=30)  # type: ignore[union-attr]
        assert d.mp.proc.returncode == 0  # type: ignore[union-attr]
    lines = marker_lines(marker)
    assert any(x.startswith("rollback-e ") for x in lines), lines
    aborted = [j for j in journals(private_state["journals"]) if j["chaosrunner"]["verdict"] == "interrupted"]
    assert len(aborted) == 1 and aborted[0]["chaosrunner"]["calendar_entry"] == "e"
    assert len(method_runs(marker)) == 1


# --- injected clock: no sleeping for the decisions ----------------------------------------------


def make_daemon(path: Path, clock: FakeClock, **kw) -> Daemon:  # noqa: ANN003
    return Daemon(load_calendar(path), DaemonOptions(), clock=clock, **{"killswitch": lambda: None, **kw})


def test_restricted_window_halts_a_running_experiment(tmp_path, write_calendar, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    # The child runner re-checks the window with the *real* clock: put the restricted window on a day
    # three days from now, and the fake clock on that day.
    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=14, minute=30, second=0, microsecond=0)
    weekday = WEEKDAYS[day.weekday()]
    path = write_calendar({**ALWAYS_OPEN, "defaults": {"term_grace": "20s"},
                           "restricted": [{"name": "release", "days": [weekday], "start": "15:00", "end": "16:00"}],
                           "entries": [{"name": "e", "cron": "* * * * *",
                                        "configuration": {"marker": str(marker), "label": "e", "hold": "120"}}]})
    clock = FakeClock(day)
    daemon = make_daemon(path, clock)
    results: list[FireResult] = []
    t = threading.Thread(target=lambda: results.append(daemon.fire("e", clock.now(), {"entry": "e"})))
    t.start()
    try:
        wait_for(lambda: method_runs(marker), 40, "the experiment's method to start")
        clock.set(day.replace(hour=14, minute=59))
        assert daemon.tick() == []  # not yet
        clock.set(day.replace(hour=15))
        assert daemon.tick() == ["e"]
        t.join(timeout=40)
    finally:
        daemon._stop_children("test cleanup")
        t.join(timeout=30)
    (res,) = results
    assert res.exit_code == 3 and "restricted window release began" in res.detail
    assert any(x.startswith("rollback-e ") for x in marker_lines(marker))
    (journal,) = journals(private_state["journals"])
    assert journal["chaosrunner"]["verdict"] == "interrupted"  # the daemon stopped it: not scored


@pytest.mark.parametrize("setup, code, reason", [
    ({"killswitch": lambda: "game day in progress"}, None, "kill switch engaged: game day in progress"),
    ({"budget_reader": lambda cal: 0.10}, None, "error budget freeze: 10.0% remaining"),
    ({"budget_reader": lambda cal: None}, None, "error budget unknown: freeze check fails closed"),
    ({"budget_reader": lambda cal: 1 / 0}, None, "error budget unreadable (ZeroDivisionError"),
    ({}, "2026-06-06T10:00:00", "Sat 2026-06-06 10:00 UTC: sat is not a work day"),
    ({}, "2026-06-02T18:00:00", "outside business hours 09:00-17:00"),
])
def test_skipped_fires_leave_a_journal_saying_why(tmp_path, write_calendar, private_state,  # noqa: ANN001
                                                  setup, code, reason) -> None:
    path = write_calendar({"timezone": "UTC", "freeze": {"error_budget_below": "25%", "slos": ["x"]},
                           "entries": [{"name": "e", "cron": "0 * * * *"}]})
    now = datetime.fromisoformat(code).replace(tzinfo=UTC) if code else datetime(2026, 6, 2, 10, tzinfo=UTC)
    clock = FakeClock(now)
    daemon = make_daemon(path, clock, **{"budget_reader": lambda cal: 0.9, **setup})
    res = daemon.fire("e", now, {"entry": "e"})
    assert res.outcome == "skipped" and reason in res.detail
    (journal,) = journals(private_state["journals"])
    section = journal["chaosrunner"]
    assert section["verdict"] == "refused" and section["trigger"] == "schedule" and section["calendar_entry"] == "e"
    assert reason in section["reason"]
    assert section["preflight"]["checks"][0]["ok"] is False
    # The same fire again is a duplicate: claimed once, never re-run or re-journaled.
    assert daemon.fire("e", now, {"entry": "e"}).outcome == "duplicate"
    assert len(journals(private_state["journals"])) == 1


def test_missed_fire_policy_decided_against_leadership_start(tmp_path, write_calendar, private_state) -> None:  # noqa: ANN001
    path = write_calendar({**ALWAYS_OPEN, "defaults": {"misfire": "run_once", "misfire_grace": "15m"},
                           "entries": [{"name": "e", "cron": "0 * * * *"},
                                       {"name": "s", "cron": "0 * * * *", "misfire": "skip"}]})
    clock = FakeClock(datetime(2026, 6, 2, 10, 20, tzinfo=UTC))
    daemon = make_daemon(path, clock)
    daemon.lead_started_at = clock.now()  # became leader at 10:20: the 10:00 fire was missed
    e, s = daemon.calendar.entry("e"), daemon.calendar.entry("s")
    assert daemon.precheck(e, datetime(2026, 6, 2, 10, 10, tzinfo=UTC)) == (None, "ok")  # 10 min < grace
    reason, check = daemon.precheck(e, datetime(2026, 6, 2, 10, 0, tzinfo=UTC))  # 20 min > grace
    assert check == "misfire" and "older than misfire_grace" in str(reason)
    reason, check = daemon.precheck(s, datetime(2026, 6, 2, 10, 10, tzinfo=UTC))
    assert check == "misfire" and "policy: skip" in str(reason)
    # A fire scheduled while leading is on time however late the thread woke up.
    assert daemon.precheck(s, datetime(2026, 6, 2, 10, 20, 1, tzinfo=UTC)) == (None, "ok")


def test_child_command_is_chaosrunner_run_with_calendar_entry_and_vars(write_calendar) -> None:  # noqa: ANN001
    path = write_calendar({**ALWAYS_OPEN, "entries": [
        {"name": "e", "cron": "0 * * * *", "configuration": {"latency_ms": 200, "zone": "us-east-a"}}]})
    daemon = make_daemon(path, FakeClock(datetime(2026, 6, 2, tzinfo=UTC)))
    argv = daemon.command(daemon.calendar.entry("e"), {"monkey_target": "i-1"})
    assert argv[:4] == [sys.executable, "-m", "chaosrunner", "run"]
    assert argv[argv.index("--trigger") + 1] == "schedule"
    assert argv[argv.index("--calendar") + 1] == str(path.absolute())
    assert argv[argv.index("--entry") + 1] == "e"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--var"] == [
        "latency_ms=200", "zone=us-east-a", "monkey_target=i-1"]


def test_monkey_entry_plans_the_day_as_one_off_jobs(tmp_path, write_calendar) -> None:  # noqa: ANN001
    from apscheduler.schedulers.background import BackgroundScheduler

    from chaosrunner.schedule.monkey import Instance

    path = write_calendar({"timezone": "UTC", "entries": [{"name": "monkey", "day": "tue", "monkey": {
        "probability_per_hour": "1%", "min_gap": "5m", "zones": 1, "seed": 3}}]})
    inventory = [Instance(f"i-{i}", f"z{i % 2}", {"tier": "non-critical"}) for i in range(100)]
    clock = FakeClock(datetime(2026, 6, 2, 9, 0, tzinfo=UTC))  # Tuesday, start of business hours
    daemon = make_daemon(path, clock, inventory=lambda cal, entry: inventory)
    sched = BackgroundScheduler(timezone=UTC)
    sched.start(paused=True)
    daemon.scheduler = sched
    try:
        res = daemon.fire("monkey", clock.now(), {"entry": "monkey"})
        jobs = sched.get_jobs()
    finally:
        sched.shutdown(wait=False)
    assert res.outcome == "planned" and "among 50 eligible" in res.detail
    assert len(jobs) >= 3  # 1 %/h x 50 instances x 8 h ≈ 4 kills
    zones = {int(j.kwargs["monkey_target"].split("-")[1]) % 2 for j in jobs}
    assert len(zones) == 1  # one AZ
    times = sorted(j.next_run_time for j in jobs)
    assert all(daemon.calendar.check("monkey", t).ok for t in times)
    assert all(real_seconds(a, b) >= 300 for a, b in zip(times, times[1:], strict=False))
    assert all(j.id.startswith("monkey@") for j in jobs)
    # Planning the same day again is the same fire: claimed once.
    assert daemon.fire("monkey", clock.now(), {"entry": "monkey"}).outcome == "duplicate"


def test_hard_timeout_terminates_the_run_which_rolls_back(tmp_path, write_calendar, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    path = write_calendar({**ALWAYS_OPEN, "defaults": {"term_grace": "20s"}, "entries": [
        {"name": "e", "cron": "* * * * *", "timeout": "4s",
         "configuration": {"marker": str(marker), "label": "e", "hold": "120"}}]})
    now = datetime.now(UTC)
    daemon = make_daemon(path, FakeClock(now))
    started = time.monotonic()
    res = daemon.fire("e", now, {"entry": "e"})
    assert res.exit_code == 3 and "hard timeout after 4s" in res.detail, res
    assert time.monotonic() - started < 60  # not the 120 s hold
    assert any(x.startswith("rollback-e ") for x in marker_lines(marker))
    (journal,) = journals(private_state["journals"])
    assert journal["chaosrunner"]["verdict"] == "interrupted"  # the daemon stopped it: not scored
    assert res.journal == str(next(private_state["journals"].rglob("*.json")))


def test_two_daemons_on_one_sqlite_store_one_stands_by(tmp_path) -> None:  # noqa: ANN001
    from chaosrunner.schedule.leader import FileLeader

    lock = tmp_path / "scheduler.leader"
    first, second = FileLeader(lock, poll_s=0.05), FileLeader(lock, poll_s=0.05)
    stop = threading.Event()
    assert first.acquire(stop)
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(second.acquire(stop)))
    t.start()
    try:
        t.join(timeout=0.5)
        assert t.is_alive() and got == []  # standing by while the first leads
        first.release()
        t.join(timeout=10)
        assert got == [True] and second.still_leader()
    finally:
        stop.set()
        t.join(timeout=10)
        second.release()


@pytest.mark.slow
def test_sighup_reloads_the_calendar_and_refuses_an_invalid_one(tmp_path, write_calendar) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    entry = {"every": "2s", "configuration": {"marker": str(marker)}}
    cal = write_calendar({**ALWAYS_OPEN, "entries": [{"name": "e", **entry, "configuration": {
        "marker": str(marker), "label": "e"}}]})
    with DaemonProcess(tmp_path, cal, "daemon") as d:
        wait_for(lambda: method_runs(marker, "e"), 40, "a run of e")
        good = cal.read_text()
        cal.write_text("timezone: Nowhere/Land\n")
        os.kill(d.mp.pid, signal.SIGHUP)
        wait_for(lambda: "calendar reload refused" in d.log(), 20, "the invalid reload to be refused")
        # The daemon keeps its schedule (the children's preflight, reading the broken file, refuses
        # with exit 2 and injects nothing until the file is fixed).
        fired = d.log().count("started e ")
        wait_for(lambda: d.log().count("started e ") > fired, 20, "e to keep firing")
        cal.write_text(good.replace("label: e", "label: f").replace("name: e", "name: f"))
        os.kill(d.mp.pid, signal.SIGHUP)
        wait_for(lambda: method_runs(marker, "f"), 40, "a run of the new entry f")
        e_runs = len(method_runs(marker, "e"))
        wait_for(lambda: len(method_runs(marker, "f")) >= 2, 40, "a second run of f")
        assert len(method_runs(marker, "e")) == e_runs  # the removed entry no longer fires


def test_a_second_child_of_one_entry_is_refused_atomically_and_the_first_stays_tracked(
    tmp_path, write_calendar, private_state  # noqa: ANN001
) -> None:
    """Two fires of one entry (a monkey's kills, or a fire racing a slow one): the check and the
    registration happen under one lock, so the second is skipped; the first stays tracked by its own fire
    id and is still reached by the daemon's stop."""
    marker = tmp_path / "marker"
    path = write_calendar({**ALWAYS_OPEN, "defaults": {"term_grace": "20s"},
                           "entries": [{"name": "e", "cron": "* * * * *",
                                        "configuration": {"marker": str(marker), "label": "e", "hold": "120"}}]})
    clock = FakeClock(datetime.now(UTC))
    daemon = make_daemon(path, clock)
    entry = daemon.calendar.entry("e")
    results: list[FireResult] = []
    t = threading.Thread(target=lambda: results.append(daemon._run_child("e@first", entry, clock.now(), {})))
    t.start()
    try:
        wait_for(lambda: method_runs(marker), 40, "the first child's method to start")
        second = daemon._run_child("e@second", entry, clock.now(), {})
        assert second.outcome == "skipped" and "still in progress" in second.detail
        assert [c.entry for c in daemon.children.values()] == ["e"]
    finally:
        daemon._stop_children("test cleanup")
        t.join(timeout=60)
    (first,) = results
    assert first.exit_code == 3  # the stop reached the first child: it aborted and rolled back
    assert len(method_runs(marker)) == 1
