"""A fake Kubernetes API server that answers the requests the ``kubernetes`` client really sends, and records them.

There is no kube-apiserver on this machine (nothing in Debian or PyPI ships one), so the Kubernetes
experiments run against this stand-in — the only fake in the project. It is *faithful to the wire*:

* the paths, query parameters and bodies the ``kubernetes`` client (as chaosk8s and our drivers use it)
  produces: pod and node lists and reads, pod DELETE (``V1DeleteOptions`` body or query), node PATCH,
  the ``eviction`` subresource (``policy/v1``), ``apps/v1`` Deployments (their annotations too) and their
  ``scale`` subresource, ``policy/v1`` PodDisruptionBudgets, the ``exec`` websocket, and Services,
  EndpointSlices and Ingresses (JSON and merge patches) for steered fronts (:mod:`.kube_network`);
* selectors parsed with the apimachinery grammar (:mod:`.kube_selectors`); a malformed label selector or an
  unsupported field selector is a 400; every error, unknown routes included, is a JSON ``v1.Status``;
* exec negotiates ``v5.channel.k8s.io`` when the client offers it (1.29+ servers do; ``exec_protocols``
  makes it a v4-only server), refuses the handshake with 404 for a missing pod and 400 for an unknown
  container or a pod not Running, waits ``delay_s``, then sends stdout (channel 1), stderr (2) and the
  status (3): ``Success``, or ``NonZeroExitCode`` with the exit code as the real kubelet reports it;
* the cluster's reaction in time (graceful deletion, Pending replacements, StatefulSets, rollouts,
  disruption budgets, primary election) is :mod:`.kube_control`.

Every request is appended to :attr:`FakeKube.requests`. Runs in a thread with its own event loop, bound
to 127.0.0.1 on a free port; ``stop()`` always.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from chaosrunner.core.ports import LOOPBACK, free_port
from tests.cloud.kube_control import REGION_LABEL, ZONE_LABEL, Cluster
from tests.cloud.kube_network import NetworkApi
from tests.cloud.kube_objects import FakeDeployment, FakeNode, FakePDB, FakePod, PodSet, status
from tests.cloud.kube_selectors import (
    GENERIC_FIELDS,
    NODE_FIELDS,
    POD_FIELDS,
    SelectorError,
    fields_match,
    matches_selector,
    parse_field_selector,
)

__all__ = ["FakeKube", "FakePod", "FakeNode", "FakeDeployment", "FakePDB", "PodSet", "ExecResult", "Recorded",
           "matches_selector", "ZONE_LABEL", "REGION_LABEL"]  # fmt: skip
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
REC: web.RequestKey[Any] = web.RequestKey("recorded", object)
V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"


@dataclass
class Recorded:
    """One request as the server saw it. ``query`` keeps repeated keys (exec ``command``) as lists."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None
    status: int = 0
    protocol: str = ""  # the websocket subprotocol negotiated (exec)
    headers: dict[str, str] = field(default_factory=dict)

    def q(self, key: str) -> str | None:
        vals = self.query.get(key)
        return vals[0] if vals else None


@dataclass
class ExecResult:
    """What a command run through exec produces."""

    exit_code: int = 0
    stdout: str = "ok\n"
    stderr: str = ""
    delay_s: float = 0.0


class FakeKube(NetworkApi, Cluster):
    """The fake API server plus its cluster state (:class:`Cluster`) and the request log."""

    def __init__(self, **timings: Any) -> None:
        super().__init__(**timings)
        self.port = free_port()
        self.requests: list[Recorded] = []
        self.exec_result = ExecResult()
        self.exec_results: dict[str, ExecResult] = {}  # per pod name
        self.exec_by_command: dict[str, ExecResult] = {}  # per substring of the command (before per pod)
        self.exec_protocols: tuple[str, ...] = (V5, V4)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def requests_for(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in list(self.requests) if r.method == method and r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        self.requests.clear()

    def reset(self) -> None:
        """Forget every object and recorded request (between benchmark trials)."""
        with self.lock:
            for table in (self.nodes, self.pods, self.podsets, self.deployments, self.pdbs, self.services,
                          self.ingresses):  # fmt: skip
                table.clear()  # type: ignore[attr-defined]
        self.requests.clear()

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeKube:
        self._thread = threading.Thread(target=self._serve, name="fake-kube", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("fake kube API server did not start within 10 s")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._ticker is not None:
            loop.call_soon_threadsafe(self._ticker.cancel)
        if self._runner is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(5)
            except Exception:  # noqa: BLE001 - best effort on teardown
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application(middlewares=[self._record])
        pod = "/api/v1/namespaces/{ns}/pods/{name}"
        deploy = "/apis/apps/v1/namespaces/{ns}/deployments"
        for method, path, handler in (
            ("GET", "/api/v1/namespaces/{ns}/pods", self._list_pods),
            ("GET", "/api/v1/pods", self._list_pods),
            ("GET", pod + "/exec", self._exec),
            ("POST", pod + "/exec", self._exec),
            ("POST", pod + "/eviction", self._evict),
            ("GET", pod, self._get_pod),
            ("DELETE", pod, self._delete_pod),
            ("GET", "/api/v1/nodes", self._list_nodes),
            ("GET", "/api/v1/nodes/{name}", self._get_node),
            ("PATCH", "/api/v1/nodes/{name}", self._patch_node),
            ("GET", deploy, self._list_deployments),
            ("GET", deploy + "/{name}", self._deployment),
            ("PATCH", deploy + "/{name}", self._deployment),
            ("GET", deploy + "/{name}/scale", self._scale),
            ("PATCH", deploy + "/{name}/scale", self._scale),
            ("GET", "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", self._list_pdbs),
            *self.network_routes(),
        ):
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.TCPSite(self._runner, LOOPBACK, self.port).start())
        self._ticker = loop.create_task(self._tick())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _tick(self) -> None:
        while True:
            self.reconcile()
            await asyncio.sleep(0.01)

    # ---- plumbing ----------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(request.query_string, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        rec = Recorded(request.method, request.path, query, body,
                       headers={"content-type": request.headers.get("Content-Type", "")})  # fmt: skip
        self.requests.append(rec)
        request[BODY], request[REC] = body, rec
        self.reconcile()
        try:
            resp = await handler(request)
        except web.HTTPNotFound:
            resp = _json(404, status(404, "NotFound", "the server could not find the requested resource", {}))
        except web.HTTPMethodNotAllowed:
            resp = _json(405, status(405, "MethodNotAllowed", "the server does not allow this method on the "
                                                               "requested resource", {}))  # fmt: skip
        if not isinstance(resp, web.WebSocketResponse):
            rec.status = resp.status
        return resp

    def _selected(self, request: web.Request, objs: list[Any], fields: frozenset[str]) -> list[Any]:
        fsel = parse_field_selector(request.query.get("fieldSelector"), fields)
        lsel = request.query.get("labelSelector")
        return [o for o in objs if matches_selector(o.labels, lsel) and fields_match(o.fields(), fsel)]

    @staticmethod
    def _list(kind: str, items: list[dict[str, Any]], api: str = "v1") -> web.Response:
        return web.json_response({"apiVersion": api, "kind": kind, "metadata": {"resourceVersion": "1"},
                                  "items": items})  # fmt: skip

    # ---- pods --------------------------------------------------------------------------------
    async def _list_pods(self, request: web.Request) -> web.Response:
        ns = request.match_info.get("ns")
        with self.lock:
            pods = [p for (n, _), p in sorted(self.pods.items()) if ns is None or n == ns]
            try:
                return self._list("PodList", [p.to_json() for p in self._selected(request, pods, POD_FIELDS)])
            except SelectorError as e:
                return _json(400, status(400, "BadRequest", str(e)))

    def _pod_or_404(self, request: web.Request) -> FakePod | web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.pods.get((ns, name))
        if pod is None:
            return _json(404, status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}))
        return pod

    async def _get_pod(self, request: web.Request) -> web.Response:
        with self.lock:
            pod = self._pod_or_404(request)
            return pod if isinstance(pod, web.Response) else web.json_response(pod.to_json())

    async def _delete_pod(self, request: web.Request) -> web.Response:
        body = request[BODY] if isinstance(request[BODY], dict) else {}
        grace = body.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
        with self.lock:
            found = self._pod_or_404(request)
            if isinstance(found, web.Response):
                return found
            pod = self.delete_pod(found.namespace, found.name, None if grace is None else int(grace))
            return web.json_response(pod.to_json() if pod else {})

    async def _evict(self, request: web.Request) -> web.Response:
        code, body = self.evict(request.match_info["ns"], request.match_info["name"])
        return _json(code, body)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        """The exec subresource: refusals before the upgrade, then the channel protocol (v5 or v4)."""
        container = request.query.get("container", "")
        with self.lock:
            found = self._pod_or_404(request)
            if isinstance(found, web.Response):
                return found
            if container not in found.containers:
                msg = f"container {container} is not valid for pod {found.name}"
                return _json(400, status(400, "BadRequest", msg))
            if found.phase != "Running":
                msg = f'unable to upgrade connection: container not found ("{container}")'
                return _json(400, status(400, "BadRequest", msg))
            joined = " ".join(request.query.getall("command", []))
            by_cmd = [r for part, r in self.exec_by_command.items() if part in joined]
            result = by_cmd[0] if by_cmd else self.exec_results.get(found.name, self.exec_result)
        ws = web.WebSocketResponse(protocols=self.exec_protocols)
        await ws.prepare(request)
        request[REC].status, request[REC].protocol = 101, ws.ws_protocol or ""
        await asyncio.sleep(result.delay_s)
        if result.stdout:
            await ws.send_bytes(b"\x01" + result.stdout.encode())
        if result.stderr:
            await ws.send_bytes(b"\x02" + result.stderr.encode())
        if result.exit_code == 0:
            outcome: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            cmd = " ".join(request.query.getall("command", []))
            outcome = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: error executing command [{cmd}], "
                f"exit code {result.exit_code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(result.exit_code)}]},
            }
        await ws.send_bytes(b"\x03" + json.dumps(outcome).encode())
        await ws.close()
        async for frame in ws:  # drain until the client closes
            if frame.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws

    # ---- nodes -------------------------------------------------------------------------------
    async def _list_nodes(self, request: web.Request) -> web.Response:
        with self.lock:
            nodes = sorted(self.nodes.values(), key=lambda n: n.name)
            try:
                return self._list("NodeList", [n.to_json() for n in self._selected(request, nodes, NODE_FIELDS)])
            except SelectorError as e:
                return _json(400, status(400, "BadRequest", str(e)))

    async def _get_node(self, request: web.Request) -> web.Response:
        return await self._patch_node(request, read_only=True)

    async def _patch_node(self, request: web.Request, read_only: bool = False) -> web.Response:
        name = request.match_info["name"]
        with self.lock:
            node = self.nodes.get(name)
            if node is None:
                return _json(404, status(404, "NotFound", f'nodes "{name}" not found', {"name": name, "kind": "nodes"}))
            body = request[BODY] if isinstance(request[BODY], dict) else {}
            spec = body.get("spec") or {}
            if not read_only and "unschedulable" in spec:
                node.unschedulable = bool(spec["unschedulable"])
            return web.json_response(node.to_json())

    # ---- apps/v1 deployments, policy/v1 budgets -----------------------------------------------
    async def _list_deployments(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        with self.lock:
            ds = [d for (n, _), d in sorted(self.deployments.items()) if n == ns]
            try:
                parse_field_selector(request.query.get("fieldSelector"), GENERIC_FIELDS)
            except SelectorError as e:
                return _json(400, status(400, "BadRequest", str(e)))
            items = [d.to_json(*self.deployment_counts(d)) for d in ds
                     if matches_selector(d.labels, request.query.get("labelSelector"))]  # fmt: skip
            return self._list("DeploymentList", items, "apps/v1")

    def _patch_deployment(self, request: web.Request) -> FakeDeployment | web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        d = self.deployments.get((ns, name))
        if d is None:
            msg = f'deployments.apps "{name}" not found'
            return _json(404, status(404, "NotFound", msg, {"name": name, "group": "apps", "kind": "deployments"}))
        if request.method == "PATCH":
            body = request[BODY]
            if not isinstance(body, dict):
                return _json(415, status(415, "UnsupportedMediaType", "only merge patches are understood here"))
            spec = body.get("spec") or {}
            template = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
            before = (d.replicas, dict(d.annotations), dict(d.meta_annotations))
            if "replicas" in spec:
                d.replicas = int(spec["replicas"])
                d.generation += 1
            if template:
                d.annotations.update({str(k): str(v) for k, v in template.items()})
                d.generation += 1
            for k, v in ((body.get("metadata") or {}).get("annotations") or {}).items():
                if v is None:  # a merge patch's null deletes the key
                    d.meta_annotations.pop(str(k), None)
                else:
                    d.meta_annotations[str(k)] = str(v)
            if (d.replicas, d.annotations, d.meta_annotations) != before:
                d.resource_version += 1
        return d

    async def _deployment(self, request: web.Request) -> web.Response:
        with self.lock:
            d = self._patch_deployment(request)
            return d if isinstance(d, web.Response) else web.json_response(d.to_json(*self.deployment_counts(d)))

    async def _scale(self, request: web.Request) -> web.Response:
        with self.lock:
            d = self._patch_deployment(request)
            return d if isinstance(d, web.Response) else web.json_response(d.scale_json(self.deployment_counts(d)[2]))

    async def _list_pdbs(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        with self.lock:
            items = [b.to_json(*self.pdb_counts(b)) for (n, _), b in sorted(self.pdbs.items()) if n == ns]
            return self._list("PodDisruptionBudgetList", items, "policy/v1")


def _json(code: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=code)
