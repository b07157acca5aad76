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

The crash matrix on the real sandbox: ``.venv/bin/python -m bench.crash_revert --sandbox [--trials 30]``
brings a private sandbox up, runs each ``experiments/sandbox/*.yaml`` once uncut (to learn how long it takes),
then SIGKILLs ``chaosrunner run`` (whole process group) at ``--trials`` random moments spread over the
experiments, from the run-level ledger entry to the end of the run, and measures the time until the sandbox is
back to steady state *from its real state* (``drivers.sandbox.state.steady_state_problems``: programs RUNNING,
proxies enabled without toxics, no stress-ng of this sandbox, one primary with a streaming standby, Full-region
routers UP) with no open ledger entry, and then until the load generator's clients succeed again (≥ 99 % over
1 s). Writes ``bench/results/crash_matrix.json``.
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


# -- the crash matrix on the real sandbox -----------------------------------------------------------


def _own_stress(sandbox: Path) -> list[int]:
    """stress-ng processes started for *this* sandbox (others' tests may run their own on the machine)."""
    import psutil

    out = []
    for p in psutil.process_iter(["name"]):
        try:
            if (p.info["name"] or "").startswith("stress-ng") and p.status() != psutil.STATUS_ZOMBIE:
                if p.environ().get("CHAOSRUNNER_SANDBOX") == str(sandbox):
                    out.append(p.pid)
        except psutil.Error:
            continue
    return out


def _sandbox_problems(sandbox: Path) -> list[str]:
    from chaosrunner.drivers.sandbox.state import steady_state_problems
    from chaosrunner.sandbox.state import STATE_FILE, SandboxStateMissing, load_state

    try:
        state = load_state(sandbox / STATE_FILE)
    except SandboxStateMissing:
        return ["no sandbox state"]
    problems = [p for p in steady_state_problems(state) if p != "stress-ng is running"]
    if _own_stress(sandbox):
        problems.append("stress-ng of this sandbox is running")
    return problems


def _clients_ok(sandbox: Path) -> bool:
    from chaosrunner.drivers.sandbox.state import loadgen_stats
    from chaosrunner.sandbox.state import STATE_FILE, load_state

    try:
        ratio = loadgen_stats(load_state(sandbox / STATE_FILE), 1.0).get("success_ratio")
    except Exception:  # noqa: BLE001 - load generator unreachable is "not ok"
        return False
    return ratio is not None and float(ratio) >= 0.99


def _latest_phase(home: Path) -> str:
    """The phase of the activity under way, from the newest journal (written after every activity)."""
    files = sorted((home / "journals").rglob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return "before-journal"
    try:
        acts = json.loads(files[-1].read_text())["chaosrunner"].get("activities") or []
    except (OSError, ValueError, KeyError):
        return "unknown"
    return f"{acts[-1]['phase']}:{acts[-1]['status']}" if acts else "preflight"


def _journal_after_crash(home: Path, limit_s: float) -> dict[str, object]:
    """What the newest journal says once the dust settles: complete, verdict, recovered_by (polls)."""
    deadline = time.monotonic() + limit_s
    seen: dict[str, object] = {"found": False}
    while time.monotonic() < deadline:
        files = sorted((home / "journals").rglob("*.json"), key=lambda p: p.stat().st_mtime)
        if files:
            try:
                cr = json.loads(files[-1].read_text())["chaosrunner"]
            except (OSError, ValueError, KeyError):
                cr = {}
            seen = {
                "found": True,
                "complete": cr.get("complete"),
                "verdict": cr.get("verdict"),
                "recovered_by": cr.get("recovered_by"),
            }
            if cr.get("complete"):
                return seen
        time.sleep(0.1)
    return seen


def _wait_steady(sandbox: Path, home: Path, limit_s: float) -> tuple[float | None, list[str]]:
    t0 = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - t0 < limit_s:
        problems = _sandbox_problems(sandbox)
        if _open_entries(home):
            problems.append(f"{_open_entries(home)} ledger entries open")
        if not problems:
            return time.monotonic() - t0, []
        time.sleep(0.1)
    return None, problems


def sandbox_matrix(trials: int, rng: random.Random, directory: Path) -> dict[str, object]:
    import psutil

    from chaosrunner.sandbox import estate

    experiments = sorted(directory.absolute().glob("*.yaml"))
    if not experiments:
        raise SystemExit(f"no {directory}/*.yaml: nothing to crash")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still tears its sandbox down
    home = Path(tempfile.mkdtemp(prefix="crash-matrix-"))
    sandbox = home / "sandbox"
    env = {**_env(home), "CHAOSRUNNER_SANDBOX": str(sandbox)}
    os.environ["CHAOSRUNNER_SANDBOX"] = str(sandbox)
    rows: list[dict[str, object]] = []
    calibration: dict[str, dict[str, object]] = {}
    try:
        state = estate.up(estate.SandboxOptions(root=sandbox))
        estate.wait_scraped(state, 60)
        took, problems = _wait_steady(sandbox, home, 90)
        if took is None:
            raise SystemExit(f"sandbox never steady: {problems}")
        for exp in experiments:  # uncut, to learn how long it runs from its ledger entry to its end
            run = subprocess.Popen(
                [sys.executable, "-m", "chaosrunner", "run", str(exp), "--json"],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 120
            while not _open_entries(home) and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            t0 = time.monotonic()
            stdout, stderr = run.communicate(timeout=900)
            verdict = json.loads(stdout).get("verdict") if stdout.strip().startswith("{") else stderr[-300:]
            calibration[exp.name] = {"seconds": round(time.monotonic() - t0, 1), "verdict": verdict}
            print(f"calibration {exp.name}: {calibration[exp.name]}", flush=True)
            _wait_steady(sandbox, home, 120)
        for i in range(trials):
            exp = experiments[i % len(experiments)]
            span = max(1.0, float(calibration[exp.name]["seconds"]))
            run = subprocess.Popen(
                [sys.executable, "-m", "chaosrunner", "run", str(exp), "--json"],
                env=env,
                cwd=REPO,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while not _open_entries(home) and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            delay = rng.uniform(0.0, span)
            time.sleep(delay)
            phase = _latest_phase(home)
            finished = run.poll() is not None
            t0 = time.monotonic()
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            run.wait(timeout=10)
            steady_s, problems = _wait_steady(sandbox, home, DEADLINE_S)
            late_s = None
            if steady_s is None:  # not within the deadline: keep measuring, so the report shows how late
                more, problems_late = _wait_steady(sandbox, home, 120)
                late_s = None if more is None else round(DEADLINE_S + more, 3)
            journal = _journal_after_crash(home, 10.0)
            clients_s = None
            while time.monotonic() - t0 < 60:
                if _clients_ok(sandbox):
                    clients_s = round(time.monotonic() - t0, 3)
                    break
                time.sleep(0.2)
            rows.append(
                {
                    "experiment": exp.name,
                    "hit_after_s": round(delay, 3),
                    "phase": phase,
                    "finished_before_hit": finished,
                    "steady_s": None if steady_s is None else round(steady_s, 3),
                    "late_steady_s": late_s,
                    "problems_at_deadline": problems,
                    "clients_ok_s": clients_s,
                    "journal": journal,
                }
            )
            print(
                f"{i + 1:>3} {exp.name:40} {phase:28} hit {delay:6.2f}s → steady "
                f"{rows[-1]['steady_s'] if steady_s is not None else 'NOT within ' + str(DEADLINE_S)}"
                f"{'' if not problems else ' ' + '; '.join(problems)}",
                flush=True,
            )
            for p in psutil.process_iter(["cmdline"]):  # the killed run's watchdog, once it is done
                cmd = p.info.get("cmdline") or []
                if "chaosrunner.faults.watchdog" in cmd and str(home / "state") in cmd:
                    try:
                        p.wait(timeout=30)
                    except psutil.TimeoutExpired:
                        p.kill()
                    except psutil.Error:
                        pass
            _wait_steady(sandbox, home, 120)
    finally:
        try:
            estate.down(sandbox)
        finally:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    steady = [float(r["steady_s"]) for r in rows if r["steady_s"] is not None]
    left = [r for r in rows if r["steady_s"] is None]
    says: list[dict[str, object]] = [r["journal"] for r in rows]  # type: ignore[misc]
    return {
        "bench": "crash_matrix",
        "journals_complete": sum(bool(j.get("complete")) for j in says),
        "journals_marked_by_watchdog": sum(j.get("recovered_by") == "watchdog" for j in says),
        "crashes": len(rows),
        "left_behind": len(left),
        "median_steady_s": round(statistics.median(steady), 3) if steady else None,
        "worst_steady_s": round(max(steady), 3) if steady else None,
        "calibration": calibration,
        "trials": rows,
    }


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
    parser.add_argument("--sandbox", action="store_true", help="the crash matrix on a real private sandbox")
    parser.add_argument(
        "--experiments",
        type=Path,
        default=REPO / "experiments" / "sandbox",
        help="directory of sandbox experiments (--sandbox)",
    )
    parser.add_argument("--only", choices=["kill-9", "hang", "recover", "run"], help="measure one path")
    parser.add_argument("--as-runner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sandbox:
        result = sandbox_matrix(args.trials, random.Random(args.seed), args.experiments)
        out = RESULTS.with_name("crash_matrix.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(
            f"journals complete {result['journals_complete']}/{result['crashes']} "
            f"(marked by the watchdog {result['journals_marked_by_watchdog']})  "
            f"crashes {result['crashes']}  left behind {result['left_behind']}  "
            f"median {result['median_steady_s']} s  worst {result['worst_steady_s']} s → {out.relative_to(REPO)}"
        )
        return
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
