"""The sandbox fault catalog end to end: the five weekly experiments and the practice's other scenarios (CDN
outage, network partitions) through ``chaosrunner run`` on a real sandbox (brought up under a temp dir, torn
down at the end), ``--trials`` times each, plus the Thursday failover with synchronous vs asynchronous
replication side by side (alternated), plus each over-aggressive variant once (its exit code, time to abort,
and the time until the estate is steady again). ``--only a,b`` runs just those experiments (file stems).

Reports the median / min / max of every figure the journals carry (seconds ``_s``, milliseconds ``_ms``,
writes, ratios). Figures depend on the machine's load: this is a shared 2-core box.

Run: ``.venv/bin/python -m bench.sandbox_catalog [--trials 3] [--only cdn-outage,partition-regions]``; writes
bench/results/sandbox_catalog.json (with ``--only``: sandbox_catalog_<first>….json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "sandbox_catalog.json"
FAMILIES = ("mon-instance-kill", "tue-latency", "wed-resource-starvation", "thu-database-failover",
            "fri-regional-failover", "cdn-outage", "partition-regions", "partition-database")


def _run(path: Path, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "chaosrunner", "run", str(path), "--json"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return {"exit_code": proc.returncode, "verdict": "no-json", "wall_s": wall, "figures": {}, "timings": {}}
    journals = list(Path(env["CHAOSRUNNER_JOURNALS"]).rglob(f"{result['run_id']}.json"))
    ch = json.loads(journals[0].read_text()).get("chaosrunner", {}) if journals else {}
    return {"exit_code": proc.returncode, "verdict": result.get("verdict"), "reason": result.get("reason"),
            "wall_s": round(wall, 2), "figures": ch.get("figures") or {}, "timings": ch.get("timings") or {}}


def _steady_after(state_path: Path, timeout_s: float = 90.0) -> float | None:
    from chaosrunner.drivers.sandbox.state import load_state, loadgen_stats, steady_state_problems

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        st = load_state(state=str(state_path))
        ratio = loadgen_stats(st, 3).get("success_ratio") or 0.0
        if not steady_state_problems(st) and ratio >= 0.99:
            return round(time.monotonic() - t0, 2)
        time.sleep(0.5)
    return None


def _summary(values: list[Any]) -> dict[str, Any]:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return {"values": values}
    return {"median": round(statistics.median(nums), 3), "min": min(nums), "max": max(nums), "n": len(nums)}


def main() -> int:
    sys.path.insert(0, str(REPO))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated experiment stems (default: all)")
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    unknown = sorted(set(only) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"unknown experiments: {', '.join(unknown)} (have {', '.join(FAMILIES)})")
    families = [f for f in FAMILIES if not only or f in only]
    results = RESULTS if not only else RESULTS.with_name(f"sandbox_catalog_{only[0]}.json")
    from chaosrunner.drivers.sandbox.database import fail_over, rebuild_standby
    from chaosrunner.sandbox.estate import SandboxOptions, down, up, wait_scraped

    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-catalog-"))
    root = tmp / "sandbox"
    env = {**os.environ, "CHAOSRUNNER_SANDBOX": str(root), "CHAOSRUNNER_HOME": str(tmp / "home"),
           "CHAOSRUNNER_JOURNALS": str(tmp / "journals")}
    os.environ.update({k: env[k] for k in ("CHAOSRUNNER_SANDBOX", "CHAOSRUNNER_HOME", "CHAOSRUNNER_JOURNALS")})
    out: dict[str, Any] = {"trials": args.trials, "weekly": {}, "failover_sync_vs_async": {}, "aggressive": {}}
    try:
        t0 = time.perf_counter()
        state = up(SandboxOptions(root=root))
        wait_scraped(state)
        out["sandbox_up_s"] = round(time.perf_counter() - t0, 2)
        _steady_after(root / "state.json")
        for family in families:
            runs = []
            for _ in range(args.trials):
                runs.append(_run(REPO / "experiments" / "sandbox" / f"{family}.yaml", env))
                _steady_after(root / "state.json")
            keys = sorted({k for r in runs for k in r["figures"]})
            out["weekly"][family] = {
                "verdicts": [r["verdict"] for r in runs],
                "reasons": [r.get("reason") for r in runs if r["verdict"] != "passed"],
                "wall_s": _summary([r["wall_s"] for r in runs]),
                "figures": {k: _summary([r["figures"].get(k) for r in runs]) for k in keys},
            }
        pairs: dict[str, list[dict[str, Any]]] = {"synchronous": [], "asynchronous": []}
        for _ in range(args.trials if "thu-database-failover" in families else 0):
            for mode in ("synchronous", "asynchronous"):
                fig = fail_over(synchronous=mode == "synchronous")["chaosrunner_figures"]
                fig.update(rebuild_standby()["chaosrunner_figures"])
                pairs[mode].append(fig)
                _steady_after(root / "state.json")
        for mode, figs in pairs.items():
            out["failover_sync_vs_async"][mode] = {
                k: _summary([f.get(k) for f in figs]) for k in ("rto_s", "promote_s", "rpo_writes_lost",
                                                                  "standby_rebuild_s")}
        for family in families:
            if not (REPO / "experiments" / "sandbox" / "aggressive" / f"{family}.yaml").is_file():
                continue
            r = _run(REPO / "experiments" / "sandbox" / "aggressive" / f"{family}.yaml", env)
            out["aggressive"][family] = {"exit_code": r["exit_code"], "verdict": r["verdict"],
                                         "reason": r.get("reason"),
                                         "time_to_abort_s": r["timings"].get("time_to_abort_s"),
                                         "time_to_rollback_s": r["timings"].get("time_to_rollback_s"),
                                         "steady_again_after_s": _steady_after(root / "state.json")}
    finally:
        down(root)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=2))
    print(f"sandbox up: {out.get('sandbox_up_s')} s; trials: {args.trials}")
    print(f"{'experiment':<26} {'verdicts':<28} {'figure':<30} {'median':>9} {'min':>9} {'max':>9}")
    for fam, rec in out["weekly"].items():
        first = True
        for k, s in rec["figures"].items():
            if "median" not in s:
                continue
            label = (fam, ",".join(rec["verdicts"])) if first else ("", "")
            print(f"{label[0]:<26} {label[1]:<28} {k:<30} {s['median']:>9} {s['min']:>9} {s['max']:>9}")
            first = False
    if "thu-database-failover" in families:
        print("\nThursday failover, alternated:  mode / figure / median (min..max)")
    for mode, figs in out["failover_sync_vs_async"].items() if "thu-database-failover" in families else ():
        for k, s in figs.items():
            print(f"  {mode:<13} {k:<20} {s.get('median')} ({s.get('min')}..{s.get('max')})")
    print("\nover-aggressive variants: exit / verdict / time to abort / steady again after")
    for fam, rec in out["aggressive"].items():
        print(f"  {fam:<26} {rec['exit_code']} {rec['verdict']:<9} {rec['time_to_abort_s']} "
              f"{rec['steady_again_after_s']}")
    print(f"\nwrote {results.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
