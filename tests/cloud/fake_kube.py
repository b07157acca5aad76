"""A fake Kubernetes API server that answers the requests chaosk8s really sends, and records them.

There is no kube-apiserver on this machine (nothing in Debian or PyPI ships one), so the Kubernetes
experiments run against this stand-in. It is *faithful to the wire*, not to Kubernetes' internals:

* the same paths, query parameters and bodies the ``kubernetes`` Python client produces
  (``GET /api/v1/namespaces/NS/pods?labelSelector=...``, ``DELETE /api/v1/namespaces/NS/pods/NAME``,
  ``GET /api/v1/nodes?labelSelector=...``, ``PATCH /api/v1/nodes/NAME``, and the exec websocket
  ``/api/v1/namespaces/NS/pods/NAME/exec?command=...&container=...`` speaking ``v4.channel.k8s.io``);
* label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and the
  ``metadata.name`` / ``spec.nodeName`` field selectors are evaluated like the real server does;
* two tiny controllers stand in for what a cluster does after a fault: a *ReplicaSet* that replaces a
  deleted pod (on a schedulable node, after ``replace_delay_s``) and a *primary election* that moves
  the ``role=primary`` label to a surviving replica (after ``failover_delay_s``).

Every request is appended to :attr:`FakeKube.requests` as a :class:`Recorded` so tests assert the
exact selectors, deletions and exec commands. Runs in a thread with its own event loop; bind
127.0.0.1 on a free port; ``stop()`` always.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from chaosrunner.core.ports import LOOPBACK, free_port

ZONE_LABEL = "topology.kubernetes.io/zone"
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
REGION_LABEL = "topology.kubernetes.io/region"


@dataclass
class Recorded:
    """One request as the server saw it. ``query`` keeps repeated keys (exec ``command``) as lists."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None
    status: int = 0

    def q(self, key: str) -> str | None:
        vals = self.query.get(key)
        return vals[0] if vals else None


@dataclass
class FakePod:
    name: str
    namespace: str
    labels: dict[str, str]
    node: str
    containers: list[str]
    owner: str | None = None  # "replicaset" name; a deleted owned pod is replaced
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        ts = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "uid": f"uid-{self.namespace}-{self.name}",
            "creationTimestamp": ts,
            "resourceVersion": "1",
        }
        if self.owner:
            meta["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": self.owner,
                    "uid": f"uid-rs-{self.owner}",
                    "controller": True,
                }
            ]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"nodeName": self.node, "containers": [{"name": c, "image": f"{c}:1"} for c in self.containers]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {
                        "name": c,
                        "ready": True,
                        "restartCount": 0,
                        "image": f"{c}:1",
                        "imageID": "",
                        "state": {"running": {"startedAt": ts}},
                    }
                    for c in self.containers
                ],
            },
        }


@dataclass
class FakeNode:
    name: str
    labels: dict[str, str]
    unschedulable: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": dict(self.labels),
                "uid": f"uid-node-{self.name}",
                "resourceVersion": "1",
            },
            "spec": {"unschedulable": self.unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }


_REQ = re.compile(r"^\s*(?P<key>[A-Za-z0-9./_-]+)\s*(?P<op>==|=|!=)\s*(?P<val>[A-Za-z0-9._-]*)\s*$")
_SET = re.compile(r"^\s*(?P<key>[A-Za-z0-9./_-]+)\s+(?P<op>in|notin)\s+\((?P<vals>[^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b=c`` → two requirements)."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def matches_selector(labels: dict[str, str], selector: str | None) -> bool:
    """Kubernetes label-selector semantics. Raises ValueError on a malformed selector (→ HTTP 400)."""
    if not selector:
        return True
    for req in _split_selector(selector):
        req = req.strip()
        if m := _SET.match(req):
            vals = {v.strip() for v in m["vals"].split(",") if v.strip()}
            has = m["key"] in labels and labels[m["key"]] in vals
            if (m["op"] == "in") != has:
                return False
        elif m := _REQ.match(req):
            eq = labels.get(m["key"]) == m["val"]
            if m["op"] == "!=":
                if m["key"] in labels and eq:
                    return False
            elif not eq:
                return False
        elif re.fullmatch(r"![A-Za-z0-9./_-]+", req):
            if req[1:] in labels:
                return False
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", req):
            if req not in labels:
                return False
        else:
            raise ValueError(f"unable to parse requirement: {req!r}")
    return True


class FakeKube:
    """The fake API server plus its state (nodes, pods) and the request log."""

    def __init__(self, *, replace_delay_s: float = 0.3, failover_delay_s: float = 0.3) -> None:
        self.replace_delay_s = replace_delay_s
        self.failover_delay_s = failover_delay_s
        self.port = free_port()
        self.nodes: dict[str, FakeNode] = {}
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.requests: list[Recorded] = []
        self.exec_output = "ok\n"
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # ---- state -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def add_node(self, name: str, zone: str, region: str = "us-east-1", **labels: str) -> None:
        with self._lock:
            self.nodes[name] = FakeNode(
                name, {"kubernetes.io/hostname": name, ZONE_LABEL: zone, REGION_LABEL: region, **labels}
            )

    def add_pod(
        self,
        name: str,
        namespace: str,
        labels: dict[str, str],
        node: str,
        containers: list[str],
        owner: str | None = None,
    ) -> None:
        with self._lock:
            self.pods[(namespace, name)] = FakePod(name, namespace, dict(labels), node, list(containers), owner)

    def pods_matching(self, namespace: str, selector: str | None = None) -> list[FakePod]:
        with self._lock:
            return [
                p
                for (ns, _), p in sorted(self.pods.items())
                if ns == namespace and matches_selector(p.labels, selector)
            ]

    def requests_for(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in list(self.requests) if r.method == method and r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        self.requests.clear()

    def reset(self) -> None:
        """Forget every node, pod and recorded request (between benchmark trials)."""
        with self._lock:
            self.nodes.clear()
            self.pods.clear()
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
        if self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                fut.result(5)
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
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods", self._list_pods)
        app.router.add_route("GET", "/api/v1/pods", self._list_all_pods)
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec)
        app.router.add_route("POST", "/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec)
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        app.router.add_route("DELETE", "/api/v1/namespaces/{ns}/pods/{name}", self._delete_pod)
        app.router.add_route("GET", "/api/v1/nodes", self._list_nodes)
        app.router.add_route("GET", "/api/v1/nodes/{name}", self._get_node)
        app.router.add_route("PATCH", "/api/v1/nodes/{name}", self._patch_node)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.TCPSite(self._runner, LOOPBACK, self.port).start())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    # ---- handlers ----------------------------------------------------------------------------
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
        rec = Recorded(request.method, request.path, query, body)
        self.requests.append(rec)
        request[BODY] = body
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            rec.status = e.status
            raise
        rec.status = resp.status
        return resp

    @staticmethod
    def _status(code: int, reason: str, message: str) -> web.Response:
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
            status=code,
        )

    def _field_ok(self, obj: dict[str, Any], selector: str | None) -> bool:
        for req in _split_selector(selector or ""):
            key, _, val = req.strip().partition("=")
            if key == "metadata.name" and obj["metadata"]["name"] != val:
                return False
            if key == "spec.nodeName" and obj["spec"].get("nodeName") != val:
                return False
        return True

    def _list(self, kind: str, items: list[dict[str, Any]], request: web.Request) -> web.Response:
        try:
            selected = [
                i
                for i in items
                if matches_selector(i["metadata"]["labels"], request.query.get("labelSelector"))
                and self._field_ok(i, request.query.get("fieldSelector"))
            ]
        except ValueError as e:
            return self._status(400, "BadRequest", str(e))
        return web.json_response(
            {"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": selected}
        )

    async def _list_pods(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        with self._lock:
            items = [p.to_json() for (n, _), p in sorted(self.pods.items()) if n == ns]
        return self._list("PodList", items, request)

    async def _list_all_pods(self, request: web.Request) -> web.Response:
        with self._lock:
            items = [p.to_json() for _, p in sorted(self.pods.items())]
        return self._list("PodList", items, request)

    async def _get_pod(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        with self._lock:
            pod = self.pods.get(key)
        if pod is None:
            return self._status(404, "NotFound", f'pods "{key[1]}" not found')
        return web.json_response(pod.to_json())

    async def _delete_pod(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        with self._lock:
            pod = self.pods.pop(key, None)
        if pod is None:
            return self._status(404, "NotFound", f'pods "{key[1]}" not found')
        loop = asyncio.get_running_loop()
        if pod.owner:
            loop.call_later(self.replace_delay_s, self._replace, pod)
        if pod.labels.get("role") == "primary":
            loop.call_later(self.failover_delay_s, self._elect, pod)
        return web.json_response(pod.to_json())

    def _replace(self, dead: FakePod) -> None:
        """ReplicaSet stand-in: a new pod with the same labels on a schedulable node (zone spread)."""
        with self._lock:
            nodes = [n for n in sorted(self.nodes.values(), key=lambda n: n.name) if not n.unschedulable]
            if not nodes:
                return
            load = {n.name: 0 for n in nodes}
            for p in self.pods.values():
                if p.node in load:
                    load[p.node] += 1
            node = min(nodes, key=lambda n: load[n.name])
            name = f"{dead.owner}-r{next(self._seq)}"
            labels = {k: v for k, v in dead.labels.items() if k != "role"}
            if "role" in dead.labels:
                labels["role"] = "replica"
            self.pods[(dead.namespace, name)] = FakePod(
                name, dead.namespace, labels, node.name, list(dead.containers), dead.owner
            )

    def _elect(self, dead: FakePod) -> None:
        """Database-operator stand-in: promote a surviving replica of the same app to ``role=primary``."""
        with self._lock:
            app = dead.labels.get("app")
            for p in sorted(self.pods.values(), key=lambda p: p.name):
                if p.namespace == dead.namespace and p.labels.get("app") == app and p.labels.get("role") == "replica":
                    p.labels["role"] = "primary"
                    return

    async def _list_nodes(self, request: web.Request) -> web.Response:
        with self._lock:
            items = [n.to_json() for n in sorted(self.nodes.values(), key=lambda n: n.name)]
        return self._list("NodeList", items, request)

    async def _get_node(self, request: web.Request) -> web.Response:
        with self._lock:
            node = self.nodes.get(request.match_info["name"])
        if node is None:
            return self._status(404, "NotFound", f'nodes "{request.match_info["name"]}" not found')
        return web.json_response(node.to_json())

    async def _patch_node(self, request: web.Request) -> web.Response:
        body = request[BODY] or {}
        with self._lock:
            node = self.nodes.get(request.match_info["name"])
            if node is None:
                return self._status(404, "NotFound", f'nodes "{request.match_info["name"]}" not found')
            spec = body.get("spec", {}) if isinstance(body, dict) else {}
            if "unschedulable" in spec:
                node.unschedulable = bool(spec["unschedulable"])
            return web.json_response(node.to_json())

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        """The exec subresource over a websocket, channel protocol v4: stdout on 1, status on 3."""
        key = (request.match_info["ns"], request.match_info["name"])
        with self._lock:
            pod = self.pods.get(key)
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        if pod is None or request.query.get("container") not in pod.containers:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": "container not found",
                "reason": "NotFound",
                "details": {"causes": [{"reason": "ExitCode", "message": "1"}]},
            }
        else:
            await ws.send_bytes(b"\x01" + self.exec_output.encode())
            status = {"metadata": {}, "status": "Success"}
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        async for msg in ws:  # drain until the client closes
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws
