"""Fault-proxy figures: overhead next to a direct connection, latency-toxic and bandwidth-toxic accuracy.

* **overhead**: a tiny aiohttp upstream (own process) and the fault proxy (own process) in front of it. Open-loop
  ``--rps`` (default 200) to the direct path AND the same rate to the proxied path at the same time (so both see the
  same machine load), keep-alive clients, for ``--seconds``. Reported: p50/p99 of each and the added p50/p99
  (proxied − direct), milliseconds.
* **latency accuracy**: latency toxics of 50/200/1000 ms on a second proxy to the same upstream; sequential requests
  (a new connection each) alternate between the clean and the toxic proxy; observed added p50 =
  p50(toxic) − p50(clean), and its error relative to the request.
* **bandwidth accuracy**: a bandwidth toxic of 10 KB/s, 100 KB/s and 10 MB/s on a proxy in front of an upstream that
  sends ~3 s worth of data; observed rate = bytes / (time of the last byte − time of connecting). Also the proxy's
  unthrottled throughput for scale.

``--server toxiproxy-server`` measures a real Toxiproxy binary (on PATH) the same way, for a side-by-side.

Run: ``.venv/bin/python -m bench.faultproxy [--seconds 10] [--rps 200] [--server builtin]``;
writes ``bench/results/faultproxy.json`` (``faultproxy-toxiproxy-server.json`` for the real server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from chaosrunner.core.ports import LOOPBACK, free_port, wait_port
from chaosrunner.sandbox.processes import ManagedProcess

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BANDWIDTHS_KBPS = (10, 100, 10_000)
TRANSFER_S = 3.0


def serve_http(port: int) -> None:
    from aiohttp import web

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/", hello)])
    web.run_app(app, host=LOOPBACK, port=port, access_log=None, print=None)


def serve_blob(port: int) -> None:
    """Each connection: read the size wanted (one line, bytes), send that many bytes, close."""
    with socket.create_server((LOOPBACK, port)) as server:
        while True:
            conn, _ = server.accept()
            with conn:
                line = conn.makefile("rb").readline().strip()
                if not line.isdigit():
                    continue  # a readiness probe (wait_port) connects and leaves
                size = int(line)
                block = b"x" * 65536
                try:
                    while size > 0:
                        conn.sendall(block[:size])
                        size -= len(block)
                except OSError:
                    continue


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


async def open_loop(urls: dict[str, str], rps: float, seconds: float) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Fire ``rps`` requests/s at each URL concurrently (open loop); latencies (ms) and error counts per URL."""
    import aiohttp

    out: dict[str, list[float]] = {k: [] for k in urls}
    errors = {k: 0 for k in urls}
    sessions = {k: aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) for k in urls}

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
    for i in range(int(rps * seconds)):
        tasks += [asyncio.create_task(one(name)) for name in urls]
        await asyncio.sleep(max(0.0, start + (i + 1) / rps - loop.time()))
    await asyncio.gather(*tasks)
    for s in sessions.values():
        await s.close()
    return out, errors


def sequential_ms(url: str) -> float:
    t0 = time.perf_counter()
    requests.get(url, timeout=10).raise_for_status()  # no session: a new connection, as a fresh client would
    return (time.perf_counter() - t0) * 1000


def create_proxy(api: str, name: str, upstream_port: int) -> str:
    r = requests.post(f"{api}/proxies", timeout=3, json={"name": name, "listen": f"{LOOPBACK}:0",
                                                         "upstream": f"{LOOPBACK}:{upstream_port}"})
    r.raise_for_status()
    return str(r.json()["listen"])


def bench_overhead(api: str, http_port: int, rps: float, seconds: float) -> dict[str, Any]:
    direct = f"http://{LOOPBACK}:{http_port}/"
    proxied = f"http://{create_proxy(api, 'overhead', http_port)}/"
    for _ in range(20):  # warm-up
        sequential_ms(direct)
        sequential_ms(proxied)
    lat, errors = asyncio.run(open_loop({"direct": direct, "proxied": proxied}, rps, seconds))
    out: dict[str, Any] = {"rps_each": rps, "seconds": seconds, "errors": errors}
    for k in ("direct", "proxied"):
        out[k] = {"n": len(lat[k]), "p50_ms": round(pct(lat[k], 50), 3), "p99_ms": round(pct(lat[k], 99), 3)}
    out["added_p50_ms"] = round(out["proxied"]["p50_ms"] - out["direct"]["p50_ms"], 3)
    out["added_p99_ms"] = round(out["proxied"]["p99_ms"] - out["direct"]["p99_ms"], 3)
    return out


def bench_latency(api: str, http_port: int) -> list[dict[str, Any]]:
    clean = f"http://{create_proxy(api, 'clean', http_port)}/"
    toxic = f"http://{create_proxy(api, 'latency', http_port)}/"
    rows = []
    for requested in (50, 200, 1000):
        requests.post(f"{api}/proxies/latency/toxics", timeout=3,
                      json={"name": "lat", "type": "latency", "attributes": {"latency": requested}}).raise_for_status()
        n = 10 if requested >= 1000 else 30
        base, slow = [], []
        for _ in range(n):  # alternate: both see the same machine load
            base.append(sequential_ms(clean))
            slow.append(sequential_ms(toxic))
        requests.delete(f"{api}/proxies/latency/toxics/lat", timeout=3)
        added = statistics.median(slow) - statistics.median(base)
        rows.append({"requested_ms": requested, "observed_added_p50_ms": round(added, 2),
                     "error_pct": round((added - requested) / requested * 100, 2), "samples": n,
                     "clean_p50_ms": round(statistics.median(base), 2)})
    return rows


def transfer(port: int, size: int) -> float:
    """Seconds from connecting to the last of ``size`` bytes through ``port``."""
    t0 = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=60) as s:
        s.sendall(b"%d\n" % size)
        got = 0
        while got < size:
            data = s.recv(1 << 20)
            if not data:
                raise SystemExit(f"transfer ended after {got} of {size} bytes")
            got += len(data)
    return time.perf_counter() - t0


def bench_bandwidth(api: str, blob_port: int) -> dict[str, Any]:
    listen = create_proxy(api, "bandwidth", blob_port)
    port = int(listen.rsplit(":", 1)[1])
    size = 50_000_000
    unthrottled_s = transfer(port, size)
    rows = []
    for kbps in BANDWIDTHS_KBPS:
        requests.post(f"{api}/proxies/bandwidth/toxics", timeout=3,
                      json={"name": "bw", "type": "bandwidth", "attributes": {"rate": kbps}}).raise_for_status()
        want = int(kbps * 1000 * TRANSFER_S)
        elapsed = transfer(port, want)
        requests.delete(f"{api}/proxies/bandwidth/toxics/bw", timeout=3)
        observed = want / elapsed / 1000
        rows.append({"requested_kbps": kbps, "bytes": want, "seconds": round(elapsed, 3),
                     "observed_kbps": round(observed, 2), "error_pct": round((observed - kbps) / kbps * 100, 2)})
    return {"unthrottled_mb_per_s": round(size / unthrottled_s / 1e6, 1), "toxic": rows}


def start(name: str, argv: list[str], port: int, logs: Path) -> ManagedProcess:
    proc = ManagedProcess(name, argv, logs / f"{name}.log", cwd=REPO).start()
    wait_port(port, 15)
    return proc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rps", type=float, default=200.0)
    p.add_argument("--server", choices=("builtin", "toxiproxy-server"), default="builtin")
    p.add_argument("--as-http", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--as-blob", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_http:
        serve_http(args.as_http)
        return 0
    if args.as_blob:
        serve_blob(args.as_blob)
        return 0
    logs = Path(tempfile.mkdtemp(prefix="bench-faultproxy-"))  # the processes' logs, kept for inspection
    http_port, blob_port, api_port = free_port(), free_port(), free_port()
    if args.server == "builtin":
        server_argv = [sys.executable, "-m", "chaosrunner.sandbox.faultproxy", "--port", str(api_port)]
    else:
        binary = shutil.which("toxiproxy-server")
        if binary is None:
            raise SystemExit("toxiproxy-server is not on PATH")
        server_argv = [binary, "-host", LOOPBACK, "-port", str(api_port)]
    procs = [start("http", [sys.executable, "-m", "bench.faultproxy", "--as-http", str(http_port)], http_port, logs),
             start("blob", [sys.executable, "-m", "bench.faultproxy", "--as-blob", str(blob_port)], blob_port, logs),
             start(args.server, server_argv, api_port, logs)]
    api = f"http://{LOOPBACK}:{api_port}"
    result: dict[str, Any] = {"server": args.server, "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}
    try:
        result["overhead"] = bench_overhead(api, http_port, args.rps, args.seconds)
        result["latency_accuracy"] = bench_latency(api, http_port)
        result["bandwidth_accuracy"] = bench_bandwidth(api, blob_port)
    finally:
        for proc in reversed(procs):
            proc.stop()
    result["loadavg_after"] = os.getloadavg()[0]
    print_table(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("faultproxy.json" if args.server == "builtin" else f"faultproxy-{args.server}.json")
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


def print_table(result: dict[str, Any]) -> None:
    o = result["overhead"]
    print(f"{result['server'] + ' @ ' + str(int(o['rps_each'])) + ' rps each':<34}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'n':>8}{'errors':>8}")
    for k in ("direct", "proxied"):
        print(f"{k:<34}{o[k]['p50_ms']:>10.2f}{o[k]['p99_ms']:>10.2f}{o[k]['n']:>8}{o['errors'][k]:>8}")
    print(f"{'added by the proxy':<34}{o['added_p50_ms']:>10.2f}{o['added_p99_ms']:>10.2f}")
    print(f"\n{'latency toxic, requested ms':<34}{'observed':>10}{'error %':>10}")
    for t in result["latency_accuracy"]:
        print(f"{t['requested_ms']:<34}{t['observed_added_p50_ms']:>10.1f}{t['error_pct']:>10.2f}")
    b = result["bandwidth_accuracy"]
    print(f"\n{'bandwidth toxic, requested KB/s':<34}{'observed':>10}{'error %':>10}{'seconds':>10}")
    for t in b["toxic"]:
        print(f"{t['requested_kbps']:<34}{t['observed_kbps']:>10.1f}{t['error_pct']:>10.2f}{t['seconds']:>10.2f}")
    print(f"unthrottled through the proxy: {b['unthrottled_mb_per_s']} MB/s")
    print(f"load average before/after: {result['loadavg_before']:.1f}/{result['loadavg_after']:.1f} "
          f"on {result['cpus']} CPUs")


if __name__ == "__main__":
    sys.exit(main())
