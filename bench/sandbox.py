"""Sandbox figures: ``sandbox up`` time, estate RSS, kill -9 replacement time.

The fault proxy's own figures (overhead, latency and bandwidth toxic accuracy) are in ``bench/faultproxy.py``.

* **up time / RSS**: ``sandbox up`` on a fresh root (seconds until every part answers, and until
  Prometheus has scraped every target), total RSS of every estate process (supervisord tree +
  PostgreSQL), ``sandbox down`` time.

Run: ``.venv/bin/python -m bench.sandbox``; writes ``bench/results/sandbox.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaosrunner.sandbox.state import SandboxState

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "sandbox.json"


def kill_and_time_replacement(state: SandboxState, program: str) -> float:
    """kill -9 one instance; seconds until supervisord's replacement answers /healthz (delay 0)."""
    import os
    import signal

    import requests

    from chaosrunner.sandbox.control import supervisor_rpc

    rpc = supervisor_rpc(state.supervisor.url)
    old = int(rpc.supervisor.getProcessInfo(program)["pid"])
    port = state.instance(program).port
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    while time.monotonic() - t0 < 30:
        try:
            pid = int(rpc.supervisor.getProcessInfo(program)["pid"])
            if pid not in (0, old) and requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return time.monotonic() - t0
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.02)
    return float("nan")


def bench_estate() -> dict[str, Any]:
    import psutil

    from chaosrunner.sandbox import estate

    parent = Path(tempfile.mkdtemp(prefix="bench-sbx-"))
    root = parent / "root"
    t0 = time.monotonic()
    try:
        state = estate.up(estate.SandboxOptions(root=root))
        up_s = time.monotonic() - t0
        estate.wait_scraped(state, 60)
        scraped_s = time.monotonic() - t0
        time.sleep(5)  # let the load generator and Prometheus reach steady state before measuring RSS
        procs = []
        sup = psutil.Process(int(state.supervisor.pid or 0))
        procs = [sup, *sup.children(recursive=True)]
        for node in (state.postgres.primary, state.postgres.standby):
            from chaosrunner.sandbox.postgres import PostgresCluster

            pid = PostgresCluster(Path(state.postgres.base_dir), node.name, node.port).pid()
            if pid:
                pg = psutil.Process(pid)
                procs += [pg, *pg.children(recursive=True)]
        by_kind: dict[str, float] = {}
        total = total_pss = 0.0
        for p in procs:
            try:
                mem = p.memory_full_info()
                name = p.name()
            except psutil.NoSuchProcess:
                continue
            rss = mem.rss / 2**20
            total += rss
            total_pss += mem.pss / 2**20
            kind = "postgres" if "postgres" in name else ("python" if "python" in name else name)
            by_kind[kind] = by_kind.get(kind, 0.0) + rss
        replaced_s = kill_and_time_replacement(state, "pinboard-us-east-b-2")
        t1 = time.monotonic()
    finally:
        estate.down(root)
        shutil.rmtree(parent, ignore_errors=True)
    down_s = time.monotonic() - t1
    return {"up_s": round(up_s, 2), "up_and_scraped_s": round(scraped_s, 2), "down_s": round(down_s, 2),
            "phases_s": state.up_timings, "kill9_replaced_healthy_s": round(replaced_s, 2),
            "processes": len(procs), "rss_total_mib": round(total, 1), "pss_total_mib": round(total_pss, 1),
            "rss_by_kind_mib": {k: round(v, 1) for k, v in sorted(by_kind.items())}}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
    import os

    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}
    result["estate"] = bench_estate()
    result["loadavg_after"] = os.getloadavg()[0]
    e = result["estate"]
    print(f"sandbox up {e['up_s']} s (scraped by Prometheus {e['up_and_scraped_s']} s), down {e['down_s']} s")
    print(f"up phases (cumulative s): {e['phases_s']}")
    print(f"kill -9 of an instance -> replacement healthy: {e['kill9_replaced_healthy_s']} s")
    print(f"estate RSS {e['rss_total_mib']} MiB (PSS {e['pss_total_mib']} MiB, shared pages counted once) "
          f"over {e['processes']} processes; RSS by kind: {e['rss_by_kind_mib']}")
    print(f"load average before/after: {result['loadavg_before']:.1f}/{result['loadavg_after']:.1f} "
          f"on {result['cpus']} CPUs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
