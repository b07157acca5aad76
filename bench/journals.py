"""Journal review at scale: ``journal list`` and ``journal trend`` over 10,000 journals, and the HTML
report of a run with 3,600 guard samples (one hour at 1 s).

Whole CLI processes (interpreter start-up, imports, reading the store, output), median of N each,
alternated so background load hits all alike; next to ``chaosrunner --help`` for the start-up floor.
``cold`` = no summary index yet (first listing after the journals appeared: every file is parsed);
``warm`` = the index ``<journals>/.index-v1.json`` is current (the steady state: only new files are
parsed). Targets (issue 7): list and trend <= 2 s each; report <= 1 s and <= 2 MB.

Run: ``.venv/bin/python -m bench.journals [--journals 10000] [--trials 5]``; writes
bench/results/journals.json.
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "journals.json"
sys.path.insert(0, str(ROOT))

from tests.review import journals as J  # noqa: E402  (the same generator the tests use)


def timed(argv: list[str], env: dict[str, str], before: object = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys of the child and its children). CPU time is what the work
    costs; wall time also carries whatever else the machine is doing."""
    if callable(before):
        before()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:6])} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--journals", type=int, default=10_000)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "journals"
        t0 = time.perf_counter()
        J.write_store(store, args.journals, weeks=12, end=datetime.now(UTC))
        gen_s = time.perf_counter() - t0
        store_bytes = sum(p.stat().st_size for p in store.rglob("*.json"))
        long_doc = J.passed(samples=3600, seed=99)
        long_path = J.write_journal(store, long_doc)
        long_id = long_doc["chaosrunner"]["run_id"]
        env = {**os.environ, "CHAOSRUNNER_HOME": f"{tmp}/home", "CHAOSRUNNER_JOURNALS": str(store)}
        index = store / ".index-v1.json"

        def drop_index() -> None:
            index.unlink(missing_ok=True)

        out_html = Path(tmp) / "report.html"
        cases = {
            "chaosrunner --help (start-up floor)": ([py, "-m", "chaosrunner", "--help"], None),
            "journal list --json (cold: no index)": (
                [py, "-m", "chaosrunner", "journal", "list", "--json"],
                drop_index,
            ),
            "journal list --json (warm index)": ([py, "-m", "chaosrunner", "journal", "list", "--json"], None),
            "journal list (table, warm)": ([py, "-m", "chaosrunner", "journal", "list"], None),
            "journal list --verdict aborted --since 14d": (
                [py, "-m", "chaosrunner", "journal", "list", "--json", "--verdict", "aborted", "--since", "14d"],
                None,
            ),
            "journal trend --weeks 12 (cold: no index)": (
                [py, "-m", "chaosrunner", "journal", "trend", "--weeks", "12"],
                drop_index,
            ),
            "journal trend --weeks 12 (warm index)": (
                [py, "-m", "chaosrunner", "journal", "trend", "--weeks", "12"],
                None,
            ),
            "journal trend --json --weeks 12 (warm)": (
                [py, "-m", "chaosrunner", "journal", "trend", "--json", "--weeks", "12"],
                None,
            ),
            "journal report (3,600 samples)": (
                [py, "-m", "chaosrunner", "journal", "report", long_id, "--out", str(out_html)],
                None,
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.trials):
            for name, (argv, before) in cases.items():
                wall, used = timed(argv, env, before)
                times[name].append(wall)
                cpu[name].append(used)
        report_bytes = out_html.stat().st_size

        # in-process: the cost without interpreter start-up
        from chaosrunner.journal.store import list_journals, load_journal
        from chaosrunner.report.html import render_html
        from chaosrunner.report.trend import compute_trend

        drop_index()
        t = time.perf_counter()
        n = len(list_journals(store).summaries)
        inproc_cold = time.perf_counter() - t
        warm = []
        for _ in range(args.trials):
            t = time.perf_counter()
            summaries = list_journals(store).summaries
            warm.append(time.perf_counter() - t)
        t = time.perf_counter()
        compute_trend(summaries, datetime.now(UTC), weeks=12)
        trend_pure = time.perf_counter() - t
        loaded = load_journal(long_path)
        renders = []
        for _ in range(args.trials):
            t = time.perf_counter()
            html = render_html([loaded])
            renders.append(time.perf_counter() - t)

    help_s = statistics.median(times["chaosrunner --help (start-up floor)"])
    help_cpu = statistics.median(cpu["chaosrunner --help (start-up floor)"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append(
            {
                "case": name,
                "median_s": round(med, 3),
                "min_s": round(min(ts), 3),
                "max_s": round(max(ts), 3),
                "cpu_median_s": round(statistics.median(cpu[name]), 3),
                "x_startup": round(med / help_s, 2),
                "cpu_x_startup": round(statistics.median(cpu[name]) / help_cpu, 2),
            }
        )
    result = {
        "journals": args.journals,
        "listed": n,
        "store_mb": round(store_bytes / 1e6, 1),
        "generate_s": round(gen_s, 1),
        "trials": args.trials,
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "processes": rows,
        "in_process": {
            "list_cold_s": round(inproc_cold, 3),
            "list_warm_median_s": round(statistics.median(warm), 3),
            "trend_compute_s": round(trend_pure, 4),
            "render_3600_samples_median_s": round(statistics.median(renders), 4),
            "render_3600_samples_bytes": len(html.encode()),
        },
        "report_file_bytes": report_bytes,
        "targets": {"list_s": 2.0, "trend_s": 2.0, "report_s": 1.0, "report_bytes": 2 * 1024 * 1024},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{args.journals} journals ({result['store_mb']} MB), median of {args.trials} whole processes")
    print(f"load average at the end: {result['load_average_1m_at_end']} on {os.cpu_count()} CPUs")
    print(f"{'case':48} {'median':>8} {'min':>8} {'max':>8} {'CPU':>8} {'x start-up':>10}")
    for r in rows:
        print(
            f"{r['case']:48} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['max_s']:>7.3f}s "
            f"{r['cpu_median_s']:>7.3f}s {r['x_startup']:>10.2f}"
        )
    ip = result["in_process"]
    print(
        f"in-process: list cold {ip['list_cold_s']:.3f}s, warm {ip['list_warm_median_s']:.3f}s, "
        f"trend compute {ip['trend_compute_s']:.4f}s, render 3,600 samples {ip['render_3600_samples_median_s']:.4f}s"
    )
    print(f"HTML report, 3,600 samples: {report_bytes / 1024:.0f} KiB")
    print(f"written {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
