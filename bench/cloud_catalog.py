"""The cloud fault catalog end to end: each AWS experiment against a moto server and each Kubernetes
experiment against the recording fake API server, through ``chaosrunner run`` and, side by side, plain
``chaos run`` on the same file (alternated, fresh estate before every run).

Reports per experiment: chaosrunner's verdict, the measured figures from its journal, and the median
wall time of both commands with their ratio (chaosrunner's preflight, ledger, watchdog and journal cost;
``chaos`` runs without the chaostoolkit-reporting CLI plugin, as bench/runner_overhead.py explains).
Pauses are cut to 0.2 s as in the tests (the shipped 60–120 s holds are production durations).
What the figures mean against moto / the fake is in docs/platforms.md: against moto they time the *API
view* (moto replaces ASG instances and switches writers instantly; the realistic AWS timelines are
replayed in tests/cloud/test_aws_timelines.py instead). The fake Kubernetes cluster runs a realistic
timeline compressed by ``--timescale`` (default 0.1): a replacement pod Ready 8 s after it is created, a
deleted pod Terminating 10 s, a primary elected 15 s after its predecessor went; its figures are reported
both as measured and divided by the time scale (``*_sim_s``: seconds on the simulated timeline).

Run: ``.venv/bin/python -m bench.cloud_catalog [--trials 3] [--timescale 0.1]``; writes
bench/results/cloud_catalog.json.
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
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "cloud_catalog.json"
BIN = Path(sys.executable).parent
FAMILIES = (
    "mon-instance-kill",
    "tue-latency",
    "wed-resource-starvation",
    "thu-database-failover",
    "fri-regional-failover",
    "cdn-outage",
)


def _quick(src: Path, dest: Path) -> Path:
    doc = yaml.safe_load(src.read_text())
    for act in [*(doc.get("method") or []), *(doc.get("rollbacks") or [])]:
        for k in ("before", "after"):
            if k in (act.get("pauses") or {}):
                act["pauses"][k] = 0.2
    out = dest / f"{src.parent.name}-{src.name}"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    return time.perf_counter() - t0, proc


def main() -> int:
    sys.path.insert(0, str(REPO))
    from bench.runner_overhead import plain_chaos_env
    from chaosrunner.core.ports import free_port, wait_port
    from chaosrunner.sandbox.processes import ManagedProcess
    from tests.cloud import aws_estate, k8s_estate
    from tests.cloud.fake_kube import FakeKube

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--timescale", type=float, default=0.1, help="fake k8s seconds per simulated second")
    args = ap.parse_args()
    scale = args.timescale
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        port = free_port()
        moto = ManagedProcess("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], tmp / "moto.log")
        kube = FakeKube(start_s=8 * scale, shutdown_s=10 * scale, failover_delay_s=15 * scale)
        moto.start()
        try:
            wait_port(port, 30)
            kube.start()
            env = {
                **os.environ,
                "CHAOSRUNNER_HOME": str(tmp / "home"),
                "CHAOSRUNNER_JOURNALS": str(tmp / "journals"),
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "KUBECONFIG": str(tmp / "no-kubeconfig"),
                "KUBERNETES_HOST": kube.url,
                "KUBERNETES_API_KEY": "bench",
            }
            os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "KUBE"))})
            plain_chaos = plain_chaos_env(env, tmp_s)  # `chaos` as most users have it (bench/runner_overhead.py)

            def fresh(platform: str, family: str) -> None:
                import boto3

                if platform == "aws":
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST", data=b"")
                    urllib.request.urlopen(req, timeout=10).close()
                    boto3.DEFAULT_SESSION = None
                    aws_estate.build()
                    if family == "cdn-outage":
                        aws_estate.build_cdn()
                else:
                    kube.reset()
                    k8s_estate.build(kube)
                    if family == "cdn-outage":
                        k8s_estate.build_cdn(kube)

            for platform in ("aws", "k8s"):
                for family in FAMILIES:
                    exp = _quick(REPO / "experiments" / platform / f"{family}.yaml", tmp)
                    cr_times: list[float] = []
                    ctk_times: list[float] = []
                    figures: dict[str, list[float]] = {}
                    verdicts: list[str] = []
                    for _ in range(args.trials):
                        fresh(platform, family)
                        wall, proc = _run([str(BIN / "chaosrunner"), "run", str(exp), "--json"], env)
                        result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
                        verdicts.append(result["verdict"])
                        journal = json.loads(Path(result["journal"]).read_text())
                        for k, v in (journal["chaosrunner"].get("figures") or {}).items():
                            figures.setdefault(k, []).append(v)
                        cr_times.append(wall)
                        fresh(platform, family)
                        wall, proc = _run(
                            [
                                str(BIN / "chaos"),
                                "--no-version-check",
                                "--log-file",
                                str(tmp / "ctk.log"),
                                "run",
                                "--rollback-strategy",
                                "always",
                                "--journal-path",
                                str(tmp / "ctk.json"),
                                str(exp),
                            ],
                            plain_chaos,
                        )
                        ctk_times.append(wall)
                    cr, ctk = statistics.median(cr_times), statistics.median(ctk_times)
                    rows.append(
                        {
                            "experiment": f"{platform}/{family}",
                            "verdicts": verdicts,
                            "figures_median": {k: round(statistics.median(v), 3) for k, v in figures.items()},
                            "figures_sim_s": {
                                f"{k}_sim_s": round(statistics.median(v) / scale, 1) for k, v in figures.items()
                            }
                            if platform == "k8s"
                            else {},
                            "chaosrunner_run_s": round(cr, 3),
                            "chaos_run_s": round(ctk, 3),
                            "ratio": round(cr / ctk, 2),
                        }
                    )
                    print(f"  {rows[-1]['experiment']}: done", file=sys.stderr, flush=True)
        finally:
            kube.stop()
            moto.stop(timeout=2)
    print(f"{'experiment':<34} {'verdict':<8} {'chaosrunner s':>13} {'chaos s':>8} {'ratio':>6}  figures (median)")
    for r in rows:
        figs = ", ".join(f"{k}={v}" for k, v in {**r["figures_median"], **r["figures_sim_s"]}.items())
        verdict = r["verdicts"][0] if len(set(r["verdicts"])) == 1 else "/".join(r["verdicts"])
        print(
            f"{r['experiment']:<34} {verdict:<8} {r['chaosrunner_run_s']:>13.2f} {r['chaos_run_s']:>8.2f} "
            f"{r['ratio']:>6.2f}  {figs}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"trials": args.trials, "timescale": scale, "load_avg": os.getloadavg(), "rows": rows}, indent=2)
    )
    return 0 if all(v == "passed" for r in rows for v in r["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
