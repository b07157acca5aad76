"""The control plane: the Toxiproxy HTTP API (aiohttp) over the proxies of :mod:`.tcp`.

Status codes as Toxiproxy 2.x answers them (and as toxiproxy-python / chaostoolkit-toxiproxy expect):
``POST /proxies`` → 201 (409 duplicate, 400 bad body, 500 cannot listen); ``GET|POST|DELETE
/proxies/{p}`` → 200/200/204 (404 unknown); ``GET|POST /proxies/{p}/toxics`` → 200 (409 duplicate toxic,
400 bad type/attribute); ``GET|POST|DELETE /proxies/{p}/toxics/{t}`` → 200/200/204; ``POST /reset`` →
204; ``POST /populate`` → 201; ``GET /version`` → ``{"version": "2.12.0"}``. Errors are
``{"error": msg, "status": code}``.

Self-expiry: every ``EXPIRY_SWEEP_S`` the server removes toxics whose ``expires_at`` has passed.

Run: ``python -m chaosrunner.sandbox.faultproxy --port 8474 [--host 127.0.0.1] [--proxies FILE]``.
``--proxies`` is a JSON list of proxy bodies created at start-up (so a restarted proxy process comes
back with its proxies — without toxics, which is the safe side).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from chaosrunner.sandbox.faultproxy.model import (
    ApiError,
    Proxy,
    expired,
    parse_new_proxy,
    parse_proxy_update,
    parse_toxic,
)
from chaosrunner.sandbox.faultproxy.tcp import Listener

VERSION = "2.12.0"
EXPIRY_SWEEP_S = 0.1
log = logging.getLogger("chaosrunner.faultproxy")


class FaultProxy:
    """All proxies of one server, their listeners, and the operations of the API."""

    def __init__(self, seed: int | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.listeners: dict[str, Listener] = {}
        self.rng = random.Random(seed)

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    async def _listen(self, proxy: Proxy) -> None:
        listener = Listener(proxy, self.rng, on_error=log.warning)
        try:
            proxy.listen = await listener.start()
        except OSError as exc:
            raise ApiError(500, f"listen {proxy.listen}: {exc.strerror or exc}") from exc
        self.listeners[proxy.name] = listener

    async def _unlisten(self, proxy: Proxy) -> None:
        listener = self.listeners.pop(proxy.name, None)
        if listener:
            await listener.stop()

    async def create(self, data: Any) -> Proxy:
        proxy = parse_new_proxy(data)
        if proxy.name in self.proxies:
            raise ApiError(409, "proxy already exists")
        if proxy.enabled:
            await self._listen(proxy)
        self.proxies[proxy.name] = proxy
        log.info("created proxy %s %s -> %s", proxy.name, proxy.listen, proxy.upstream)
        return proxy

    async def update(self, name: str, data: Any) -> Proxy:
        proxy = self.get(name)
        update = parse_proxy_update(data)
        relisten = ("listen" in update and update["listen"] != proxy.listen) or (
            "enabled" in update and update["enabled"] != proxy.enabled
        )
        if "upstream" in update and update["upstream"] != proxy.upstream:
            relisten = True
        if relisten:
            await self._unlisten(proxy)
        proxy.listen = update.get("listen", proxy.listen)
        proxy.upstream = update.get("upstream", proxy.upstream)
        proxy.enabled = update.get("enabled", proxy.enabled)
        if relisten and proxy.enabled:
            await self._listen(proxy)
        log.info("updated proxy %s: %s", name, update)
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await self._unlisten(proxy)
        del self.proxies[name]
        log.info("deleted proxy %s", name)

    def add_toxic(self, name: str, data: Any) -> dict[str, Any]:
        proxy = self.get(name)
        toxic = parse_toxic(data, time.time())
        if any(t.name == toxic.name for t in proxy.toxics):
            raise ApiError(409, "toxic already exists")
        proxy.toxics.append(toxic)
        self._wake(name)
        log.info("added toxic %s to %s: %s", toxic.name, name, toxic.to_json())
        return toxic.to_json()

    def update_toxic(self, name: str, toxic_name: str, data: Any) -> dict[str, Any]:
        proxy = self.get(name)
        old = proxy.toxic(toxic_name)
        new = parse_toxic({**(data if isinstance(data, dict) else {}), "name": toxic_name}, time.time(), old)
        proxy.toxics[proxy.toxics.index(old)] = new
        self._wake(name)
        return new.to_json()

    def _wake(self, name: str) -> None:
        listener = self.listeners.get(name)
        if listener is not None:
            listener.wake.set()

    def remove_toxic(self, name: str, toxic_name: str) -> None:
        proxy = self.get(name)
        proxy.toxics.remove(proxy.toxic(toxic_name))
        log.info("removed toxic %s from %s", toxic_name, name)

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            if not proxy.enabled:
                proxy.enabled = True
                await self._listen(proxy)
        log.info("reset: all proxies enabled, all toxics removed")

    def sweep_expired(self, now: float) -> int:
        removed = 0
        for proxy in self.proxies.values():
            for toxic in expired(proxy.toxics, now):
                proxy.toxics.remove(toxic)
                removed += 1
                log.info("toxic %s on %s expired", toxic.name, proxy.name)
        return removed

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            await self._unlisten(proxy)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"bad request body: {exc}") from exc


def build_app(fp: FaultProxy) -> web.Application:
    """The aiohttp application serving the Toxiproxy API for ``fp``."""

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _json(exc.body(), exc.status)

    async def version(_: web.Request) -> web.Response:
        return _json({"version": VERSION})

    async def list_proxies(_: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in fp.proxies.items()})

    async def create_proxy(request: web.Request) -> web.Response:
        return _json((await fp.create(await _body(request))).to_json(), 201)

    async def populate(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, list):
            raise ApiError(400, "populate wants a JSON list of proxies")
        out = []
        for item in body:
            name = item.get("name") if isinstance(item, dict) else None
            if name in fp.proxies:
                await fp.delete(name)
            out.append((await fp.create(item)).to_json())
        return _json({"proxies": out}, 201)

    async def get_proxy(request: web.Request) -> web.Response:
        return _json(fp.get(request.match_info["proxy"]).to_json())

    async def update_proxy(request: web.Request) -> web.Response:
        return _json((await fp.update(request.match_info["proxy"], await _body(request))).to_json())

    async def delete_proxy(request: web.Request) -> web.Response:
        await fp.delete(request.match_info["proxy"])
        return web.Response(status=204)

    async def list_toxics(request: web.Request) -> web.Response:
        return _json([t.to_json() for t in fp.get(request.match_info["proxy"]).toxics])

    async def create_toxic(request: web.Request) -> web.Response:
        return _json(fp.add_toxic(request.match_info["proxy"], await _body(request)))

    async def get_toxic(request: web.Request) -> web.Response:
        proxy = fp.get(request.match_info["proxy"])
        return _json(proxy.toxic(request.match_info["toxic"]).to_json())

    async def update_toxic(request: web.Request) -> web.Response:
        m = request.match_info
        return _json(fp.update_toxic(m["proxy"], m["toxic"], await _body(request)))

    async def delete_toxic(request: web.Request) -> web.Response:
        fp.remove_toxic(request.match_info["proxy"], request.match_info["toxic"])
        return web.Response(status=204)

    async def reset(_: web.Request) -> web.Response:
        await fp.reset()
        return web.Response(status=204)

    async def sweeper(app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                await asyncio.sleep(EXPIRY_SWEEP_S)
                fp.sweep_expired(time.time())

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        await fp.close()

    app = web.Application(middlewares=[errors])
    app.cleanup_ctx.append(sweeper)
    app.add_routes([
        web.get("/version", version),
        web.get("/proxies", list_proxies),
        web.post("/proxies", create_proxy),
        web.post("/populate", populate),
        web.get("/proxies/{proxy}", get_proxy),
        web.post("/proxies/{proxy}", update_proxy),
        web.patch("/proxies/{proxy}", update_proxy),
        web.delete("/proxies/{proxy}", delete_proxy),
        web.get("/proxies/{proxy}/toxics", list_toxics),
        web.post("/proxies/{proxy}/toxics", create_toxic),
        web.get("/proxies/{proxy}/toxics/{toxic}", get_toxic),
        web.post("/proxies/{proxy}/toxics/{toxic}", update_toxic),
        web.patch("/proxies/{proxy}/toxics/{toxic}", update_toxic),
        web.delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic),
        web.post("/reset", reset),
    ])
    return app


async def serve(host: str, port: int, proxies_file: Path | None) -> None:
    """Run the API on host:port until SIGTERM/SIGINT; create the proxies listed in ``proxies_file``."""
    fp = FaultProxy()
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
    parser.add_argument("--proxies", type=Path, default=None, help="JSON list of proxies to create at start")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.proxies))


if __name__ == "__main__":
    main()
