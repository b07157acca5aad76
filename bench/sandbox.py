"""Sandbox figures: fault-proxy overhead, latency-toxic accuracy, ``sandbox up`` time, estate RSS.

* **overhead**: a tiny aiohttp upstream (own process) and the fault proxy (own process) in front of it.
  Open-loop 200 rps to the direct path AND 200 rps to the proxied path at the same time (interleaved,
  so both see the same machine load), keep-alive clients, for ``--seconds``. Reported: p50/p99 of each
  and the added p50/p99 (proxied − direct), milliseconds.
* **toxic accuracy**: latency toxics of 50/200/1000 ms on a second proxy to the same upstream; requests
  alternate between the clean and the toxic proxy (new connection each); observed added p50 =
  p50(toxic) − p50(clean), and its error relative to the request.
* **up time / RSS**: ``sandbox up`` on a fresh root (seconds until every part answers, and until
  Prometheus has scraped every target), total RSS of every estate process (supervisord tree +
  PostgreSQL), ``sandbox down`` time.

Run: ``.venv/bin/python -m bench.sandbox [--seconds 10]``; writes ``bench/results/sandbox.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaosrunner.sandbox.state import SandboxState

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "sandbox.json"


def serve_upstream(port: int) -> None:
    from aiohttp import web

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/", hello)])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


async def open_loop(urls: dict[str, str], rps: float, seconds: float) -> dict[str, list[float]]:
    """Fire ``rps`` requests/s at each URL concurrently (open loop); latencies in ms per URL."""
    import aiohttp

    out: dict[str, list[float]] = {k: [] for k in urls}
    errors = {k: 0 for k in urls}
    timeout = aiohttp.ClientTimeout(total=5)
    sessions = {k: aiohttp.ClientSession(timeout=timeout) for k in urls}

    async def one(name: str) -> None:
        t0 = time.perf_counter()
        try:
            async with sessions[name].get(urls[name]) as r:
                await r.read()
                if r.status != 200:
                    errors[name] += 1
                    return
        except (aiohttp.ClientError, TimeoutError):
            errors[name] += 1
            return
        out[name].append((time.perf_counter() - t0) * 1000)

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    n = int(rps * seconds)
    for i in range(n):
        for name in urls:
            tasks.append(asyncio.create_task(one(name)))
        await asyncio.sleep(max(0.0, start + (i + 1) / rps - loop.time()))
    await asyncio.gather(*tasks)
    for s in sessions.values():
        await s.close()
    out["_errors"] = [float(errors[k]) for k in urls]
    return out


def sequential_ms(url: str, n: int) -> list[float]:
    import requests

    samples = []
    with requests.Session() as s:
        for _ in range(n):
            t0 = time.perf_counter()
            s.get(url, timeout=10).raise_for_status()
            samples.append((time.perf_counter() - t0) * 1000)
    return samples


def bench_proxy(seconds: float, rps: float) -> dict[str, Any]:
    import requests

    from chaosrunner.core.ports import free_port, wait_port
    from chaosrunner.sandbox.processes import ManagedProcess

    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))  # logs of the two processes (kept for inspection)
    up_port, api_port = free_port(), free_port()
    upstream = ManagedProcess("upstream", [sys.executable, "-m", "bench.sandbox", "--as-upstream", str(up_port)],
                              tmp / "upstream.log", cwd=REPO).start()
    proxy = ManagedProcess("faultproxy", [sys.executable, "-m", "chaosrunner.sandbox.faultproxy", "--port",
                                          str(api_port)], tmp / "faultproxy.log", cwd=REPO).start()
    try:
        wait_port(up_port, 15)
        wait_port(api_port, 15)
        api = f"http://127.0.0.1:{api_port}"
        created = requests.post(f"{api}/proxies", json={"name": "b", "listen": "127.0.0.1:0",
                                                        "upstream": f"127.0.0.1:{up_port}"}, timeout=3).json()
        direct = f"http://127.0.0.1:{up_port}/"
        proxied = f"http://{created['listen']}/"
        sequential_ms(direct, 20)
        sequential_ms(proxied, 20)  # warm-up
        lat = asyncio.run(open_loop({"direct": direct, "proxied": proxied}, rps, seconds))
        overhead = {
            "rps_each": rps, "seconds": seconds,
            "direct": {"n": len(lat["direct"]), "p50_ms": pct(lat["direct"], 50), "p99_ms": pct(lat["direct"], 99)},
            "proxied": {"n": len(lat["proxied"]), "p50_ms": pct(lat["proxied"], 50),
                        "p99_ms": pct(lat["proxied"], 99)},
            "errors": {"direct": lat["_errors"][0], "proxied": lat["_errors"][1]},
        }
        overhead["added_p50_ms"] = overhead["proxied"]["p50_ms"] - overhead["direct"]["p50_ms"]
        overhead["added_p99_ms"] = overhead["proxied"]["p99_ms"] - overhead["direct"]["p99_ms"]
        toxic_proxy = requests.post(f"{api}/proxies", json={"name": "t", "listen": "127.0.0.1:0",
                                                            "upstream": f"127.0.0.1:{up_port}"}, timeout=3).json()
        toxic_url = f"http://{toxic_proxy['listen']}/"
        toxics = []
        for requested in (50, 200, 1000):
            requests.post(f"{api}/proxies/t/toxics", timeout=3,
                          json={"name": "lat", "type": "latency", "attributes": {"latency": requested}})
            n = 10 if requested >= 1000 else 30
            base_s, slow_s = [], []
            for _ in range(n):  # alternate clean and toxic proxy: both see the same machine load
                base_s += sequential_ms(proxied, 1)
                slow_s += sequential_ms(toxic_url, 1)
            requests.delete(f"{api}/proxies/t/toxics/lat", timeout=3)
            added = statistics.median(slow_s) - statistics.median(base_s)
            toxics.append({"requested_ms": requested, "observed_added_p50_ms": round(added, 2),
                           "error_pct": round((added - requested) / requested * 100, 2), "samples": n,
                           "clean_p50_ms": round(statistics.median(base_s), 2)})
        return {"overhead": overhead, "toxic_accuracy": toxics}
    finally:
        proxy.stop()
        upstream.stop()


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
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rps", type=float, default=200.0)
    p.add_argument("--as-upstream", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_upstream:
        serve_upstream(args.as_upstream)
        return 0
    import os

    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}
    result.update(bench_proxy(args.seconds, args.rps))
    result["estate"] = bench_estate()
    result["loadavg_after"] = os.getloadavg()[0]
    o = result["overhead"]
    print(f"{'fault proxy @ ' + str(int(o['rps_each'])) + ' rps':<34}{'p50 ms':>10}{'p99 ms':>10}{'n':>8}")
    for k in ("direct", "proxied"):
        print(f"{k:<34}{o[k]['p50_ms']:>10.2f}{o[k]['p99_ms']:>10.2f}{o[k]['n']:>8}")
    print(f"{'added by the proxy':<34}{o['added_p50_ms']:>10.2f}{o['added_p99_ms']:>10.2f}")
    print(f"\n{'latency toxic requested ms':<34}{'observed':>10}{'error %':>10}")
    for t in result["toxic_accuracy"]:
        print(f"{t['requested_ms']:<34}{t['observed_added_p50_ms']:>10.1f}{t['error_pct']:>10.2f}")
    e = result["estate"]
    print(f"\nsandbox up {e['up_s']} s (scraped by Prometheus {e['up_and_scraped_s']} s), down {e['down_s']} s")
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
