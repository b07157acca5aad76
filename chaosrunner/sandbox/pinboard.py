"""The demo service "pinboard": one instance = one process (aiohttp), labelled by region/zone/tier.

Endpoints:

* ``GET /pins/{id}`` (route ``read``) → 200 ``{"id", "body"}`` or 404; reads the region's read database.
* ``POST /pins`` (route ``write``) ``{"body": str}`` → 201 ``{"id"}``; in a Read-Only region → 503 at
  once (``{"error": "region eu-west is read-only"}``) without touching any database.
* ``GET /images/{n}`` (route ``image``, n in 0..IMAGES-1) → 200, a few KB of ``image/png``-typed bytes that
  depend only on ``n``, ``Cache-Control: public, max-age=IMAGE_MAX_AGE_S``: the origin of the CDN tier.
* ``GET /healthz`` → 200 ``{"ok": true, ...}`` while the process serves (HAProxy health checks).
* ``GET /metrics`` → Prometheus text: ``http_requests_total{service,region,zone,instance,tier,route,code}``
  and ``http_request_duration_seconds{service,region,zone,instance,tier,route}`` (seconds); every
  (route, code) series exists at 0 from the start (a rate() of an absent series is empty, not 0).

Database access goes through the fault proxy (so a latency toxic on the ``database`` proxies slows
queries) with short timeouts: 2 s to connect (per host), 2 s statement timeout, 3 s overall per query —
a dead database yields a fast 503, never a hung request. Writes use a multi-host DSN with
``target_session_attrs=read-write`` so that after the standby is promoted, the next (re)connection finds
the new primary by itself. A Full region reads from the primary too (its own writes, and the database path
a Tuesday latency toxic slows), falling back to any node while there is none; a read connection that
landed on a standby is closed after its query, so reads return to the primary as soon as one exists (a
failover followed by a latency fault then slows the reads it means to slow).

A Lightweight region (``--region-type Lightweight``) has no database of its own: its DSNs point over the
inter-region link at the Full region's nodes, and it keeps the pins it has read or written in memory for
``LIGHTWEIGHT_CACHE_S`` seconds, so a pin it has seen is served even while the link is down.

``--start-delay`` seconds are slept before listening: the "boot time" of a replacement instance.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosrunner.sandbox.topology import IMAGES

if TYPE_CHECKING:
    from aiohttp import web

SERVICE = "pinboard"
BOOT_NICE = 10  # niceness added while importing/booting (see boot())
QUERY_TIMEOUT_S = 3.0
POOL_SIZE = 3
PING_IDLE_S = 2.0  # a pooled connection idle longer than this is pinged before use (SQLAlchemy's pool_pre_ping)
ROUTE_CODES = {"read": ("200", "404", "500", "503"), "write": ("201", "400", "500", "503"),
               "image": ("200", "404")}
IMAGE_MAX_AGE_S = 30
LIGHTWEIGHT_CACHE_S = 120.0
LIGHTWEIGHT_CACHE_MAX = 5000
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0)
SCHEMA = "CREATE TABLE IF NOT EXISTS pins (id bigserial PRIMARY KEY, body text NOT NULL, " \
         "created_at timestamptz NOT NULL DEFAULT now())"
log = logging.getLogger("pinboard")


class DatabaseUnavailable(Exception):
    """No usable connection (or the query failed/timed out): the request answers 503."""


class ConnectionPool:
    """A few persistent async connections for one DSN; broken ones are dropped and reopened lazily, and one
    that sat idle for more than ``PING_IDLE_S`` is pinged first — a region that took no traffic through a
    failover or a partition would otherwise fail its first requests on connections that died meanwhile.

    With ``fallback_dsn``, a connection is opened on ``dsn`` when it can be and on ``fallback_dsn`` when it
    cannot; a fallback connection is used for one query and closed, so the next one tries ``dsn`` again.
    """

    def __init__(self, dsn: str, size: int = POOL_SIZE, fallback_dsn: str | None = None) -> None:
        self.dsn = dsn
        self.fallback_dsn = fallback_dsn
        self.idle: asyncio.Queue[tuple[Any, float]] = asyncio.Queue()  # (connection, idle since)
        self.slots = asyncio.Semaphore(size)

    async def _connect(self) -> tuple[Any, bool]:
        """A new connection and whether it is to be kept after its query."""
        import psycopg

        try:
            return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True), True
        except psycopg.OperationalError:
            if self.fallback_dsn is None:
                raise
        return await psycopg.AsyncConnection.connect(self.fallback_dsn, autocommit=True), False

    async def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        async with self.slots:
            conn, keep, idle_since = None, True, time.monotonic()
            if not self.idle.empty():
                conn, idle_since = self.idle.get_nowait()
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_S):
                    if conn is not None and not conn.closed and time.monotonic() - idle_since > PING_IDLE_S:
                        try:  # pre-ping: a connection idle through a failover or a partition may be dead
                            await conn.execute("SELECT 1")
                        except (psycopg.Error, OSError):
                            with contextlib.suppress(Exception):
                                await conn.close()
                            conn = None
                    if conn is None or conn.closed:
                        conn, keep = await self._connect()
                    cur = await conn.execute(sql, params)
                    rows = await cur.fetchall() if cur.description else []
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                raise DatabaseUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
            if keep:
                self.idle.put_nowait((conn, time.monotonic()))
            else:
                with contextlib.suppress(Exception):  # a fallback connection: a close that fails changes nothing
                    await asyncio.wait_for(conn.close(), 0.5)
            return rows

    async def close(self) -> None:
        while not self.idle.empty():
            conn, _ = self.idle.get_nowait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 0.5)


def db_dsn(hosts: list[tuple[str, int]], attrs: str) -> str:
    """Multi-host libpq DSN with our timeouts; ``attrs`` is libpq's ``target_session_attrs``."""
    return (
        f"host={','.join(h for h, _ in hosts)} port={','.join(str(p) for _, p in hosts)} "
        f"user=postgres dbname=postgres connect_timeout=2 target_session_attrs={attrs} "
        "options='-c statement_timeout=2000'"
    )


def build_app(args: argparse.Namespace) -> web.Application:
    from aiohttp import web
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    labels = {"service": SERVICE, "region": args.region, "zone": args.zone, "instance": args.id,
              "tier": args.tier}
    registry = CollectorRegistry()
    requests_total = Counter("http_requests_total", "HTTP requests by route and status code",
                             [*labels, "route", "code"], registry=registry)
    duration = Histogram("http_request_duration_seconds", "HTTP request duration (seconds)",
                         [*labels, "route"], buckets=LATENCY_BUCKETS, registry=registry)
    for route, codes in ROUTE_CODES.items():
        duration.labels(**labels, route=route)
        for code in codes:
            requests_total.labels(**labels, route=route, code=code)
    read_only = args.region_type.lower() == "read-only"
    lightweight = args.region_type.lower() == "lightweight"
    writer = ConnectionPool(args.write_dsn)
    # a Full (or Lightweight) region reads from the primary (the write DSN) while there is one, else any node
    reader = ConnectionPool(args.read_dsn) if read_only else ConnectionPool(args.write_dsn, fallback_dsn=args.read_dsn)
    cache: dict[int, tuple[float, str]] = {}  # Lightweight only: pin id -> (when, body)
    started = time.time()

    def remember(pin_id: int, body: str) -> None:
        if lightweight:
            if len(cache) >= LIGHTWEIGHT_CACHE_MAX:
                cache.pop(next(iter(cache)))
            cache[pin_id] = (time.monotonic(), body)

    def observe(route: str, code: int, t0: float) -> None:
        requests_total.labels(**labels, route=route, code=str(code)).inc()
        duration.labels(**labels, route=route).observe(time.perf_counter() - t0)

    async def read(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        try:
            pin_id = int(request.match_info["id"])
        except ValueError:
            observe("read", 404, t0)
            return web.json_response({"error": "no such pin"}, status=404)
        hit = cache.get(pin_id)
        if hit is not None and time.monotonic() - hit[0] < LIGHTWEIGHT_CACHE_S:
            observe("read", 200, t0)
            return web.json_response({"id": pin_id, "body": hit[1], "instance": args.id, "cached": True})
        try:
            rows = await reader.run("SELECT id, body FROM pins WHERE id = %s", (pin_id,))
        except DatabaseUnavailable as exc:
            observe("read", 503, t0)
            return web.json_response({"error": f"database unavailable: {exc}"}, status=503)
        if not rows:
            observe("read", 404, t0)
            return web.json_response({"error": "no such pin"}, status=404)
        observe("read", 200, t0)
        remember(int(rows[0][0]), str(rows[0][1]))
        return web.json_response({"id": rows[0][0], "body": rows[0][1], "instance": args.id})

    async def write(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        if read_only:
            observe("write", 503, t0)
            return web.json_response({"error": f"region {args.region} is read-only"}, status=503)
        try:
            body = await request.json()
            text = str(body["body"])
        except Exception:
            observe("write", 400, t0)
            return web.json_response({"error": "want JSON {\"body\": str}"}, status=400)
        try:
            rows = await writer.run("INSERT INTO pins (body) VALUES (%s) RETURNING id", (text,))
        except DatabaseUnavailable as exc:
            observe("write", 503, t0)
            return web.json_response({"error": f"database unavailable: {exc}"}, status=503)
        observe("write", 201, t0)
        remember(int(rows[0][0]), text)
        return web.json_response({"id": rows[0][0], "instance": args.id}, status=201)

    async def image(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        n = request.match_info["n"]
        if not n.isdigit() or int(n) >= IMAGES:
            observe("image", 404, t0)
            return web.json_response({"error": "no such image"}, status=404)
        observe("image", 200, t0)
        return web.Response(body=image_bytes(int(n)), content_type="image/png",
                            headers={"Cache-Control": f"public, max-age={IMAGE_MAX_AGE_S}", "X-Origin": args.id})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "instance": args.id, "region": args.region, "zone": args.zone,
                                  "tier": args.tier, "uptime_s": round(time.time() - started, 3)})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close_pools(_: web.Application) -> None:
        await writer.close()
        await reader.close()

    app = web.Application()
    app.on_cleanup.append(close_pools)
    app.add_routes([web.get("/pins/{id}", read), web.post("/pins", write), web.get("/images/{n}", image),
                    web.get("/healthz", healthz), web.get("/metrics", metrics)])
    return app


def image_bytes(n: int) -> bytes:
    """The image ``n``: 2 to 8 KB that depend only on ``n`` (an edge's cached copy equals the origin's)."""
    return (b"\x89PNG\r\n\x1a\n" + n.to_bytes(2, "big")) * ((2048 + 128 * n) // 10)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="pinboard demo service instance")
    p.add_argument("--id", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--region-type", default="Full")
    p.add_argument("--zone", required=True)
    p.add_argument("--tier", default="non-critical")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--write-dsn", required=True)
    p.add_argument("--read-dsn", required=True)
    p.add_argument("--start-delay", type=float, default=0.0,
                   help="seconds to wait before serving when restarted (replacement boot time)")
    p.add_argument("--no-boot-nice", action="store_true", help="boot at normal CPU priority")
    p.add_argument("--boot-marker", type=Path, default=None,
                   help="file marking the first start; --start-delay applies only when it exists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    first_start = args.boot_marker is None or not args.boot_marker.exists()
    if args.boot_marker is not None:
        args.boot_marker.parent.mkdir(parents=True, exist_ok=True)
        args.boot_marker.touch()
    if args.start_delay > 0 and not first_start:
        time.sleep(args.start_delay)
    app = boot(args, low_priority=not first_start)
    from aiohttp import web

    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, shutdown_timeout=1.0)


def boot(args: argparse.Namespace, low_priority: bool) -> web.Application:
    """Import the heavy libraries and build the app at low CPU priority, then serve at normal priority.

    Why: on one shared machine, a replacement instance's Python start-up (~1 CPU-second of imports)
    would steal CPU from the surviving instances — something a replacement booting on another host
    never does. For a replacement (``low_priority``), as root, the boot runs at nice +BOOT_NICE and the
    priority is restored before serving; without root it stays as is (a process cannot raise its own
    priority back). The first start (``sandbox up``) boots at normal priority.
    """
    lowered = False
    if low_priority and os.geteuid() == 0 and not args.no_boot_nice:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, before + BOOT_NICE)
        lowered = True
    try:
        import psycopg  # noqa: F401 - imported now, at boot priority, rather than on the first request

        return build_app(args)
    finally:
        if lowered:
            os.setpriority(os.PRIO_PROCESS, 0, before)


if __name__ == "__main__":
    main()
