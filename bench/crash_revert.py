"""Crash → revert: time from ``kill -9`` of the runner to its last fault reverted (median, worst).

Each trial starts a stand-in runner (this module with ``--as-runner``) that spawns the real watchdog,
beats, and injects 1–5 faults one every 50 ms — a fault is a file whose existence *is* the fault,
recorded in the ledger before it is created, with an undo that deletes it. The runner is hit at a random
moment during or after injection, and we poll (every 5 ms) until no fault file exists and the ledger
has no open entry. Three recovery paths are measured side by side:

* ``kill-9``   — the runner is SIGKILLed: the watchdog sees the pid gone (poll 0.2 s);
* ``hang``     — the runner is SIGSTOPped: the watchdog sees the heartbeat stale (> 3 s), kills it, reverts;
* ``recover``  — no watchdog; ``chaosrunner recover`` is run by hand right after the kill (the path every
  command takes on start), timed including its Python start-up.
* ``run``      — the real ``chaosrunner run`` of an experiment that injects a third-party-style fault (only its
  rollback undoes it), an own-driver fault (own ledger entry), holds ~1 s, then rolls back slowly (3 × 0.3 s);
  killed with SIGKILL on its whole process group at a random moment from 0.2 s before the first activity
  (when the run-level ledger entry appears) to the end of the rollbacks, so hits land before and during
  injection, in the method and during rollback.

Run: ``.venv/bin/python -m bench.crash_revert [--trials 30]``; writes ``bench/results/crash_revert.json``.

The crash matrix on the real sandbox (every way a run can be cut, across the five shipped experiments) is
``bench/crash_matrix.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "crash_revert.json"
DEADLINE_S = 10.0


def delete_file(path: str) -> None:
    """The undo of a file fault."""
    Path(path).unlink(missing_ok=True)


def inject(path: str, own: bool = False) -> None:
    """A file fault; ``own``: recorded in the ledger first, the way chaosrunner's drivers do."""
    if own:
        from chaosrunner.faults.ledger import record_fault

        record_fault(
            "file",
            path,
            {"type": "python", "module": "bench.crash_revert", "func": "delete_file", "arguments": {"path": path}},
        )
    Path(path).write_text("fault")


def slow_delete(path: str, seconds: float = 0.3) -> None:
    """A rollback that takes a while, so kills land during rollback too."""
    time.sleep(seconds)
    delete_file(path)


def _run_experiment(home: Path) -> tuple[Path, list[str]]:
    faults = [str(home / "fault-third-party"), str(home / "fault-own")]
    act = lambda name, func, **arguments: {  # noqa: E731
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": "bench.crash_revert", "func": func, "arguments": arguments},
    }
    doc = {
        "title": "bench crash revert",
        "description": "two file faults, a short method, slow rollbacks",
        "method": [
            act("inject-third-party", "inject", path=faults[0]),
            act("inject-own", "inject", path=faults[1], own=True),
            {**act("hold", "slow_delete", path=str(home / "nothing"), seconds=1.0)},
        ],
        "rollbacks": [
            act("remove-third-party", "slow_delete", path=faults[0]),
            act("slow-1", "slow_delete", path=str(home / "nothing")),
            act("slow-2", "slow_delete", path=str(home / "nothing")),
        ],
    }
    path = home / "experiment.json"
    path.write_text(json.dumps(doc))
    return path, faults


def run_trial(rng: random.Random) -> dict[str, object]:
    """One kill -9 of the real ``chaosrunner run`` at a random moment."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="crash-revert-run-") as tmp:
        home = Path(tmp)
        path, faults = _run_experiment(home)
        env = _env(home)
        run = subprocess.Popen(
            [sys.executable, "-m", "chaosrunner", "run", str(path), "--json"],
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Start the clock when the run-level ledger entry exists (right before the first activity);
            # the method then takes ~1 s and the rollbacks ~0.9 s.
            deadline = time.monotonic() + 60
            while not _open_entries(home) and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            delay = rng.uniform(-0.2, 2.4)
            if delay > 0:
                time.sleep(delay)
            injected = sum(Path(f).exists() for f in faults)
            open_at_hit = _open_entries(home)
            t0 = time.monotonic()
            finished = run.poll() is not None
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            run.wait(timeout=5)
            while any(Path(f).exists() for f in faults) or _open_entries(home):
                if time.monotonic() - t0 > DEADLINE_S:
                    break
                time.sleep(0.005)
            seconds = time.monotonic() - t0
            left = sum(Path(f).exists() for f in faults) + _open_entries(home)
            return {
                "mode": "run",
                "faults": len(faults),
                "hit_after_s": round(delay, 3),
                "injected_at_hit": injected,
                "open_at_hit": open_at_hit,
                "finished_before_hit": finished,
                "seconds": round(seconds, 3),
                "left_behind": left,
            }
        finally:
            for p in psutil.process_iter(["cmdline"]):
                cmd = p.info.get("cmdline") or []
                if "chaosrunner.faults.watchdog" in cmd and str(home / "state") in cmd:
                    deadline = time.monotonic() + 10
                    while p.is_running() and p.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                        time.sleep(0.05)
                    try:
                        p.kill()
                    except psutil.Error:
                        pass


def as_runner(run_id: str, ready: str, with_watchdog: bool, faults: list[str]) -> None:
    from chaosrunner.faults.heartbeat import Heartbeat, spawn_watchdog
    from chaosrunner.faults.ledger import record_fault

    os.environ["CHAOSRUNNER_RUN_ID"] = run_id
    watchdog_pid = spawn_watchdog(run_id, os.getpid(), None) if with_watchdog else None
    Heartbeat(run_id).start()
    Path(ready).write_text(json.dumps({"watchdog_pid": watchdog_pid}))
    for path in faults:
        record_fault(
            "file",
            path,
            {"type": "python", "module": "bench.crash_revert", "func": "delete_file", "arguments": {"path": path}},
        )
        Path(path).write_text("fault")
        time.sleep(0.05)
    while True:
        time.sleep(1)


def idle_recover_cost(closed_runs: int = 1000, repeats: int = 2000) -> dict[str, float]:
    """What every command pays when nothing is open: ``recover_orphans()`` with an empty index vs. with
    ``closed_runs`` finished runs' entries on disk (the index keeps it one listing either way), microseconds."""
    from chaosrunner.faults.ledger import Ledger
    from chaosrunner.faults.recovery import recover_orphans

    out = {}
    with tempfile.TemporaryDirectory(prefix="crash-revert-idle-") as tmp:
        state = Path(tmp) / "state"
        for label, runs in (("empty_us", 0), (f"with_{closed_runs}_closed_runs_us", closed_runs)):
            ledger = Ledger(state)
            for i in range(runs):
                ledger.close(ledger.record(f"r{i}", "f", "t", None), "undone")
            t0 = time.perf_counter()
            for _ in range(repeats):
                recover_orphans(state)
            out[label] = round((time.perf_counter() - t0) / repeats * 1e6, 1)
    return out


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CHAOSRUNNER_HOME": str(home / "state"),
        "CHAOSRUNNER_JOURNALS": str(home / "journals"),
        "PYTHONPATH": str(REPO),
    }


def _open_entries(home: Path) -> int:
    try:
        return len(os.listdir(home / "state" / "ledger" / "_open"))
    except FileNotFoundError:
        return 0


def trial(mode: str, rng: random.Random) -> dict[str, object]:
    """One crash; returns seconds from the hit to the last fault reverted and the faults left behind."""
    with tempfile.TemporaryDirectory(prefix="crash-revert-") as tmp:
        home = Path(tmp)
        faults = [str(home / f"fault-{i}") for i in range(rng.randint(1, 5))]
        ready = home / "ready.json"
        run_id = f"20261122T000000Z-bench-{rng.randrange(16**6):06x}"
        argv = [
            sys.executable,
            "-m",
            "bench.crash_revert",
            "--as-runner",
            run_id,
            str(ready),
            "1" if mode != "recover" else "0",
            *faults,
        ]
        runner = subprocess.Popen(argv, env=_env(home), cwd=REPO, start_new_session=True, stdin=subprocess.DEVNULL)
        watchdog_pid = None
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if time.monotonic() > deadline or runner.poll() is not None:
                    raise RuntimeError("the stand-in runner did not start")
                time.sleep(0.01)
            watchdog_pid = json.loads(ready.read_text())["watchdog_pid"]
            time.sleep(rng.uniform(0.0, 0.05 * len(faults) + 0.3))  # during or after injection
            injected = sum(Path(f).exists() for f in faults)
            t0 = time.monotonic()
            if mode == "hang":
                os.kill(runner.pid, signal.SIGSTOP)
            else:
                os.kill(runner.pid, signal.SIGKILL)
                runner.wait(timeout=5)
            if mode == "recover":
                subprocess.run(
                    [sys.executable, "-m", "chaosrunner", "recover", "--json"],
                    env=_env(home),
                    cwd=REPO,
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
            limit = DEADLINE_S + (3.0 if mode == "hang" else 0.0)
            while any(Path(f).exists() for f in faults) or _open_entries(home):
                if time.monotonic() - t0 > limit:
                    break
                time.sleep(0.005)
            seconds = time.monotonic() - t0
            left = sum(Path(f).exists() for f in faults) + _open_entries(home)
            return {
                "mode": mode,
                "faults": len(faults),
                "injected_at_hit": injected,
                "seconds": round(seconds, 3),
                "left_behind": left,
            }
        finally:
            for pid in (runner.pid, watchdog_pid):
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            runner.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="time from kill -9 of the runner to the last fault reverted")
    parser.add_argument("--trials", type=int, default=30, help="crashes per kill-9 path (hang/recover: a third)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--only", choices=["kill-9", "hang", "recover", "run"], help="measure one path")
    parser.add_argument("--as-runner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_runner:
        run_id, ready, with_watchdog, *faults = args.as_runner
        as_runner(run_id, ready, with_watchdog == "1", faults)
        return
    rng = random.Random(args.seed)
    plan = {
        "kill-9": args.trials,
        "hang": max(3, args.trials // 3),
        "recover": max(3, args.trials // 3),
        "run": args.trials,
    }
    if args.only:
        plan = {args.only: plan[args.only]}
    rows = []
    summary = {}
    for mode, n in plan.items():
        results = [run_trial(rng) if mode == "run" else trial(mode, rng) for _ in range(n)]
        rows += results
        secs = [float(r["seconds"]) for r in results]
        summary[mode] = {
            "crashes": n,
            "faults": sum(int(r["faults"]) for r in results),
            "left_behind": sum(int(r["left_behind"]) for r in results),
            "median_s": round(statistics.median(secs), 3),
            "worst_s": round(max(secs), 3),
        }
    base = (summary.get("kill-9") or next(iter(summary.values())))["median_s"] or 1e-9
    print(f"{'path':10} {'crashes':>7} {'faults':>6} {'left':>4} {'median s':>9} {'worst s':>8} {'× kill-9':>8}")
    for mode, s in summary.items():
        print(
            f"{mode:10} {s['crashes']:>7} {s['faults']:>6} {s['left_behind']:>4} {s['median_s']:>9.3f} "
            f"{s['worst_s']:>8.3f} {s['median_s'] / base:>8.1f}"
        )
    idle = idle_recover_cost() if not args.only else None
    if idle:
        print("recover_orphans() with nothing open: " + ", ".join(f"{k} {v}" for k, v in idle.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "bench": "crash_revert",
                "seed": args.seed,
                "deadline_s": DEADLINE_S,
                "summary": summary,
                "idle_recover_orphans": idle,
                "trials": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
