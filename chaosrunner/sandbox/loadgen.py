"""The load generator: steady open-loop traffic through HAProxy, and what the clients saw.

Every ``1/rps`` seconds it fires one request without waiting for earlier ones (open loop: a slow
server does not slow the offered load). ``write_ratio`` of them are ``POST /pins``, the rest
``GET /pins/{id}`` of a previously acknowledged pin. Outcome ``success`` = HTTP status < 500 within
``timeout_s``; anything else (5xx, timeout, connection error) is ``error``.

Metrics (``GET /metrics``): ``loadgen_requests_total{kind="read|write",outcome="success|error"}`` and
``loadgen_request_duration_seconds{kind}`` (seconds, all outcomes). Every acknowledged write (201 with
an ``id``) is appended to ``acked.txt`` (one id per line, flushed) and kept in memory, so data loss after
a failover can be counted: ids acknowledged but absent from the new primary.

HTTP API: ``GET /stats?window=S`` → totals plus success ratio and p50/p99 latency (ms) over the last S
seconds (default 10); ``GET /acked`` → ``{"count", "ids"}``; ``POST /rate {"rps": N}`` changes the rate;
``GET /log?since=T`` → the request log: ``{"requests": [[t, kind, ok, ms], ...]}`` of every request that
ended at or after unix time T (``t``: when the client had its answer; ``ms``: its latency; the last
``KEEP_SAMPLES_S`` seconds are kept) — what the clients saw, one row per request, with no Prometheus
and no windowed rate in between.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0)
KEEP_SAMPLES_S = 300.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def summarize(samples: list[tuple[float, str, bool, float]], now: float, window_s: float) -> dict[str, Any]:
    """Pure: success ratio and latency percentiles (ms) of samples (t, kind, ok, seconds) in the window."""
    recent = [s for s in samples if s[0] >= now - window_s]
    ok = sum(1 for s in recent if s[2])
    lat_ms = [s[3] * 1000.0 for s in recent]
    return {
        "window_s": window_s,
        "requests": len(recent),
        "success": ok,
        "errors": len(recent) - ok,
        "success_ratio": (ok / len(recent)) if recent else None,
        "p50_ms": percentile(lat_ms, 50),
        "p99_ms": percentile(lat_ms, 99),
        "by_kind": {
            kind: {"requests": sum(1 for s in recent if s[1] == kind),
                   "errors": sum(1 for s in recent if s[1] == kind and not s[2])}
            for kind in ("read", "write")
        },
    }


class LoadGenerator:
    def __init__(self, target: str, rps: float, write_ratio: float, acked_path: Path, timeout_s: float) -> None:
        self.target = target.rstrip("/")
        self.rps = rps
        self.write_ratio = write_ratio
        self.acked_path = acked_path
        self.timeout_s = timeout_s
        self.acked: list[int] = []
        self.samples: collections.deque[tuple[float, str, bool, float]] = collections.deque()
        self.totals = {"requests": 0, "success": 0, "errors": 0}
        self.registry = CollectorRegistry()
        self.requests_total = Counter("loadgen_requests_total", "Requests the load generator sent",
                                      ["kind", "outcome"], registry=self.registry)
        self.duration = Histogram("loadgen_request_duration_seconds", "Client-side latency (seconds)",
                                  ["kind"], buckets=LATENCY_BUCKETS, registry=self.registry)
        for kind in ("read", "write"):
            self.duration.labels(kind=kind)
            for outcome in ("success", "error"):
                self.requests_total.labels(kind=kind, outcome=outcome)
        self.rng = random.Random()
        acked_path.parent.mkdir(parents=True, exist_ok=True)
        if acked_path.exists():
            self.acked = [int(x) for x in acked_path.read_text().split() if x.isdigit()]
        self._acked_file = open(acked_path, "a")  # noqa: SIM115 - lives as long as the process

    async def one(self, session: aiohttp.ClientSession) -> None:
        kind = "write" if self.rng.random() < self.write_ratio or not self.acked else "read"
        t0 = time.perf_counter()
        ok = False
        try:
            if kind == "write":
                async with session.post(f"{self.target}/pins", json={"body": "pin"}) as r:
                    data = await r.json(content_type=None) if r.status == 201 else None
                    ok = r.status < 500
                    if r.status == 201 and isinstance(data, dict) and "id" in data:
                        self.acked.append(int(data["id"]))
                        self._acked_file.write(f"{data['id']}\n")
                        self._acked_file.flush()
            else:
                pin = self.rng.choice(self.acked[-500:])
                async with session.get(f"{self.target}/pins/{pin}") as r:
                    await r.read()
                    ok = r.status < 500
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            ok = False
        elapsed = time.perf_counter() - t0
        outcome = "success" if ok else "error"
        self.requests_total.labels(kind=kind, outcome=outcome).inc()
        self.duration.labels(kind=kind).observe(elapsed)
        self.totals["requests"] += 1
        self.totals["success" if ok else "errors"] += 1
        now = time.time()
        self.samples.append((now, kind, ok, elapsed))
        while self.samples and self.samples[0][0] < now - KEEP_SAMPLES_S:
            self.samples.popleft()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            loop = asyncio.get_running_loop()
            next_t = loop.time()
            inflight: set[asyncio.Task[None]] = set()
            while True:
                if self.rps > 0:
                    task = asyncio.create_task(self.one(session))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                    next_t += 1.0 / self.rps
                else:
                    next_t = loop.time() + 0.1
                await asyncio.sleep(max(0.0, next_t - loop.time()))
                if next_t < loop.time() - 1.0:  # fell far behind (paused machine): do not burst
                    next_t = loop.time()


def build_app(gen: LoadGenerator) -> web.Application:
    async def stats(request: web.Request) -> web.Response:
        window = float(request.query.get("window", "10"))
        body = summarize(list(gen.samples), time.time(), window)
        body.update({"totals": gen.totals, "acked_writes": len(gen.acked), "rps": gen.rps,
                     "target": gen.target})
        return web.json_response(body)

    async def request_log(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            return web.json_response({"error": "since: want unix seconds"}, status=400)
        rows = [[round(t, 4), kind, ok, round(s * 1000.0, 2)] for t, kind, ok, s in list(gen.samples) if t >= since]
        return web.json_response({"requests": rows, "kept_s": KEEP_SAMPLES_S})

    async def acked(_: web.Request) -> web.Response:
        return web.json_response({"count": len(gen.acked), "ids": gen.acked})

    async def set_rate(request: web.Request) -> web.Response:
        body = await request.json()
        gen.rps = float(body["rps"])
        return web.json_response({"rps": gen.rps})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(gen.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def background(app: web.Application) -> Any:
        task = asyncio.create_task(gen.run())
        yield
        task.cancel()

    app = web.Application()
    app.cleanup_ctx.append(background)
    app.add_routes([web.get("/stats", stats), web.get("/acked", acked), web.post("/rate", set_rate),
                    web.get("/metrics", metrics), web.get("/log", request_log)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="sandbox load generator")
    p.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--port", type=int, required=True, help="port of the stats/metrics API")
    p.add_argument("--rps", type=float, default=50.0)
    p.add_argument("--write-ratio", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout (seconds)")
    p.add_argument("--acked", type=Path, required=True, help="file of acknowledged write ids")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    gen = LoadGenerator(args.target, args.rps, args.write_ratio, args.acked, args.timeout)
    web.run_app(build_app(gen), host="127.0.0.1", port=args.port, access_log=None, print=None,
                shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
