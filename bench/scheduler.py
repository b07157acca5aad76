"""Scheduler daemon figures: idle footprint, fire-time lateness, and next-fire computation speed.

1. **Idle**: a real ``chaosrunner scheduler start`` (SQLite store) with the weekly calendar's shape
   (entries that do not fire during the window): RSS (MiB) sampled every second and CPU share over
   ``--idle`` seconds (default 60).
2. **Lateness**: a real daemon with an ``every: 1s`` entry; the child command is a shell shim (via
   ``--python``) that records the wall time it started, so lateness = child start - scheduled fire
   time: the whole path (APScheduler wake-up, fire-ledger claim in SQLite, kill switch + window
   checks, fork/exec). p50/p99/max over ``--fires`` fires (default 100).
3. **HA takeover**: a real PostgreSQL 15 job store, two daemons; the leader is killed with ``kill -9``
   ``--takeovers`` times (default 3; the killed one restarts as the standby); time from the kill to the
   standby's "leading since" (lock acquired, job store synced, scheduling).
4. **Year of next fire times for 1,000 entries**: ``next_fires`` (triggers + window verdict per fire)
   next to the bare DST-safe triggers and to APScheduler's own ``CronTrigger`` alone, same entries,
   same year, interleaved over ``--rounds`` rounds (medians): the ratios show what the window check
   costs and how our crontab evaluator compares with APScheduler's.

Run: ``.venv/bin/python -m bench.scheduler [--idle 60] [--fires 100]``; writes
bench/results/scheduler.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import yaml

RESULTS = Path(__file__).resolve().parent / "results" / "scheduler.json"
REPO = Path(__file__).resolve().parents[1]
MARK = REPO / "tests" / "schedule" / "fixtures" / "mark.yaml"


def start_daemon(calendar: Path, home: Path, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAOSRUNNER_HOME": str(home / "state"), "CHAOSRUNNER_JOURNALS": str(home / "journals")}
    log = open(home / "daemon.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen([sys.executable, "-m", "chaosrunner", "scheduler", "start", str(calendar),
                                 *(extra or [])], stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=REPO)
    finally:
        log.close()


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_log(home: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in (home / "daemon.log").read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"daemon did not log {text!r}")


def bench_idle(seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        far = (datetime.now(UTC) + timedelta(days=3)).strftime("%a").lower()
        cal = {"timezone": "UTC", "work_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
               "entries": [{"name": f"e{i}", "day": far, "at": f"{9 + i}:00", "experiment": str(MARK)}
                           for i in range(5)]}
        path = home / "cal.yaml"
        path.write_text(yaml.safe_dump(cal))
        proc = start_daemon(path, home)
        try:
            wait_log(home, "leading since", 60)
            p = psutil.Process(proc.pid)
            time.sleep(1.0)  # let start-up settle before measuring the idle state
            cpu0, t0 = p.cpu_times(), time.monotonic()
            rss = []
            while time.monotonic() - t0 < seconds:
                rss.append(p.memory_info().rss / 2**20)
                time.sleep(1.0)
            cpu1, t1 = p.cpu_times(), time.monotonic()
        finally:
            stop_daemon(proc)
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"seconds": round(t1 - t0, 1), "rss_mib_mean": round(statistics.mean(rss), 1),
            "rss_mib_max": round(max(rss), 1), "cpu_seconds": round(cpu_s, 3),
            "cpu_percent": round(100 * cpu_s / (t1 - t0), 3)}


def bench_lateness(fires: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        out = home / "starts.txt"
        shim = home / "shim.sh"
        shim.write_text(f'#!/bin/sh\necho "$CHAOSRUNNER_SCHEDULED_AT $(date +%s.%N)" >> {out}\n')
        shim.chmod(0o755)
        cal = {"timezone": "UTC", "work_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
               "business_hours": {"start": "00:00", "end": "24:00"},
               "entries": [{"name": "tick", "every": "1s", "experiment": str(MARK)}]}
        path = home / "cal.yaml"
        path.write_text(yaml.safe_dump(cal))
        proc = start_daemon(path, home, ["--python", str(shim)])
        try:
            deadline = time.monotonic() + fires * 2 + 60
            while time.monotonic() < deadline:
                if out.exists() and len(out.read_text().splitlines()) >= fires + 1:
                    break
                time.sleep(0.2)
        finally:
            stop_daemon(proc)
        rows = [line.split() for line in out.read_text().splitlines()]
    late = []
    for sched, started in rows[1:fires + 1]:  # the first fire lands during start-up: skip it
        at = datetime.strptime(sched, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        late.append((float(started) - at) * 1000)
    late.sort()
    return {"fires": len(late), "p50_ms": round(statistics.median(late), 1),
            "p99_ms": round(late[min(len(late) - 1, int(0.99 * len(late)))], 1), "max_ms": round(late[-1], 1)}


def bench_takeover(rounds: int) -> dict[str, float]:
    from chaosrunner.core.ports import free_port
    from chaosrunner.sandbox.postgres import PostgresCluster, pg_base_dir

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pg = PostgresCluster(pg_base_dir(root), "bench-store", port=free_port())
        procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            pg.init_primary()
            pg.start(timeout_s=30)
            store = f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/postgres"
            cal = {"timezone": "UTC", "entries": [{"name": "e", "cron": "0 0 1 1 *", "experiment": str(MARK)}]}
            path = root / "cal.yaml"
            path.write_text(yaml.safe_dump(cal))
            args = ["--store", store, "--ha-group", "bench", "--poll", "0.2", "--leader-poll", "0.5"]

            def launch(i: int) -> tuple[subprocess.Popen[bytes], Path]:
                home = root / f"d{i}"
                home.mkdir()
                return start_daemon(path, home, args), home

            procs = [launch(0)]
            wait_log(procs[0][1], "leading since", 60)
            procs.append(launch(1))
            wait_log(procs[1][1], "standing by", 60)
            times = []
            for r in range(rounds):
                leader, standby = procs[-2], procs[-1]
                os.kill(leader[0].pid, signal.SIGKILL)
                leader[0].wait(timeout=10)
                t0 = time.monotonic()
                wait_log(standby[1], "leading since", 30)
                times.append(time.monotonic() - t0)
                procs.append(launch(r + 2))
                wait_log(procs[-1][1], "standing by", 60)
        finally:
            for proc, _ in procs:
                if proc.poll() is None:
                    stop_daemon(proc)
            pg.destroy()
    return {"rounds": len(times), "takeover_s_max": round(max(times), 2),
            "takeover_s_median": round(statistics.median(times), 2), "leader_poll_s": 0.5}


def bench_next_fires(entries: int, rounds: int = 3) -> dict[str, Any]:
    from apscheduler.triggers.cron import CronTrigger

    from chaosrunner.calendar.model import Calendar
    from chaosrunner.calendar.triggers import iter_fires, next_fires
    from chaosrunner.core.validation import validate_model

    days = ["mon", "tue", "wed", "thu", "fri"]
    data = {"timezone": "America/Los_Angeles", "holidays": {"country": "US", "subdivision": "CA"},
            "avoid_peak": [{"start": "12:00", "end": "13:00"}],
            "blackouts": [{"from": "2026-12-18", "to": "2027-01-04"}],
            "entries": [{"name": f"e{i}", "experiment": "x.yaml", "day": days[i % 5],
                         "at": f"{9 + i % 8:02d}:{(7 * i) % 60:02d}"} if i % 2 else
                        {"name": f"e{i}", "experiment": "x.yaml", "cron": f"{i % 60} {9 + i % 8} * * {1 + i % 5}"}
                        for i in range(entries)]}
    cal = validate_model(Calendar, data, "bench")
    start = datetime(2026, 1, 1, tzinfo=cal.zone)
    end = start + timedelta(days=365)
    names = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

    def aps_trigger(e: Any) -> CronTrigger:
        if e.kind == "at":
            return CronTrigger(day_of_week=",".join(e.days), hour=e.at.hour, minute=e.at.minute, timezone=cal.zone)
        m, h, _, _, dow = e.cron.split()
        return CronTrigger(minute=m, hour=h, day_of_week=names[int(dow)], timezone=cal.zone)

    def with_window() -> int:
        return len(next_fires(cal, start, end))

    def ours() -> int:
        return sum(1 for e in cal.entries for _ in iter_fires(cal, e, start, end))

    def apscheduler() -> int:
        n = 0
        for e in cal.entries:
            trig, prev, now = aps_trigger(e), None, start
            while (nxt := trig.get_next_fire_time(prev, now)) is not None and nxt < end:
                n += 1
                prev, now = nxt, nxt + timedelta(microseconds=1)
        return n

    variants = {"with_window": with_window, "ours": ours, "apscheduler": apscheduler}
    times: dict[str, list[float]] = {k: [] for k in variants}
    counts: dict[str, int] = {}
    for _ in range(rounds):  # interleaved, so background load hits every variant alike
        for name, fn in variants.items():
            t = time.perf_counter()
            counts[name] = fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    fires = next_fires(cal, start, end)
    return {"entries": entries, "rounds": rounds, "fires": counts["with_window"],
            "runnable": sum(f.ok for f in fires), "fires_ours": counts["ours"],
            "fires_apscheduler": counts["apscheduler"],
            "next_fires_with_window_s": round(med["with_window"], 3),
            "dst_safe_triggers_only_s": round(med["ours"], 3),
            "apscheduler_crontrigger_only_s": round(med["apscheduler"], 3),
            "window_check_overhead_x": round(med["with_window"] / med["ours"], 2),
            "ours_vs_apscheduler_x": round(med["ours"] / med["apscheduler"], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement (default 60)")
    ap.add_argument("--fires", type=int, default=100, help="fires for the lateness measurement (default 100)")
    ap.add_argument("--entries", type=int, default=1000, help="calendar entries for next-fire timing")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the next-fire timing (median)")
    ap.add_argument("--takeovers", type=int, default=3, help="HA leader kills (0 skips the PostgreSQL part)")
    args = ap.parse_args()

    result = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "next_fires_year": bench_next_fires(args.entries, args.rounds), "idle": bench_idle(args.idle),
              "lateness": bench_lateness(args.fires)}
    if args.takeovers > 0:
        result["ha_takeover"] = bench_takeover(args.takeovers)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    n, i, lt = result["next_fires_year"], result["idle"], result["lateness"]
    print(f"{'measure':<52} {'value':>12}")
    idle_label = f"idle RSS mean / max (MiB) over {i['seconds']} s"
    print(f"{idle_label:<52} {i['rss_mib_mean']:>6} / {i['rss_mib_max']}")
    print(f"{'idle CPU (% of one core)':<52} {i['cpu_percent']:>12}")
    print(f"{'fire lateness p50 / p99 / max (ms), ' + str(lt['fires']) + ' fires':<52} "
          f"{lt['p50_ms']} / {lt['p99_ms']} / {lt['max_ms']}")
    year_label = f"year of next fires, {n['entries']} entries ({n['fires']} fires), with window (s)"
    print(f"{year_label:<52} {n['next_fires_with_window_s']:>12}")
    print(f"{'  DST-safe triggers only (s)':<52} {n['dst_safe_triggers_only_s']:>12}")
    print(f"{'  APScheduler CronTrigger only (s)':<52} {n['apscheduler_crontrigger_only_s']:>12}")
    print(f"{'  window check overhead (x) / ours vs CronTrigger (x)':<52} "
          f"{n['window_check_overhead_x']} / {n['ours_vs_apscheduler_x']}")
    if "ha_takeover" in result:
        ha = result["ha_takeover"]
        label = f"HA takeover after kill -9, median / max (s), {ha['rounds']} kills"
        print(f"{label:<52} {ha['takeover_s_median']} / {ha['takeover_s_max']}")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
