"""A small test service whose error rate and latency the test controls, exporting Prometheus metrics.

It hosts several logical instances (service/region/zone/target labels) in one process and simulates
their traffic deterministically: every 50 ms each instance serves ``rps × 0.05`` requests, a share
``error_ratio`` of them fail (an accumulator, not random), each observed at ``latency_s``. Prometheus
scrapes ``/metrics``; the test (or an experiment activity) changes behaviour over HTTP:

* ``POST /control {"match": {"zone": "us-east-a"}, "error_ratio": 0.5, "latency_s": 0.3}`` → 200 state
* ``POST /reset`` → every instance healthy again
* ``GET /control`` → state, with ``changed_at`` (epoch seconds of the last change) and ``events`` (the
  last 50 changes with their epoch times: "the service started to fail" / "the rollback healed it" for
  the abort-latency benchmark)

Run: ``python -m tests.guard.service --port P [--instances JSON] [--rps 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

TICK_S = 0.05
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5)
LABELS = ("service", "region", "zone", "target")

DEFAULT_INSTANCES: list[dict[str, str]] = [
    {"target": "pinboard-us-east-a-1", "service": "pinboard", "region": "us-east", "zone": "us-east-a"},
    {"target": "pinboard-us-east-a-2", "service": "pinboard", "region": "us-east", "zone": "us-east-a"},
    {"target": "pinboard-us-east-b-1", "service": "pinboard", "region": "us-east", "zone": "us-east-b"},
    {"target": "pinboard-us-west-a-1", "service": "pinboard", "region": "us-west", "zone": "us-west-a"},
    {"target": "search-us-east-a-1", "service": "search", "region": "us-east", "zone": "us-east-a"},
]


class Estate:
    def __init__(self, instances: list[dict[str, str]], rps: float) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("svc_requests", "requests served", [*LABELS, "code"], registry=self.registry)
        self.latency = Histogram(
            "svc_request_duration_seconds", "request latency", LABELS, buckets=BUCKETS, registry=self.registry
        )
        self.instances = instances
        self.rps = rps
        self.state = {i["target"]: {"error_ratio": 0.0, "latency_s": 0.01} for i in instances}
        self.acc = {i["target"]: [0.0, 0.0] for i in instances}  # requests, errors
        self.changed_at = time.time()
        self.events: list[dict[str, Any]] = []  # every control/reset with its epoch time (benchmarks)
        for i in instances:
            labels = [i[k] for k in LABELS]
            self.requests.labels(*labels, "200").inc(0)
            self.requests.labels(*labels, "500").inc(0)
            self.latency.labels(*labels)

    def tick(self, dt: float) -> None:
        for i in self.instances:
            st, acc = self.state[i["target"]], self.acc[i["target"]]
            acc[0] += self.rps * dt
            n = int(acc[0])
            if n == 0:
                continue
            acc[0] -= n
            acc[1] += n * st["error_ratio"]
            bad = min(n, int(acc[1]))
            acc[1] -= bad
            labels = [i[k] for k in LABELS]
            if n - bad:
                self.requests.labels(*labels, "200").inc(n - bad)
            if bad:
                self.requests.labels(*labels, "500").inc(bad)
            h = self.latency.labels(*labels)
            for _ in range(n):
                h.observe(st["latency_s"])

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        match = body.get("match") or {}
        hit = [i["target"] for i in self.instances if all(i.get(k) == v for k, v in match.items())]
        for t in hit:
            if "error_ratio" in body:
                self.state[t]["error_ratio"] = float(body["error_ratio"])
            if "latency_s" in body:
                self.state[t]["latency_s"] = float(body["latency_s"])
        self.changed_at = time.time()
        self.events.append({"at": self.changed_at, "kind": "control", "targets": hit,
                            "error_ratio": body.get("error_ratio"), "latency_s": body.get("latency_s")})
        return self.snapshot(hit)

    def reset(self) -> dict[str, Any]:
        for st in self.state.values():
            st.update(error_ratio=0.0, latency_s=0.01)
        self.changed_at = time.time()
        self.events.append({"at": self.changed_at, "kind": "reset"})
        return self.snapshot(list(self.state))

    def snapshot(self, changed: list[str] | None = None) -> dict[str, Any]:
        return {"instances": self.state, "changed": changed or [], "changed_at": self.changed_at,
                "events": self.events[-50:]}


def make_app(estate: Estate) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(estate.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def get_control(_: web.Request) -> web.Response:
        return web.json_response(estate.snapshot())

    async def post_control(req: web.Request) -> web.Response:
        return web.json_response(estate.control(await req.json()))

    async def post_reset(_: web.Request) -> web.Response:
        return web.json_response(estate.reset())

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def traffic(app: web.Application) -> Any:
        async def loop() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(TICK_S)
                now = time.monotonic()
                estate.tick(now - last)
                last = now

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/control", get_control)
    app.router.add_post("/control", post_control)
    app.router.add_post("/reset", post_reset)
    app.router.add_get("/health", health)
    app.cleanup_ctx.append(traffic)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--instances", default="")
    ap.add_argument("--rps", type=float, default=50.0)
    args = ap.parse_args()
    instances = json.loads(args.instances) if args.instances else DEFAULT_INSTANCES
    web.run_app(make_app(Estate(instances, args.rps)), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
