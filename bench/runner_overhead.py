"""Runner overhead: ``chaosrunner run`` vs ``chaos run`` on the same trivial 3-activity experiment.

Whole processes (start-up, validation, run, journal), alternated A/B so drift and background load hit
both alike; median of N each (default 12). The same experiment with a 3 s hold after its first action
(closer to a real fault's duration) shows that chaosrunner's extra cost is a constant start-up cost
(pydantic, preflight, the ledger, the watchdog's spawn), not a per-second one. Also the start-up cost
of every everyday command — ``--help``, ``validate``, ``plan``, ``journal list``, ``status`` — next to
``python -c pass`` for scale. Modules are byte-compiled first, as a wheel install has them.

Run: ``.venv/bin/python -m bench.runner_overhead [--trials 12]``; writes bench/results/runner_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

RESULTS = Path(__file__).resolve().parent / "results" / "runner_overhead.json"
BIN = Path(sys.executable).parent

EXPERIMENT = {
    "title": "trivial",
    "description": "three quick activities",
    "method": [
        {"type": "action", "name": "one", "provider": {"type": "process", "path": "/bin/true"}},
        {"type": "probe", "name": "two", "provider": {"type": "python", "module": "os.path", "func": "exists",
                                                      "arguments": {"path": "/"}}},
        {"type": "action", "name": "three", "provider": {"type": "process", "path": "/bin/true"}},
    ],
    "rollbacks": [],
}


def plain_chaos_env(env: dict[str, str], tmp: str) -> dict[str, str]:
    """``chaos`` as most users have it: without chaostoolkit-reporting (installed here for the compatibility
    tests), whose CLI plugin imports matplotlib and cairo at every ``chaos`` start (0.19 s → 1.0 s). A
    package of the same name that refuses to import leaves the plugin out, as if it were not installed."""
    shim = Path(tmp) / "no-reporting" / "chaosreport"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text('raise ImportError("chaostoolkit-reporting left out of this measurement")\n')
    return {**env, "PYTHONPATH": str(shim.parent)}


def become_subreaper() -> None:
    """Orphans of the measured commands (a run's watchdog outlives the run) become this process' children,
    so :func:`timed` can wait for them and count their CPU: a run costs what its watchdog costs too."""
    import ctypes

    pr_set_child_subreaper = 36
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of the command, and CPU seconds (user + system) of it and every process it left behind,
    waited for before the next command starts (so no measurement shares the machine with the last one's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - t0
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {proc.returncode}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=12)
    args = ap.parse_args()
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "chaosrunner", quiet=1)
    become_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "trivial.yaml"
        exp.write_text(yaml.safe_dump(EXPERIMENT))
        held = Path(tmp) / "held.yaml"
        held_doc = json.loads(json.dumps(EXPERIMENT))
        held_doc["method"][0]["pauses"] = {"after": 3}
        held.write_text(yaml.safe_dump(held_doc))
        env = {**os.environ, "CHAOSRUNNER_HOME": f"{tmp}/home", "CHAOSRUNNER_JOURNALS": f"{tmp}/journals"}
        commands = {
            "chaosrunner run": [str(BIN / "chaosrunner"), "run", str(exp)],
            "chaos run": [str(BIN / "chaos"), "--no-version-check", "--log-file", f"{tmp}/ctk.log", "run",
                          "--journal-path", f"{tmp}/ctk.json", str(exp)],
            "chaosrunner run (3 s hold)": [str(BIN / "chaosrunner"), "run", str(held)],
            "chaos run (3 s hold)": [str(BIN / "chaos"), "--no-version-check", "--log-file", f"{tmp}/ctk.log", "run",
                                     "--journal-path", f"{tmp}/ctk.json", str(held)],
            "chaos run (reporting plugin)": [str(BIN / "chaos"), "--no-version-check", "--log-file",
                                             f"{tmp}/ctk.log", "run", "--journal-path", f"{tmp}/ctk.json", str(exp)],
            "chaosrunner --help": [str(BIN / "chaosrunner"), "--help"],
            "chaosrunner validate": [str(BIN / "chaosrunner"), "validate", str(exp)],
            "chaosrunner plan": [str(BIN / "chaosrunner"), "plan", str(exp)],
            "chaosrunner journal list": [str(BIN / "chaosrunner"), "journal", "list", "--limit", "20"],
            "chaosrunner status": [str(BIN / "chaosrunner"), "status"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        plain = plain_chaos_env(env, tmp)
        envs = {name: plain if name.startswith("chaos run") and "plugin" not in name else env for name in commands}
        for name, argv in commands.items():  # warm the page cache once
            timed(argv, envs[name])
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.trials):
            for name, argv in commands.items():
                wall, used = timed(argv, envs[name])
                times[name].append(wall)
                cpu[name].append(used)
        phases: dict[str, list[float]] = {}
        for _ in range(args.trials):  # where one run's time goes, inside a fresh interpreter each time
            out = subprocess.run([sys.executable, "-m", "bench._startup_phases", str(exp)], env=env, check=True,
                                 capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]).stdout
            for name, ms in json.loads(out.splitlines()[-1]).items():
                phases.setdefault(name, []).append(ms)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med["chaosrunner run"] / med["chaos run"]
    ratio_cpu = med_cpu["chaosrunner run"] / med_cpu["chaos run"]
    ratio_held = med["chaosrunner run (3 s hold)"] / med["chaos run (3 s hold)"]
    print(f"{'command':<30}{'median s':>10}{'min s':>10}{'max s':>10}{'CPU s':>10}")
    for name, values in times.items():
        print(f"{name:<30}{med[name]:>10.3f}{min(values):>10.3f}{max(values):>10.3f}{med_cpu[name]:>10.3f}")
    print("(CPU: the command and what it left running — a run's watchdog — median)")
    print(f"\nratio chaosrunner run / chaos run (median wall): {ratio:.3f}  (target <= 1.10)")
    print(f"same in CPU, the watchdog included:             {ratio_cpu:.3f}")
    print(f"same with a 3 s hold:                           {ratio_held:.3f}")
    print(f"constant extra cost (median difference):        {med['chaosrunner run'] - med['chaos run']:.3f} s")
    print(f"chaosrunner --help median: {med['chaosrunner --help']:.3f} s  (target <= 0.15 s)")
    med_phases = {k: statistics.median(v) for k, v in phases.items()}
    print(f"\n{'chaosrunner run, by phase (bench/_startup_phases.py)':<52}{'median ms':>10}")
    for name, ms in med_phases.items():
        print(f"{name:<52}{ms:>10.1f}")
    print(f"{'(interpreter start and exit: the rest of the wall time)':<52}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "trials": args.trials,
        "median_s": med,
        "samples_s": times,
        "median_cpu_s": med_cpu,
        "ratio_run_cpu": ratio_cpu,
        "phases_median_ms": med_phases,
        "ratio_run": ratio,
        "ratio_run_3s_hold": ratio_held,
        "load_average": os.getloadavg(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
