"""Services, EndpointSlices and Ingresses for the fake API server — what an ingress-steered front of several
edge Deployments needs — in the shapes the ``kubernetes`` client sends and reads.

* ``GET /api/v1/namespaces/{ns}/services/{name}``: a ClusterIP Service with a selector and ports.
* ``GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices`` (``labelSelector=kubernetes.io/service-name=S``
  is how clients find a Service's slices): computed from the pods the Service selects, as the EndpointSlice
  controller writes them — a pod without an IP yet (Pending) is absent; ``conditions.ready`` is true only
  for a Ready pod not being deleted, ``serving`` is its readiness, ``terminating`` is set while it stops.
  A Service that selects no pod keeps one placeholder slice whose ``endpoints`` and ``ports`` are
  ``null`` (real clusters do; kubernetes-client/python#2423: older clients cannot even parse it).
* ``GET|PATCH /apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}``: PATCH as RFC 6902 JSON patch
  (``application/json-patch+json``, what the client sends for a list body: ``add``, ``remove``,
  ``replace``, ``test``; an operation that cannot be applied — a failed ``test``, a missing path — is
  the apiserver's 422 ``Invalid`` with the patch library's message as its cause) or as a merge patch
  (``merge-patch``/``strategic-merge-patch`` — the same here: an Ingress's lists are atomic, replaced
  whole); any other type is 415. ``resourceVersion`` moves on every change, ``generation`` on spec changes;
  an empty ``annotations`` or ``labels`` map is not served (``omitempty``), as after a real round trip.
"""

from __future__ import annotations

import copy
import json
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.cloud.kube_objects import FakePod, status
from tests.cloud.kube_selectors import (
    GENERIC_FIELDS,
    SelectorError,
    fields_match,
    matches_selector,
    parse_field_selector,
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


def _ip(seed: str, prefix: str = "10.244") -> str:
    n = zlib.crc32(seed.encode())
    return f"{prefix}.{(n >> 8) % 250 + 1}.{n % 250 + 2}"


@dataclass
class FakeService:
    name: str
    namespace: str
    selector: dict[str, str]
    port: int = 80
    target_port: int = 8080
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        ip = _ip(self.uid, "10.96")
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid, "resourceVersion": "1"},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "selector": dict(self.selector),
                     "ports": [{"name": "http", "port": self.port, "targetPort": self.target_port, "protocol": "TCP"}],
                     "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
            "status": {"loadBalancer": {}},
        }  # fmt: skip

    def slice_json(self, pods: list[FakePod], zones: dict[str, str]) -> dict[str, Any]:
        """The Service's one EndpointSlice (a placeholder with null endpoints when it selects no pod)."""
        endpoints = [
            {"addresses": [_ip(p.uid)], "nodeName": p.node, "zone": zones.get(p.node),
             "conditions": {"ready": p.ready and not p.terminating, "serving": p.ready, "terminating": p.terminating},
             "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace, "uid": p.uid}}
            for p in pods if p.phase == "Running"
        ]  # fmt: skip
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"{self.name}-{self.uid[:5]}", "generateName": f"{self.name}-",
                         "namespace": self.namespace, "resourceVersion": "1",
                         "labels": {SERVICE_NAME_LABEL: self.name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": self.name,
                                              "uid": self.uid, "controller": True, "blockOwnerDeletion": True}]},
            "addressType": "IPv4",
            "endpoints": endpoints or None,
            "ports": [{"name": "http", "port": self.target_port, "protocol": "TCP"}] if endpoints else None,
        }  # fmt: skip


def ingress(name: str, namespace: str, host: str, service: str, port: int = 80) -> dict[str, Any]:
    """An Ingress routing ``host`` (every path) to ``service``:``port``, as the API server stores it."""
    backend = {"service": {"name": service, "port": {"number": port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1,
                     "resourceVersion": "1"},
        "spec": {"ingressClassName": "nginx", "rules": [
            {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
    }  # fmt: skip


class PatchError(ValueError):
    """A JSON patch that cannot be applied (the apiserver's 422)."""


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} does not start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _walk(doc: Any, tokens: list[str], path: str) -> Any:
    for t in tokens:
        if isinstance(doc, dict) and t in doc:
            doc = doc[t]
        elif isinstance(doc, list) and t.isdigit() and int(t) < len(doc):
            doc = doc[int(t)]
        else:
            raise PatchError(f"doc is missing path: {path}")
    return doc


def json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 (``add``, ``remove``, ``replace``, ``test``) on a copy; PatchError, nothing applied, if one fails."""
    out = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), str(op.get("path", ""))
        tokens = _tokens(path)
        if not tokens:
            raise PatchError(f"{kind} on the whole document is not supported")
        parent, key = _walk(out, tokens[:-1], path), tokens[-1]
        if kind == "test":
            if _walk(out, tokens, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        elif kind in ("replace", "remove"):
            _walk(out, tokens, path)
            if kind == "remove":
                parent.pop(int(key) if isinstance(parent, list) else key)
            else:
                parent[int(key) if isinstance(parent, list) else key] = op.get("value")
        elif kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), op.get("value"))
            elif isinstance(parent, dict):
                parent[key] = op.get("value")
            else:
                raise PatchError(f"add operation does not apply: doc is missing path: {path}")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merged key by key, ``null`` deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _json(code: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=code)


class NetworkApi:
    """Route handlers mixed into the fake server; the state (``services``, ``ingresses``, ``pods``, ``nodes``,
    ``lock``) is the cluster's (:mod:`.kube_control`)."""

    services: dict[tuple[str, str], FakeService]
    ingresses: dict[tuple[str, str], dict[str, Any]]
    pods: dict[tuple[str, str], FakePod]
    nodes: dict[str, Any]
    lock: Any

    def network_routes(self) -> list[tuple[str, str, Any]]:
        ing = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}"
        return [
            ("GET", "/api/v1/namespaces/{ns}/services/{name}", self._get_service),
            ("GET", "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", self._list_slices),
            ("GET", ing, self._ingress),
            ("PATCH", ing, self._ingress),
        ]

    async def _get_service(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        with self.lock:
            svc = self.services.get((ns, name))
            if svc is None:
                details = {"name": name, "kind": "services"}
                return _json(404, status(404, "NotFound", f'services "{name}" not found', details))
            return web.json_response(svc.to_json())

    async def _list_slices(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        with self.lock:
            zones = {n.name: n.labels.get("topology.kubernetes.io/zone", "") for n in self.nodes.values()}
            slices = [
                svc.slice_json([p for (pns, _), p in sorted(self.pods.items()) if pns == ns
                                and all(p.labels.get(k) == v for k, v in svc.selector.items())], zones)
                for (sns, _), svc in sorted(self.services.items()) if sns == ns
            ]  # fmt: skip
            try:
                fsel = parse_field_selector(request.query.get("fieldSelector"), GENERIC_FIELDS)
                items = [s for s in slices if matches_selector(s["metadata"]["labels"], request.query.get(
                    "labelSelector")) and fields_match({"metadata.name": s["metadata"]["name"],
                                                        "metadata.namespace": ns}, fsel)]  # fmt: skip
            except SelectorError as e:
                return _json(400, status(400, "BadRequest", str(e)))
            return web.json_response({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
                                      "metadata": {"resourceVersion": "1"}, "items": items})  # fmt: skip

    async def _ingress(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        with self.lock:
            obj = self.ingresses.get((ns, name))
            if obj is None:
                details = {"name": name, "group": "networking.k8s.io", "kind": "ingresses"}
                return _json(404, status(404, "NotFound", f'ingresses.networking.k8s.io "{name}" not found', details))
            if request.method == "PATCH":
                kind = request.headers.get("Content-Type", "").split(";")[0].strip()
                raw = await request.read()  # aiohttp keeps the body the recording middleware read
                body = json.loads(raw) if raw else None
                try:
                    if kind == JSON_PATCH and isinstance(body, list):
                        new = json_patch(obj, body)
                    elif kind in MERGE_PATCHES and isinstance(body, dict):
                        new = merge_patch(obj, body)
                    else:
                        return _json(415, status(415, "UnsupportedMediaType", f"the body of the request was in an "
                                                 f"unknown format - accepted media types include: {JSON_PATCH}, "
                                                 f"{', '.join(MERGE_PATCHES)}"))  # fmt: skip
                except PatchError as e:
                    return _json(422, status(422, "Invalid", "the server rejected our request due to an error in "
                                             "our request", {"causes": [{"reason": "UnexpectedServerResponse",
                                                                         "message": str(e)}]}))  # fmt: skip
                for k in ("name", "namespace", "uid", "generation", "resourceVersion"):
                    new["metadata"][k] = obj["metadata"][k]
                for k in ("annotations", "labels"):  # map[string]string,omitempty: an empty map is not served
                    if new["metadata"].get(k) == {}:
                        del new["metadata"][k]
                if new.get("spec") != obj.get("spec"):
                    new["metadata"]["generation"] = obj["metadata"]["generation"] + 1
                if new != obj:
                    new["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
                self.ingresses[(ns, name)] = obj = new
            return web.json_response(obj)
