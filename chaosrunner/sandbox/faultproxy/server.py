"""The control plane: the Toxiproxy 2.12 HTTP API (aiohttp) over the live proxies of :mod:`.listener`.

Answers as ``toxiproxy-server`` does, byte for byte where clients can tell: status codes (create proxy 201, 409
duplicate, 400 bad body or missing field, 500 cannot listen; update 200; delete 204; unknown 404; create/update toxic
200, 409 duplicate, 400 bad type/stream/attribute; delete toxic 204; reset 204; populate 201), error bodies
``{"error":msg,"status":code}`` as ``text/plain`` with a trailing newline, ``X-Toxiproxy-Request-Id`` on every
routed response, ``/version`` → ``{"version": "2.12.0"}`` + newline, ``/metrics`` in Prometheus text, 403 for
browser user agents (``Mozilla/…``: a CSRF guard), 404 ``404 page not found`` / 405 for unknown routes.

``POST /populate`` is all or nothing: the whole list is validated, then applied; if a proxy cannot listen, every
change of the call is undone. A proxy whose listen and upstream are unchanged is kept as it is, with its toxics.

Self-expiry: every ``EXPIRY_SWEEP_S`` the server removes toxics whose ``expires_at`` has passed.

Run: ``python -m chaosrunner.sandbox.faultproxy --port 8474 [--host 127.0.0.1] [--proxies FILE] [--seed N]``.
``--proxies`` (alias ``--config``, as toxiproxy-server's ``-config``) is a JSON list of proxies created at start-up,
so a restarted proxy process comes back with its proxies — without toxics, which is the safe side.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from chaosrunner.sandbox.faultproxy.listener import LiveProxy
from chaosrunner.sandbox.faultproxy.metrics import CONTENT_TYPE, ProxyMetrics
from chaosrunner.sandbox.faultproxy.model import (
    ApiError,
    Proxy,
    decode_body,
    expired,
    parse_new_proxy,
    parse_new_toxic,
    parse_populate,
    parse_proxy_update,
    parse_toxic_update,
)

VERSION = "2.12.0"
EXPIRY_SWEEP_S = 0.1
REQUEST_ID = "X-Toxiproxy-Request-Id"
log = logging.getLogger("chaosrunner.faultproxy")


class FaultProxy:
    """All proxies of one server (``proxies``: the configuration; ``live``: listeners of the enabled ones).

    Changes are serialised by ``lock`` (taken by every mutating API call and the expiry sweep), as Toxiproxy's
    collection locks do: a populate or a toxic removal that waits on open connections is never interleaved.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.lock = asyncio.Lock()
        self.proxies: dict[str, Proxy] = {}
        self.live: dict[str, LiveProxy] = {}
        self.rng = random.Random(seed)
        self.metrics = ProxyMetrics()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    async def _start(self, proxy: Proxy) -> None:
        live = LiveProxy(proxy, self.rng, self.metrics)
        await live.start()
        self.live[proxy.name] = live

    async def _stop(self, proxy: Proxy) -> None:
        live = self.live.pop(proxy.name, None)
        if live is not None:
            await live.stop()

    async def create(self, data: Any) -> Proxy:
        proxy = parse_new_proxy(data)
        if proxy.name in self.proxies:
            raise ApiError(409, "proxy already exists")
        if proxy.enabled:
            await self._start(proxy)
        self.proxies[proxy.name] = proxy
        log.info("created proxy %s %s -> %s", proxy.name, proxy.listen, proxy.upstream)
        return proxy

    async def update(self, name: str, data: Any) -> Proxy:
        proxy = self.get(name)
        update = parse_proxy_update(data)
        enabled = update.get("enabled", proxy.enabled)
        listen, upstream = update.get("listen", proxy.listen), update.get("upstream", proxy.upstream)
        if (listen, upstream) != (proxy.listen, proxy.upstream):
            await self._stop(proxy)
            proxy.enabled = False
            proxy.listen, proxy.upstream = listen, upstream
        if enabled and not proxy.enabled:
            await self._start(proxy)
        elif not enabled and proxy.enabled:
            await self._stop(proxy)
        proxy.enabled = enabled
        log.info("updated proxy %s: %s", name, update)
        return proxy

    async def delete(self, name: str) -> None:
        await self._stop(self.get(name))
        del self.proxies[name]
        log.info("deleted proxy %s", name)

    def add_toxic(self, name: str, data: Any) -> dict[str, Any]:
        proxy = self.get(name)
        toxic = parse_new_toxic(data, time.time(), {t.name for t in proxy.toxics})
        proxy.toxics.append(toxic)
        if name in self.live:
            self.live[name].add_toxic(toxic)
        log.info("added toxic %s to %s: %s", toxic.name, name, toxic.to_json())
        return toxic.to_json()

    def update_toxic(self, name: str, toxic_name: str, data: Any) -> dict[str, Any]:
        proxy = self.get(name)
        old = proxy.toxic(toxic_name)
        new = parse_toxic_update(old, data, time.time())
        proxy.toxics[proxy.toxics.index(old)] = new
        if name in self.live:
            self.live[name].update_toxic(new)
        log.info("updated toxic %s on %s: %s", toxic_name, name, new.to_json())
        return new.to_json()

    async def remove_toxic(self, name: str, toxic_name: str) -> None:
        proxy = self.get(name)
        toxic = proxy.toxic(toxic_name)
        proxy.toxics.remove(toxic)
        if name in self.live:
            await self.live[name].remove_toxic(toxic)
        log.info("removed toxic %s from %s", toxic_name, name)

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (from open connections too)."""
        for proxy in list(self.proxies.values()):
            if not proxy.enabled:
                await self._start(proxy)
                proxy.enabled = True
            for toxic in proxy.listed_toxics():
                await self.remove_toxic(proxy.name, toxic.name)
        log.info("reset: all proxies enabled, all toxics removed")

    async def populate(self, data: Any) -> list[Proxy]:
        """Create or replace the listed proxies, all or nothing (see the module docstring)."""
        wanted = parse_populate(data)
        result: list[Proxy] = []
        undo: list[Callable[[], Awaitable[None]]] = []
        try:
            for proxy in wanted:
                old = self.proxies.get(proxy.name)
                if old is not None and (old.listen, old.upstream) == (proxy.listen, proxy.upstream):
                    result.append(old)
                    continue
                if old is not None:
                    await self._stop(old)
                    del self.proxies[old.name]
                    undo.append(functools.partial(self._restore, old))
                if proxy.enabled:
                    await self._start(proxy)
                self.proxies[proxy.name] = proxy
                undo.append(functools.partial(self._discard, proxy))
                result.append(proxy)
        except ApiError:
            for step in reversed(undo):
                await step()
            raise
        log.info("populated %d proxies", len(result))
        return result

    async def _discard(self, proxy: Proxy) -> None:
        await self._stop(proxy)
        self.proxies.pop(proxy.name, None)

    async def _restore(self, proxy: Proxy) -> None:
        self.proxies[proxy.name] = proxy
        if proxy.enabled:
            await self._start(proxy)

    async def sweep_expired(self, now: float) -> int:
        gone = [(p.name, t.name) for p in self.proxies.values() for t in expired(p.toxics, now)]
        for proxy_name, toxic_name in gone:
            log.info("toxic %s on %s expired", toxic_name, proxy_name)
            await self.remove_toxic(proxy_name, toxic_name)
        return len(gone)

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            await self._stop(proxy)


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def _plain(text: str, status: int) -> web.Response:
    return web.Response(body=text.encode(), status=status, headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})


def _request_id() -> str:
    """A 20-character id in the alphabet of the xid ids Toxiproxy uses (base32hex, lower case)."""
    return base64.b32hexencode(os.urandom(12)).decode().lower().rstrip("=")


async def _body(request: web.Request) -> Any:
    return decode_body(await request.text())


def build_app(fp: FaultProxy) -> web.Application:
    """The aiohttp application serving the Toxiproxy API for ``fp``."""

    @web.middleware
    async def toxiproxy_manners(request: web.Request, handler: Any) -> web.StreamResponse:
        missing = request.match_info.http_exception
        if isinstance(missing, web.HTTPMethodNotAllowed):
            return web.Response(status=405)
        if missing is not None:
            return _plain("404 page not found\n", 404)
        request_id = _request_id()
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            response: web.StreamResponse = _plain("User agent not allowed\n", 403)
        else:
            try:
                if request.method == "GET":
                    response = await handler(request)
                else:
                    async with fp.lock:
                        response = await handler(request)
            except ApiError as exc:
                response = _plain(json.dumps(exc.body(), separators=(",", ":")) + "\n", exc.status)
        response.headers[REQUEST_ID] = request_id
        return response

    async def version(_: web.Request) -> web.Response:
        body = json.dumps({"version": VERSION}) + "\n"
        return web.Response(body=body.encode(), headers={"Content-Type": "application/json;charset=utf-8"})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=fp.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def list_proxies(_: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in fp.proxies.items()})

    async def create_proxy(request: web.Request) -> web.Response:
        return _json((await fp.create(await _body(request))).to_json(), 201)

    async def populate(request: web.Request) -> web.Response:
        try:
            proxies = await fp.populate(await _body(request))
        except ApiError as exc:  # Toxiproxy answers populate errors as JSON, with the proxies it created
            return _json({**exc.body(), "proxies": None}, exc.status)
        return _json({"proxies": [p.to_json() for p in proxies] or None}, 201)

    async def get_proxy(request: web.Request) -> web.Response:
        return _json(fp.get(request.match_info["proxy"]).to_json())

    async def update_proxy(request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        fp.get(name)
        return _json((await fp.update(name, await _body(request))).to_json())

    async def delete_proxy(request: web.Request) -> web.Response:
        await fp.delete(request.match_info["proxy"])
        return web.Response(status=204)

    async def list_toxics(request: web.Request) -> web.Response:
        return _json([t.to_json() for t in fp.get(request.match_info["proxy"]).listed_toxics()])

    async def create_toxic(request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        fp.get(name)
        return _json(fp.add_toxic(name, await _body(request)))

    async def get_toxic(request: web.Request) -> web.Response:
        proxy = fp.get(request.match_info["proxy"])
        return _json(proxy.toxic(request.match_info["toxic"]).to_json())

    async def update_toxic(request: web.Request) -> web.Response:
        m = request.match_info
        fp.get(m["proxy"]).toxic(m["toxic"])
        return _json(fp.update_toxic(m["proxy"], m["toxic"], await _body(request)))

    async def delete_toxic(request: web.Request) -> web.Response:
        await fp.remove_toxic(request.match_info["proxy"], request.match_info["toxic"])
        return web.Response(status=204)

    async def reset(_: web.Request) -> web.Response:
        await fp.reset()
        return web.Response(status=204)

    async def sweeper(app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                await asyncio.sleep(EXPIRY_SWEEP_S)
                try:
                    async with fp.lock:
                        await fp.sweep_expired(time.time())
                except Exception:  # the backstop must keep sweeping whatever one removal did
                    log.exception("expiry sweep failed")

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        await fp.close()

    app = web.Application(middlewares=[toxiproxy_manners])
    app.cleanup_ctx.append(sweeper)
    app.add_routes([
        web.post("/reset", reset),
        web.get("/proxies", list_proxies, allow_head=False),
        web.post("/proxies", create_proxy),
        web.post("/populate", populate),
        web.get("/proxies/{proxy}", get_proxy, allow_head=False),
        web.post("/proxies/{proxy}", update_proxy),
        web.patch("/proxies/{proxy}", update_proxy),
        web.delete("/proxies/{proxy}", delete_proxy),
        web.get("/proxies/{proxy}/toxics", list_toxics, allow_head=False),
        web.post("/proxies/{proxy}/toxics", create_toxic),
        web.get("/proxies/{proxy}/toxics/{toxic}", get_toxic, allow_head=False),
        web.post("/proxies/{proxy}/toxics/{toxic}", update_toxic),
        web.patch("/proxies/{proxy}/toxics/{toxic}", update_toxic),
        web.delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic),
        web.get("/version", version, allow_head=False),
        web.get("/metrics", metrics, allow_head=False),
    ])
    return app


async def serve(host: str, port: int, proxies_file: Path | None, seed: int | None = None) -> None:
    """Run the API on host:port until SIGTERM/SIGINT; create the proxies listed in ``proxies_file``."""
    fp = FaultProxy(seed)
    app = build_app(fp)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    if proxies_file is not None:
        for item in json.loads(proxies_file.read_text()):
            try:
                await fp.create(item)
            except ApiError as exc:
                log.error("cannot create proxy %s: %s", item.get("name"), exc.message)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    log.info("fault proxy API on http://%s:%s", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Toxiproxy-compatible fault proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8474)
    parser.add_argument("--proxies", "--config", type=Path, default=None,
                        help="JSON list of proxies to create at start")
    parser.add_argument("--seed", type=int, default=None, help="seed for toxicity, jitter and slicer draws")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.proxies, args.seed))


if __name__ == "__main__":
    main()
