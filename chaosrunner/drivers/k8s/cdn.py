"""CDN outage on Kubernetes: the edge behind an Ingress's backend goes dark (scaled to 0), and the steering
moves the Ingress to an edge that serves — measured from the fault to the switch (``switch_time_s``).

An *edge* is a Service (``edge-a``) and the Deployments whose pods it selects; it *serves* when its
EndpointSlices hold a ready endpoint — what an ingress controller routes to. The steering layer is an
Ingress (``images``) whose backends name edge Services.

* :func:`take_edge_dark` — the fault: per Deployment one patch sets ``replicas: 0`` and, in the same request,
  the annotations ``chaosrunner.io/replicas-before`` (undo data) and ``chaosrunner.io/dark-since`` (the
  switch's start); returns once the Service has no ready endpoint.
* :func:`steer_to_serving_edge` — the steering under test, modelled (an ingress controller does not move
  backends by itself): poll until a backend has no ready endpoint, then, once the standby serves, one JSON
  patch: ``test`` each backend still names the dark edge, ``replace`` it, ``add`` the annotation
  ``chaosrunner.io/steered`` (the backends before); then wait until every backend serves.
* :func:`restore_edge`, :func:`restore_steering` — the undos (rollbacks and ledger): idempotent, acting only
  where our annotation is; steering back never points at a dark edge (our own outage of it is ended first),
  and never overwrites an Ingress someone changed since (its ``test`` fails).

Every fault is in the ledger before anything changes; every call passes ``REQUEST_TIMEOUT``. EndpointSlices
and Ingresses are read as JSON: a Service without pods has a placeholder slice with ``endpoints: null``,
which older ``kubernetes`` clients cannot deserialise (kubernetes-client/python#2423).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.rest import ApiException

from chaosrunner.core.clock import Clock, SystemClock
from chaosrunner.drivers import faults
from chaosrunner.drivers.deadline import Seen, Waited, poll  # generic: no AWS in it
from chaosrunner.drivers.k8s.pods import _chosen_pods
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, core_v1, is_ready

UNDO_FROM_ANY_HOST = True  # undos are Kubernetes API calls: `recover --fleet` may run them from any host

FAULT_DARK = "k8s-edge-dark"
FAULT_STEERED = "k8s-edge-steered"
REPLICAS_BEFORE = "chaosrunner.io/replicas-before"
DARK_SINCE = "chaosrunner.io/dark-since"
STEERED = "chaosrunner.io/steered"
UNDO_WAIT_S = 20.0  # the ledger's undo waits this long for an edge to serve again (recovery allows 30 s)


@dataclass(frozen=True)
class Apis:
    core: Any
    apps: Any
    net: Any
    discovery: Any


def _apis(secrets: dict[str, Any] | None) -> Apis:
    core = core_v1(secrets)
    api = core.api_client
    return Apis(core, client.AppsV1Api(api), client.NetworkingV1Api(api), client.DiscoveryV1Api(api))


def ready_endpoints(apis: Apis, ns: str, service: str) -> int:
    """Ready endpoints across the Service's EndpointSlices (``ready`` unset counts as ready, as the API says)."""
    raw = apis.discovery.list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={service}", _request_timeout=REQUEST_TIMEOUT,
        _preload_content=False,
    )  # fmt: skip
    slices = json.loads(raw.data).get("items") or []
    return sum(
        1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") is not False
    )


def backends(obj: dict[str, Any]) -> dict[str, str]:
    """Pure: an Ingress's backends, as {JSON pointer of the service name: service name} (default and paths)."""
    spec = obj.get("spec") or {}
    out = {}
    if name := ((spec.get("defaultBackend") or {}).get("service") or {}).get("name"):
        out["/spec/defaultBackend/service/name"] = str(name)
    for i, rule in enumerate(spec.get("rules") or []):
        for j, path in enumerate((rule.get("http") or {}).get("paths") or []):
            if name := ((path.get("backend") or {}).get("service") or {}).get("name"):
                out[f"/spec/rules/{i}/http/paths/{j}/backend/service/name"] = str(name)
    return out


@dataclass(frozen=True)
class IngressView:
    """One look at the steering: the Ingress as served, and ready endpoints per edge Service."""

    obj: dict[str, Any]
    ready: dict[str, int]

    @property
    def backends(self) -> dict[str, str]:
        return backends(self.obj)

    @property
    def annotations(self) -> dict[str, str]:
        return dict((self.obj.get("metadata") or {}).get("annotations") or {})

    @property
    def dark(self) -> list[str]:
        return sorted({s for s in self.backends.values() if self.ready.get(s, 0) == 0})

    @property
    def serves(self) -> bool:
        return bool(self.backends) and not self.dark

    def __str__(self) -> str:
        return f"backends {sorted(set(self.backends.values()))}, ready endpoints {self.ready}"


def look(apis: Apis, ns: str, ingress: str, extra: Iterable[str] = ()) -> IngressView:
    raw = apis.net.read_namespaced_ingress(ingress, ns, _request_timeout=REQUEST_TIMEOUT, _preload_content=False)
    obj = json.loads(raw.data)
    services = sorted(set(backends(obj).values()) | set(extra))
    return IngressView(obj, {s: ready_endpoints(apis, ns, s) for s in services})


def _watch(apis: Apis, ns: str, ingress: str, extra: Iterable[str], done: Callable[[IngressView], bool], what: str,
           timeout_s: float, poll_s: float, clock: Clock | None) -> Waited[IngressView]:  # fmt: skip
    def check() -> Seen[IngressView]:
        v = look(apis, ns, ingress, extra)
        return Seen(done(v), v)

    return poll(check, what=f"ingress {ns}/{ingress}: {what}", timeout_s=timeout_s, poll_s=poll_s, clock=clock)


def _deployments_behind(apis: Apis, ns: str, service: str) -> tuple[str, list[Any]]:
    """(the Service's label selector, the Deployments whose pod template it selects, by name)."""
    selector = apis.core.read_namespaced_service(service, ns, _request_timeout=REQUEST_TIMEOUT).spec.selector or {}
    if not selector:
        raise ActivityFailed(f"service {ns}/{service} has no selector: no Deployment stands behind it")
    found = apis.apps.list_namespaced_deployment(ns, _request_timeout=REQUEST_TIMEOUT).items
    behind = [d for d in found if all((d.spec.template.metadata.labels or {}).get(k) == v for k, v in selector.items())]
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())), sorted(behind, key=lambda d: d.metadata.name)


def _patch_deployment(apis: Apis, ns: str, name: str, replicas: int, annotations: dict[str, str | None]) -> None:
    body = {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}}
    apis.apps.patch_namespaced_deployment(name, ns, body=body, _request_timeout=REQUEST_TIMEOUT)


def take_edge_dark(
    service: str,
    ns: str = "default",
    confirm_timeout_s: float = 60.0,
    poll_s: float = 0.5,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Scale every Deployment behind ``service`` to 0; return once the Service has no ready endpoint.

    The runner's chosen pods must be exactly the edge's ready pods (scaling to 0 hits them all: choose the
    whole edge, ``pick: all``). ActivityFailed when a Deployment already has 0 replicas (the fault would
    not land) or the endpoints do not go within ``confirm_timeout_s``.
    Output: ``{"dark": [deployments], "replicas_before": {name: n}, "dark_since": epoch seconds}``.
    """
    apis, clk = _apis(secrets), clock or SystemClock()
    selector, deployments = _deployments_behind(apis, ns, service)
    if not deployments:
        raise ActivityFailed(f"no Deployment's pods are selected by service {ns}/{service}")
    chosen = set(_chosen_pods(configuration, ns))
    if chosen:
        pods = apis.core.list_namespaced_pod(ns, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
        edge = {p.metadata.name for p in pods if is_ready(p)}
        if chosen != edge:
            raise ActivityFailed(f"chosen pods {sorted(chosen)} are not {service}'s ready pods {sorted(edge)}: "
                                 "scaling it to 0 would hit other pods than the ones chosen (pick: all)")  # fmt: skip
    before = {d.metadata.name: int(d.spec.replicas or 0) for d in deployments}
    empty = sorted(n for n, r in before.items() if r == 0)
    if empty:
        raise ActivityFailed(f"deployments {empty} already have 0 replicas: the fault would not land")
    since = round(clk.now().timestamp(), 3)
    for name, replicas in before.items():
        undo = {"deployment": name, "ns": ns, "replicas": replicas}
        faults.record(FAULT_DARK, f"{ns}/{name}", "restore_edge", undo, module=__name__)
        _patch_deployment(apis, ns, name, 0, {REPLICAS_BEFORE: str(replicas), DARK_SINCE: f"{since:.3f}"})

    def dark() -> Seen[int]:
        n = ready_endpoints(apis, ns, service)
        return Seen(n == 0, n)

    poll(dark, what=f"{ns}/{service} without a ready endpoint", timeout_s=confirm_timeout_s, poll_s=poll_s, clock=clk)
    return {"dark": sorted(before), "replicas_before": before, "dark_since": since}


def restore_edge(
    service: str | None = None,
    deployment: str | None = None,
    ns: str = "default",
    replicas: int | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo :func:`take_edge_dark`: the replicas from before (``replicas`` from the ledger, else our annotation).

    Names a ``deployment`` (the ledger) or the edge's ``service`` (the rollback). Idempotent; a Deployment
    without our annotation is never touched. Returns ``{"restored": {deployment: replicas}}``.
    """
    apis = _apis(secrets)
    if deployment:
        targets = [apis.apps.read_namespaced_deployment(deployment, ns, _request_timeout=REQUEST_TIMEOUT)]
    elif service:
        targets = _deployments_behind(apis, ns, service)[1]
    else:
        raise ValueError("give deployment or service")
    restored = {}
    for d in targets:
        name, noted = d.metadata.name, (d.metadata.annotations or {}).get(REPLICAS_BEFORE)
        if noted is not None:
            want = int(replicas) if replicas is not None and deployment else int(noted)
            _patch_deployment(apis, ns, name, want, {REPLICAS_BEFORE: None, DARK_SINCE: None})
            restored[name] = want
        faults.settle(FAULT_DARK, f"{ns}/{name}")
    return {"restored": restored}


def _dark_since(apis: Apis, ns: str, services: Iterable[str]) -> float | None:
    stamps = [(d.metadata.annotations or {}).get(DARK_SINCE) for s in services
              for d in _deployments_behind(apis, ns, s)[1]]  # fmt: skip
    return min((float(t) for t in stamps if t), default=None)


def steer_to_serving_edge(
    ingress: str,
    to_service: str,
    ns: str = "default",
    figure: str = "switch_time_s",
    timeout_s: float = 120.0,
    poll_s: float = 0.5,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The steering: wait for a backend of ``ingress`` to lose its ready endpoints, point it at ``to_service``
    once that serves, and return when every backend serves.

    ``figure`` (seconds) runs from the fault — the dark edge's ``chaosrunner.io/dark-since`` — to that
    moment (from the look that saw it dark without one: an outage we did not cause), this steering's
    detection (``poll_s``) included. ActivityFailed when nothing goes dark, or the standby never serves,
    within ``timeout_s``. Output: ``{"from", "to", "backends", "measured_from", "chaosrunner_figures"}``.
    """
    apis, clk = _apis(secrets), clock or SystemClock()
    to, start = to_service, clk.monotonic()

    def left() -> float:
        return max(timeout_s - (clk.monotonic() - start), 0.0)

    seen = _watch(apis, ns, ingress, [to], lambda v: bool(v.dark), "a backend going dark", timeout_s, poll_s, clk)
    detected = clk.now().timestamp()
    since = _dark_since(apis, ns, [s for s in seen.value.dark if s != to])
    view = _watch(apis, ns, ingress, [to], lambda v: v.ready[to] > 0, f"{to} serving to take the traffic", left(),
                  poll_s, clk).value  # fmt: skip
    moved = {p: s for p, s in view.backends.items() if s in view.dark and s != to}
    if moved:
        note = json.dumps({"to": to, "from": moved}, sort_keys=True)
        undo = {"ingress": ingress, "ns": ns, "backends": moved, "to": to, "timeout_s": UNDO_WAIT_S}
        faults.record(FAULT_STEERED, f"{ns}/{ingress}", "restore_steering", undo, module=__name__)
        ops = [op for p, s in moved.items() for op in ({"op": "test", "path": p, "value": s},
                                                       {"op": "replace", "path": p, "value": to})]  # fmt: skip
        ops.append(_annotation_op(view, "add", note))
        apis.net.patch_namespaced_ingress(ingress, ns, body=ops, _request_timeout=REQUEST_TIMEOUT)
    final = _watch(apis, ns, ingress, [to], lambda v: v.serves, "steered to a serving edge", left(), poll_s, clk)
    took = clk.now().timestamp() - (since if since is not None else detected)
    return {
        "from": sorted(set(moved.values())),
        "to": to,
        "backends": sorted(set(final.value.backends.values())),
        "measured_from": "fault" if since is not None else "detection",
        "chaosrunner_figures": {figure: round(max(took, 0.0), 3)},
    }


def _annotation_op(view: IngressView, op: str, value: str | None = None) -> dict[str, Any]:
    if op == "add" and "annotations" not in (view.obj.get("metadata") or {}):
        return {"op": "add", "path": "/metadata/annotations", "value": {STEERED: value}}
    path = "/metadata/annotations/" + STEERED.replace("~", "~0").replace("/", "~1")
    return {"op": op, "path": path, "value": value} if op == "add" else {"op": op, "path": path}


def restore_steering(
    ingress: str,
    ns: str = "default",
    backends: dict[str, str] | None = None,
    to: str | None = None,
    timeout_s: float = 0.0,
    poll_s: float = 0.5,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Undo :func:`steer_to_serving_edge`: each moved backend back to its edge (``backends`` from the ledger,
    else our annotation), exactly; idempotent — without our annotation nothing was moved, nothing changes.

    The edges that get their backends back must serve first: an edge our fault took dark is scaled back
    (:func:`restore_edge`), then this waits up to ``timeout_s``; ActivityFailed if they still do not serve
    (the traffic stays where it is served), or if the Ingress was changed since the switch (not overwritten).
    Output: ``{"restored": bool, "backends": [services]}``.
    """
    apis, clk = _apis(secrets), clock or SystemClock()
    view = look(apis, ns, ingress)
    note = view.annotations.get(STEERED)
    if note is None:
        faults.settle(FAULT_STEERED, f"{ns}/{ingress}")
        return {"restored": False, "backends": sorted(set(view.backends.values()))}
    recorded = json.loads(note)
    moved, to = backends or recorded["from"], to or recorded["to"]
    back = sorted(set(moved.values()))
    for svc in back:
        if ready_endpoints(apis, ns, svc) == 0:
            restore_edge(service=svc, ns=ns, secrets=secrets)
    view = _watch(apis, ns, ingress, back, lambda v: all(v.ready[s] > 0 for s in back),
                  f"{back} serving again before the steering goes back (traffic left where it is)", timeout_s, poll_s,
                  clk).value  # fmt: skip
    ops = [op for p, s in moved.items() for op in ({"op": "test", "path": p, "value": to},
                                                   {"op": "replace", "path": p, "value": s})]  # fmt: skip
    try:
        apis.net.patch_namespaced_ingress(ingress, ns, body=[*ops, _annotation_op(view, "remove")],
                                          _request_timeout=REQUEST_TIMEOUT)  # fmt: skip
    except ApiException as e:
        if e.status != 422:
            raise
        raise ActivityFailed(f"ingress {ns}/{ingress} changed since the switch ({e.body}): not overwritten") from None
    faults.settle(FAULT_STEERED, f"{ns}/{ingress}")
    return {"restored": True, "backends": back}


def steering_serves(
    ingress: str,
    ns: str = "default",
    timeout_s: float | None = None,
    poll_s: float = 0.5,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """True when every backend of ``ingress`` has a ready endpoint (the steady state). With ``timeout_s`` (a
    method probe, whose tolerance Chaos Toolkit never checks) it waits that long, else ActivityFailed."""
    apis = _apis(secrets)
    if timeout_s is None:
        return look(apis, ns, ingress).serves
    return _watch(apis, ns, ingress, [], lambda v: v.serves, "steered to serving edges", timeout_s, poll_s,
                  None).value.serves  # fmt: skip
