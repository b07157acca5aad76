"""The fake cluster's state and the control loops that stand in for kube-controller-manager and kubelets.

* **Graceful deletion**: a DELETE without ``gracePeriodSeconds: 0`` leaves the pod listed, Terminating
  (``deletionTimestamp`` set), for ``min(grace, shutdown_s)`` seconds — and, as long as
  ``ready_while_terminating``, still reporting Ready, as a real pod does until its readiness probe fails.
  A zero grace period removes it at once.
* **ReplicaSets** replace a pod as soon as it is Terminating; the replacement starts ``Pending`` on the
  least loaded schedulable node and is Running/Ready ``start_s`` seconds later.
* **StatefulSets** recreate a pod under the *same name* (new uid) only once the old one is gone.
* **Deployments** (``apps/v1``): ``spec.replicas`` scales the current ReplicaSet; a changed pod template
  (``kubectl rollout restart`` writes an annotation) creates a new ReplicaSet and scales the old one down
  as new pods become Ready.
* **Evictions** honour PodDisruptionBudgets: refused (429) when no disruption is allowed.
* **Primary election** (a database operator such as Patroni): ``failover_delay_s`` after the
  ``role=primary`` pod is deleted, a ready replica of the same app is relabelled ``role=primary``.

Time is ``time.monotonic``; :meth:`Cluster.reconcile` runs every few milliseconds in the server's loop
and before each answer, under one lock.
"""

from __future__ import annotations

import itertools
import threading
import time
import zlib
from typing import Any

from tests.cloud.kube_network import FakeService
from tests.cloud.kube_objects import FakeDeployment, FakeNode, FakePDB, FakePod, PodSet, status
from tests.cloud.kube_selectors import matches_selector

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
DEFAULT_GRACE_S = 30


class Cluster:
    def __init__(
        self,
        *,
        start_s: float = 0.3,
        shutdown_s: float = 0.5,
        failover_delay_s: float = 0.3,
        ready_while_terminating: bool = True,
    ) -> None:
        self.start_s = start_s
        self.shutdown_s = shutdown_s
        self.failover_delay_s = failover_delay_s
        self.ready_while_terminating = ready_while_terminating
        self.nodes: dict[str, FakeNode] = {}
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.podsets: dict[tuple[str, str], PodSet] = {}
        self.deployments: dict[tuple[str, str], FakeDeployment] = {}
        self.pdbs: dict[tuple[str, str], FakePDB] = {}
        self.services: dict[tuple[str, str], FakeService] = {}
        self.ingresses: dict[tuple[str, str], dict[str, Any]] = {}  # stored as the API serves them
        self.lock = threading.RLock()
        self._elections: list[tuple[float, str, str]] = []  # (due, namespace, app)
        self._seq = itertools.count(1)
        self._rv = itertools.count(2)

    # ---- building the estate -------------------------------------------------------------------
    def add_node(self, name: str, zone: str, region: str = "us-east-1", **labels: str) -> None:
        with self.lock:
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
        owner_kind: str = "ReplicaSet",
    ) -> None:
        """A Running, Ready pod (the estate's starting point)."""
        with self.lock:
            pod = FakePod(name, namespace, dict(labels), node, list(containers), owner, owner_kind)
            self.pods[(namespace, name)] = pod

    def add_podset(self, podset: PodSet) -> None:
        with self.lock:
            self.podsets[(podset.namespace, podset.name)] = podset

    def add_deployment(self, deployment: FakeDeployment, replicaset: str) -> None:
        """A Deployment whose current ReplicaSet is ``replicaset`` (its pods added with :meth:`add_pod`)."""
        with self.lock:
            self.deployments[(deployment.namespace, deployment.name)] = deployment
            rs = PodSet("ReplicaSet", replicaset, deployment.namespace, deployment.replicas,
                        dict(deployment.labels), list(deployment.containers), deployment.name,
                        self.template_hash(deployment))  # fmt: skip
            self.podsets[(deployment.namespace, replicaset)] = rs

    def add_pdb(self, pdb: FakePDB) -> None:
        with self.lock:
            self.pdbs[(pdb.namespace, pdb.name)] = pdb

    def add_service(self, service: FakeService) -> None:
        with self.lock:
            self.services[(service.namespace, service.name)] = service

    def add_ingress(self, obj: dict[str, Any]) -> None:
        """An Ingress as the API serves it (:func:`.kube_network.ingress` builds one)."""
        with self.lock:
            self.ingresses[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    # ---- reading --------------------------------------------------------------------------------
    def pods_matching(self, namespace: str, selector: str | None = None, *, terminating: bool = False) -> list[FakePod]:
        """Pods of ``namespace`` matching the label selector, by name; Terminating ones only if asked."""
        with self.lock:
            return [
                p
                for (ns, _), p in sorted(self.pods.items())
                if ns == namespace and matches_selector(p.labels, selector) and (terminating or not p.terminating)
            ]

    @staticmethod
    def template_hash(d: FakeDeployment) -> str:
        return format(zlib.crc32(repr(sorted(d.annotations.items())).encode()), "08x")[:6]

    def bump(self, pod: FakePod) -> None:
        pod.resource_version = next(self._rv)

    # ---- operations the API exposes -------------------------------------------------------------
    def delete_pod(self, namespace: str, name: str, grace_s: int | None) -> FakePod | None:
        """Graceful deletion; ``None`` when there is no such pod."""
        with self.lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                return None
            grace = DEFAULT_GRACE_S if grace_s is None else max(int(grace_s), 0)
            now = time.monotonic()
            if pod.labels.get("role") == "primary" and not pod.terminating:
                self._elections.append((now + self.failover_delay_s, namespace, pod.labels.get("app", "")))
            if grace == 0:
                del self.pods[(namespace, name)]
                return pod
            if not pod.terminating or now + grace < (pod.gone_at or now):
                pod.deletion_wall = time.time()
                pod.grace_s = grace
                pod.gone_at = now + min(grace, self.shutdown_s)
                pod.ready = pod.ready and self.ready_while_terminating
                self.bump(pod)
            return pod

    def evict(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        """The eviction subresource: 201, or 429 when a PodDisruptionBudget allows no disruption."""
        with self.lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                return 404, status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
            for pdb in sorted(self.pdbs.values(), key=lambda b: b.name):
                if pdb.namespace != namespace or not all(pod.labels.get(k) == v for k, v in pdb.selector.items()):
                    continue
                healthy, expected = self.pdb_counts(pdb)
                allowed, desired = pdb.allowed(healthy, expected)
                if allowed < 1 and not pod.terminating:
                    msg = f"The disruption budget {pdb.name} needs {desired} healthy pods and has {healthy} currently"
                    return 429, status(
                        429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                        {"causes": [{"reason": "DisruptionBudget", "message": msg}]},
                    )  # fmt: skip
            self.delete_pod(namespace, name, None)
            return 201, status(201, "", "")

    def pdb_counts(self, pdb: FakePDB) -> tuple[int, int]:
        """(healthy = ready and not terminating, expected = the owning controllers' replicas)."""
        pods = [
            p
            for p in self.pods.values()
            if p.namespace == pdb.namespace and all(p.labels.get(k) == v for k, v in pdb.selector.items())
        ]
        healthy = sum(1 for p in pods if p.ready and not p.terminating and p.phase == "Running")
        owners = {p.owner for p in pods if p.owner}
        expected = sum(s.replicas for (ns, n), s in self.podsets.items() if ns == pdb.namespace and n in owners)
        return healthy, expected or sum(1 for p in pods if not p.terminating)  # fmt: skip

    def deployment_counts(self, d: FakeDeployment) -> tuple[int, int, int]:
        """(ready, updated, total) pods of the deployment, Terminating ones excluded."""
        current = f"{d.name}-{self.template_hash(d)}"
        sets = {n for (ns, n), s in self.podsets.items() if ns == d.namespace and s.deployment == d.name}
        pods = [p for p in self.pods.values() if p.namespace == d.namespace and p.owner in sets and not p.terminating]
        return (sum(1 for p in pods if p.ready), sum(1 for p in pods if p.owner == self._rs_name(d, current)),
                len(pods))  # fmt: skip

    def _rs_name(self, d: FakeDeployment, default: str) -> str:
        h = self.template_hash(d)
        for (ns, n), s in self.podsets.items():
            if ns == d.namespace and s.deployment == d.name and s.template_hash == h:
                return n
        return default

    # ---- control loops --------------------------------------------------------------------------
    def reconcile(self) -> None:
        with self.lock:
            now = time.monotonic()
            for key, pod in list(self.pods.items()):
                if pod.gone_at is not None and pod.gone_at <= now:
                    del self.pods[key]
                elif pod.phase == "Pending" and pod.start_at is not None and pod.start_at <= now:
                    pod.phase, pod.ready, pod.start_at = "Running", True, None
                    self.bump(pod)
            for due, ns, app in [e for e in self._elections if e[0] <= now]:
                self._elections.remove((due, ns, app))
                self._elect(ns, app)
            for d in list(self.deployments.values()):
                self._roll(d)
            for ps in list(self.podsets.values()):
                self._keep(ps, now)

    def _elect(self, ns: str, app: str) -> None:
        for p in sorted(self.pods.values(), key=lambda p: (p.created, p.name)):  # the longest-serving replica
            if p.namespace == ns and p.labels.get("app") == app and p.labels.get("role") == "replica":
                if p.ready and not p.terminating:
                    p.labels["role"] = "primary"
                    self.bump(p)
                    return

    def _roll(self, d: FakeDeployment) -> None:
        h = self.template_hash(d)
        name = self._rs_name(d, f"{d.name}-{h}")
        if (d.namespace, name) not in self.podsets:
            self.podsets[(d.namespace, name)] = PodSet("ReplicaSet", name, d.namespace, d.replicas, dict(d.labels),
                                                       list(d.containers), d.name, h)  # fmt: skip
        new = self.podsets[(d.namespace, name)]
        new.replicas = d.replicas
        new_ready = sum(
            1
            for p in self.pods.values()
            if p.namespace == d.namespace and p.owner == name and p.ready and not p.terminating
        )
        for s in self.podsets.values():
            if s.namespace == d.namespace and s.deployment == d.name and s is not new:
                s.replicas = min(s.replicas, max(0, d.replicas - new_ready))  # fmt: skip

    def _keep(self, ps: PodSet, now: float) -> None:
        owned = [p for p in self.pods.values() if p.namespace == ps.namespace and p.owner == ps.name]
        active = [p for p in owned if not p.terminating]
        if len(active) > ps.replicas:
            surplus = sorted(active, key=lambda p: (p.ready, -p.created))[: len(active) - ps.replicas]
            for p in surplus:
                self.delete_pod(p.namespace, p.name, None)
            return
        missing = ps.replicas - len(active)
        if ps.kind == "StatefulSet":
            names = [f"{ps.name}-{i}" for i in range(ps.replicas) if (ps.namespace, f"{ps.name}-{i}") not in self.pods]
        else:
            names = [f"{ps.name}-{next(self._seq):05d}" for _ in range(missing)]
        for name in names[:missing]:
            node = self._schedule()
            if node is None:
                return
            labels = dict(ps.labels)
            if ps.kind == "StatefulSet" and any(p.labels.get("role") for p in owned):
                labels["role"] = "replica"  # the operator joins a recreated member as a replica
            pod = FakePod(name, ps.namespace, labels, node, list(ps.containers), ps.name, ps.kind,
                          phase="Pending", ready=False, start_at=now + self.start_s)  # fmt: skip
            self.bump(pod)
            self.pods[(ps.namespace, name)] = pod

    def _schedule(self) -> str | None:
        nodes = sorted((n for n in self.nodes.values() if not n.unschedulable), key=lambda n: n.name)
        if not nodes:
            return None
        load = {n.name: 0 for n in nodes}
        for p in self.pods.values():
            if p.node in load and not p.terminating:
                load[p.node] += 1
        return min(nodes, key=lambda n: load[n.name]).name
