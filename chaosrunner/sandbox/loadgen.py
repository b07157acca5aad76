"""The load generator: steady open-loop traffic through HAProxy, and what the clients saw.

Every ``1/rps`` seconds it fires one request without waiting for earlier ones (open loop: a slow
server does not slow the offered load). ``write_ratio`` of them are ``POST /pins``, the rest
``GET /pins/{id}`` of a previously acknowledged pin. Outcome ``success`` = HTTP status < 500 within
``timeout_s``; anything else (5xx, timeout, connection error) is ``error``.

Metrics (``GET /metrics``): ``loadgen_requests_total{kind="read|write",outcome="success|error"}`` and
``loadgen_request_duration_seconds{kind}`` (seconds, all outcomes). Every acknowledged write (201 with
an ``id``) is appended to ``acked.txt`` (one id per line, flushed) and kept in memory, so data loss after
a failover can be counted: ids acknowledged but absent from the new primary.

With ``--cdn URL`` it also fetches images through the CDN steering layer at ``--image-rps`` (its own open
loop; image ``n`` is drawn skewed, a few images popular): ``loadgen_cdn_requests_total{edge,cache,outcome}``
(``service="pinboard-cdn"``, ``edge`` from the answer's ``X-Edge``, ``cache`` its ``X-Cache`` HIT|MISS,
``none`` without an answer) and
``loadgen_cdn_request_duration_seconds``. Images are kept apart from the pinboard requests above: they are
the CDN's SLI, not the service's.

HTTP API: ``GET /stats?window=S`` → totals plus success ratio and p50/p99 latency (ms) over the last S
seconds (default 10); ``GET /acked`` → ``{"count", "ids"}``; ``POST /acked/write-off {"ids": [...]}`` drops
acknowledged writes a measured failover lost (the database's rebuild settles the books, so a loss already
reported is not counted again by every later check, and reads stop asking for those pins) →
``{"written_off", "count"}``; ``POST /rate {"rps": N}`` changes the rate;
``GET /log?since=T`` → the request log: ``{"requests": [[t, kind, ok, ms], ...]}`` of every request that
ended at or after unix time T (``t``: when the client had its answer; ``ms``: its latency; the last
``KEEP_SAMPLES_S`` seconds are kept) — what the clients saw, one row per request, with no Prometheus
and no windowed rate in between. ``GET /cdn?window=S`` → the image fetches' success and hit ratios, overall and
per edge; ``GET /cdn/log?since=T`` → ``{"requests": [[t, edge, cache, ok, ms], ...]}``.
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

from chaosrunner.sandbox.topology import CDN_SERVICE, IMAGES

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


def summarize_cdn(samples: list[tuple[float, str, str, bool, float]], now: float, window_s: float) -> dict[str, Any]:
    """Pure: success and hit ratios of image fetches (t, edge, cache, ok, seconds) in the window, per edge."""
    recent = [s for s in samples if s[0] >= now - window_s]

    def ratios(rows: list[tuple[float, str, str, bool, float]]) -> dict[str, Any]:
        ok = [r for r in rows if r[3]]
        return {"requests": len(rows), "success": len(ok),
                "success_ratio": len(ok) / len(rows) if rows else None,
                "hit_ratio": sum(1 for r in ok if r[2] == "HIT") / len(ok) if ok else None}

    return {"window_s": window_s, **ratios(recent),
            "by_edge": {e: ratios([r for r in recent if r[1] == e]) for e in sorted({r[1] for r in recent})}}


class LoadGenerator:
    def __init__(self, target: str, rps: float, write_ratio: float, acked_path: Path, timeout_s: float,
                 cdn: str | None = None, image_rps: float = 0.0) -> None:
        self.target = target.rstrip("/")
        self.cdn = cdn.rstrip("/") if cdn else None
        self.image_rps = image_rps
        self.cdn_samples: collections.deque[tuple[float, str, str, bool, float]] = collections.deque()
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
        self.cdn_total = Counter("loadgen_cdn_requests_total", "Image fetches through the CDN",
                                 ["service", "edge", "cache", "outcome"], registry=self.registry)
        self.cdn_duration = Histogram("loadgen_cdn_request_duration_seconds", "Image fetch latency (seconds)",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rng = random.Random()
        acked_path.parent.mkdir(parents=True, exist_ok=True)
        if acked_path.exists():
            self.acked = [int(x) for x in acked_path.read_text().split() if x.isdigit()]
        self._acked_file = open(acked_path, "a")  # noqa: SIM115 - lives as long as the process

    def write_off(self, ids: set[int]) -> int:
        """Forget acknowledged writes the database lost (kept on disk without them); returns how many."""
        kept = [i for i in self.acked if i not in ids]
        gone = len(self.acked) - len(kept)
        if gone:
            tmp = self.acked_path.with_suffix(".tmp")
            tmp.write_text("".join(f"{i}\n" for i in kept))
            self._acked_file.close()
            tmp.replace(self.acked_path)
            self._acked_file = open(self.acked_path, "a")  # noqa: SIM115 - lives as long as the process
            self.acked = kept
        return gone

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

    async def image(self, session: aiohttp.ClientSession) -> None:
        n = int(IMAGES ** self.rng.random()) - 1  # skewed: image 0 is the most popular
        edge, cache, ok = "none", "none", False
        t0 = time.perf_counter()
        try:
            async with session.get(f"{self.cdn}/images/{n}") as r:
                await r.read()
                edge, cache = r.headers.get("X-Edge", "none"), r.headers.get("X-Cache", "none").upper()
                ok = r.status < 500
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            ok = False
        elapsed = time.perf_counter() - t0
        self.cdn_total.labels(service=CDN_SERVICE, edge=edge, cache=cache, outcome="success" if ok else "error").inc()
        self.cdn_duration.observe(elapsed)
        now = time.time()
        self.cdn_samples.append((now, edge, cache, ok, elapsed))
        while self.cdn_samples and self.cdn_samples[0][0] < now - KEEP_SAMPLES_S:
            self.cdn_samples.popleft()

    async def _loop(self, session: aiohttp.ClientSession, rate: Any, fire: Any) -> None:
        """Open loop: ``fire(session)`` every ``1/rate()`` seconds, never waiting for earlier requests."""
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        inflight: set[asyncio.Task[None]] = set()
        while True:
            if rate() > 0:
                task = asyncio.create_task(fire(session))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                next_t += 1.0 / rate()
            else:
                next_t = loop.time() + 0.1
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            if next_t < loop.time() - 1.0:  # fell far behind (paused machine): do not burst
                next_t = loop.time()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            loops = [self._loop(session, lambda: self.rps, self.one)]
            if self.cdn:
                loops.append(self._loop(session, lambda: self.image_rps, self.image))
            await asyncio.gather(*loops)


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

    async def cdn(request: web.Request) -> web.Response:
        return web.json_response(summarize_cdn(list(gen.cdn_samples), time.time(),
                                               float(request.query.get("window", "10"))))

    async def cdn_log(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            return web.json_response({"error": "since: want unix seconds"}, status=400)
        rows = [[round(t, 4), edge, cache, ok, round(s * 1000.0, 2)]
                for t, edge, cache, ok, s in list(gen.cdn_samples) if t >= since]
        return web.json_response({"requests": rows, "kept_s": KEEP_SAMPLES_S})

    async def acked(_: web.Request) -> web.Response:
        return web.json_response({"count": len(gen.acked), "ids": gen.acked})

    async def write_off(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            ids = {int(i) for i in body["ids"]}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'want {"ids": [int, ...]}'}, status=400)
        return web.json_response({"written_off": gen.write_off(ids), "count": len(gen.acked)})

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
    app.add_routes([web.get("/stats", stats), web.get("/acked", acked),
                    web.post("/acked/write-off", write_off), web.post("/rate", set_rate),
                    web.get("/metrics", metrics), web.get("/log", request_log),
                    web.get("/cdn", cdn), web.get("/cdn/log", cdn_log)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="sandbox load generator")
    p.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--port", type=int, required=True, help="port of the stats/metrics API")
    p.add_argument("--rps", type=float, default=50.0)
    p.add_argument("--write-ratio", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout (seconds)")
    p.add_argument("--acked", type=Path, required=True, help="file of acknowledged write ids")
    p.add_argument("--cdn", default=None, help="base URL of the CDN steering layer (images)")
    p.add_argument("--image-rps", type=float, default=20.0, help="image fetches per second through --cdn")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    gen = LoadGenerator(args.target, args.rps, args.write_ratio, args.acked, args.timeout, args.cdn,
                        args.image_rps)
    web.run_app(build_app(gen), host="127.0.0.1", port=args.port, access_log=None, print=None,
                shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
