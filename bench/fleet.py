"""The fleet's kill switch and target locks on PostgreSQL, side by side with the host's files.

1. **halt → abort**: a real ``chaosrunner run`` (a file fault held 60 s) is halted by engaging the kill
   switch — this host's file, or the fleet's row in a real PostgreSQL 15 that the run's host reads through
   ``fleet:`` — alternating, ``--trials`` each; from the engage to the abort decision in the run's journal,
   and to the process gone (rolled back, journal written).
2. **lock acquire with 50 runners at once**: 50 threads each take the locks of 3 targets of their own and
   release them, ``--rounds`` times: the host's flocks vs the fleet's advisory locks (each fleet run opens
   its own session, as a run does). p50/p99 of one acquisition.

Run: ``.venv/bin/python -m bench.fleet [--trials 10] [--rounds 5]``; writes bench/results/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "fleet.json"
RUNNERS = 50


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(q / 100 * len(xs) + 0.5)) - 1)] * 1000, 2)


def halt_trial(kind: str, exp: Path, home: Path, env: dict[str, str]) -> dict[str, Any]:
    from chaosrunner.safety import killswitch

    ready = Path(str(exp) + ".ready")
    ready.unlink(missing_ok=True)
    run_env = {**env, "CHAOSRUNNER_HOME": str(home)}
    if kind == "host":
        run_env.pop("CHAOSRUNNER_FLEET", None)
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(exp), "--json"], env=run_env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the run's method never started")
        time.sleep(0.01)
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(run_env)  # engage through the same settings the run reads
    try:
        engaged = time.time()
        killswitch.engage("bench", root=home)
        out, _ = proc.communicate(timeout=60)
        gone = time.time()
        killswitch.release(root=home)
    finally:
        os.environ.clear()
        os.environ.update(old)
    result = json.loads(out.strip().splitlines()[-1])
    journal = json.loads(Path(result["journal"]).read_text())
    decided = datetime.fromisoformat(journal["chaosrunner"]["abort"]["decided_at"]).timestamp()
    return {"kind": kind, "verdict": result["verdict"], "decision_s": round(decided - engaged, 4),
            "gone_s": round(gone - engaged, 4)}


def lock_round(make: Any) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(RUNNERS)

    def runner(i: int) -> None:
        locks = make()
        start.wait()
        t0 = time.perf_counter()
        ok = locks.acquire(f"bench-run-{i}", [f"static:t-{i}-{j}" for j in range(3)])
        took = time.perf_counter() - t0
        assert ok, "a lock of this runner's own targets was busy"
        locks.release()
        with lock:
            times.append(took)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(RUNNERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    import yaml

    from chaosrunner.core.ports import free_port
    from chaosrunner.faults.fleet import Fleet, FleetLocks
    from chaosrunner.safety.locks import TargetLocks
    from chaosrunner.sandbox.postgres import PostgresCluster, pg_base_dir
    from tests.safety.harness import held_fault

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pg = PostgresCluster(pg_base_dir(root), "fleet", port=free_port())
        pg.init_primary()
        pg.start(timeout_s=30)
        try:
            url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
            env = {**os.environ, "CHAOSRUNNER_FLEET": url, "CHAOSRUNNER_JOURNALS": str(root / "journals"),
                   "PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "safety"), str(REPO)])}
            fault = root / "fault"
            exp = root / "held.yaml"
            exp.write_text(yaml.safe_dump(held_fault(fault, Path(str(exp) + ".ready"), 60), sort_keys=False))
            halts = []
            for n in range(args.trials):
                for kind in ("host", "fleet"):
                    h = halt_trial(kind, exp, root / f"home-{kind}", env)
                    halts.append(h)
                    print(f"halt {n:2d} {kind:<5} {h['verdict']} decision {h['decision_s']}s gone {h['gone_s']}s",
                          file=sys.stderr, flush=True)
            lock_times: dict[str, list[float]] = {"host": [], "fleet": []}
            for _ in range(args.rounds):
                lock_times["host"] += lock_round(lambda: TargetLocks(root / "home-locks"))
                lock_times["fleet"] += lock_round(lambda: TargetLocks(root / "home-locks-f", FleetLocks(Fleet(url))))
        finally:
            pg.destroy()

    summary: dict[str, Any] = {"halt": {}, "locks": {}}
    for kind in ("host", "fleet"):
        hs = [h for h in halts if h["kind"] == kind]
        summary["halt"][kind] = {
            "trials": len(hs), "aborted": sum(h["verdict"] == "aborted" for h in hs),
            "decision_p50_ms": round(statistics.median(h["decision_s"] for h in hs) * 1000, 1),
            "decision_max_ms": round(max(h["decision_s"] for h in hs) * 1000, 1),
            "gone_p50_s": round(statistics.median(h["gone_s"] for h in hs), 3)}
        xs = lock_times[kind]
        summary["locks"][kind] = {"acquisitions": len(xs), "p50_ms": _pct(xs, 50), "p99_ms": _pct(xs, 99),
                                  "max_ms": round(max(xs) * 1000, 2)}
    h, lk = summary["halt"], summary["locks"]
    rows = [
        ("halt → abort decision p50", f"{h['host']['decision_p50_ms']} ms", f"{h['fleet']['decision_p50_ms']} ms",
         f"{h['fleet']['decision_p50_ms'] / h['host']['decision_p50_ms']:.2f}x"),
        ("halt → abort decision max", f"{h['host']['decision_max_ms']} ms", f"{h['fleet']['decision_max_ms']} ms", ""),
        ("halt → run gone p50", f"{h['host']['gone_p50_s']} s", f"{h['fleet']['gone_p50_s']} s", ""),
        (f"lock acquire p50 ({RUNNERS} at once)", f"{lk['host']['p50_ms']} ms", f"{lk['fleet']['p50_ms']} ms",
         f"{lk['fleet']['p50_ms'] / max(lk['host']['p50_ms'], 0.01):.1f}x"),
        (f"lock acquire p99 ({RUNNERS} at once)", f"{lk['host']['p99_ms']} ms", f"{lk['fleet']['p99_ms']} ms",
         f"{lk['fleet']['p99_ms'] / max(lk['host']['p99_ms'], 0.01):.1f}x"),
    ]
    print(f"{'':<30} {'host (file)':>14} {'fleet (PostgreSQL)':>20} {'fleet / host':>13}")
    for name, host, fleet, ratio in rows:
        print(f"{name:<30} {host:>14} {fleet:>20} {ratio:>13}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "halts": halts}, indent=2))
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
