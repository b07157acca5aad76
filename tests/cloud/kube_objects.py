"""The fake API server's objects, serialised in the shapes the ``kubernetes`` client's models read.

Pods go through the lifecycle the real control plane gives them: created ``Pending`` (scheduled, containers
creating, Ready False) and ``Running``/Ready after a start delay; on a graceful DELETE they stay listed
with ``metadata.deletionTimestamp`` and ``deletionGracePeriodSeconds`` (and, like a real pod whose
readiness probe has not failed yet, may still report Ready) until their containers stop. Every object
instance has its own ``uid`` (a StatefulSet pod recreated under the same name gets a new one) and the
server-wide ``resourceVersion`` moves on every change.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``v1.Status`` as the API server returns it with every error (and a few successes)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "code": code,
    }
    if code >= 400:
        body.update({"message": message, "reason": reason})
    if details is not None:
        body["details"] = details
    return body


@dataclass
class FakePod:
    name: str
    namespace: str
    labels: dict[str, str]
    node: str
    containers: list[str]
    owner: str | None = None  # the controller's name (ReplicaSet or StatefulSet)
    owner_kind: str = "ReplicaSet"
    phase: str = "Running"
    ready: bool = True
    created: float = field(default_factory=time.time)
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    resource_version: int = 1
    start_at: float | None = None  # monotonic time a Pending pod becomes Running and Ready
    deletion_wall: float | None = None  # wall time of the deletion request (set = Terminating)
    gone_at: float | None = None  # monotonic time a Terminating pod disappears
    grace_s: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def terminating(self) -> bool:
        return self.deletion_wall is not None

    def fields(self) -> dict[str, str]:
        return {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "spec.nodeName": self.node,
            "spec.restartPolicy": "Always",
            "spec.schedulerName": "default-scheduler",
            "spec.serviceAccountName": "default",
            "spec.hostNetwork": "false",
            "status.phase": self.phase,
        }

    def to_json(self) -> dict[str, Any]:
        ts = rfc3339(self.created)
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "uid": self.uid,
            "creationTimestamp": ts,
            "resourceVersion": str(self.resource_version),
        }
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        if self.deletion_wall is not None:
            meta["deletionTimestamp"] = rfc3339(self.deletion_wall + (self.grace_s or 0))
            meta["deletionGracePeriodSeconds"] = self.grace_s or 0
        if self.owner:
            meta["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": self.owner_kind, "name": self.owner,
                 "uid": f"uid-{self.owner_kind.lower()}-{self.owner}", "controller": True, "blockOwnerDeletion": True}
            ]  # fmt: skip
        running = self.phase == "Running"
        state = {"running": {"startedAt": ts}} if running else {"waiting": {"reason": "ContainerCreating"}}
        ready = "True" if self.ready else "False"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "nodeName": self.node,
                "terminationGracePeriodSeconds": 30,
                "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {
                    "path": "token", "expirationSeconds": 3607}}]}}],
                "containers": [{"name": c, "image": f"{c}:1"} for c in self.containers],
            },
            "status": {
                "phase": self.phase,
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "ContainersReady", "status": ready},
                    {"type": "Ready", "status": ready},
                ],
                "containerStatuses": [
                    {"name": c, "ready": self.ready, "restartCount": 0, "image": f"{c}:1", "imageID": "",
                     "started": running, "state": state}
                    for c in self.containers
                ],
            },
        }  # fmt: skip


@dataclass
class FakeNode:
    name: str
    labels: dict[str, str]
    unschedulable: bool = False
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def fields(self) -> dict[str, str]:
        return {"metadata.name": self.name, "spec.unschedulable": str(self.unschedulable).lower()}

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"unschedulable": True} if self.unschedulable else {}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": dict(self.labels), "uid": self.uid, "resourceVersion": "1"},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }


@dataclass
class PodSet:
    """A ReplicaSet or a StatefulSet: keeps ``replicas`` pods with these labels alive."""

    kind: str  # ReplicaSet | StatefulSet
    name: str
    namespace: str
    replicas: int
    labels: dict[str, str]
    containers: list[str]
    deployment: str | None = None
    template_hash: str = ""


@dataclass
class FakeDeployment:
    name: str
    namespace: str
    replicas: int
    labels: dict[str, str]
    containers: list[str]
    generation: int = 1
    annotations: dict[str, str] = field(default_factory=dict)  # the pod template's annotations
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    meta_annotations: dict[str, str] = field(default_factory=dict)  # the Deployment's own
    resource_version: int = 1

    def to_json(self, ready: int, updated: int, total: int) -> dict[str, Any]:
        meta = {"name": self.name, "namespace": self.namespace, "uid": self.uid, "generation": self.generation,
                "resourceVersion": str(self.resource_version), "labels": dict(self.labels)}  # fmt: skip
        if self.meta_annotations:
            meta["annotations"] = dict(self.meta_annotations)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": dict(self.labels)},
                "template": {"metadata": {"labels": dict(self.labels), "annotations": dict(self.annotations)},
                             "spec": {"containers": [{"name": c, "image": f"{c}:1"} for c in self.containers]}},
            },
            "status": {"observedGeneration": self.generation, "replicas": total, "readyReplicas": ready,
                       "updatedReplicas": updated, "availableReplicas": ready},
        }  # fmt: skip

    def scale_json(self, total: int) -> dict[str, Any]:
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            "spec": {"replicas": self.replicas},
            "status": {"replicas": total, "selector": ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))},
        }


@dataclass
class FakePDB:
    """A PodDisruptionBudget (``policy/v1``) with a ``matchLabels`` selector."""

    name: str
    namespace: str
    selector: dict[str, str]
    min_available: int | None = None
    max_unavailable: int | None = None

    def allowed(self, healthy: int, expected: int) -> tuple[int, int]:
        """(disruptions allowed, pods that must stay healthy)."""
        desired = self.min_available if self.min_available is not None else expected - (self.max_unavailable or 0)
        return max(healthy - desired, 0), desired

    def to_json(self, healthy: int, expected: int) -> dict[str, Any]:
        allowed, desired = self.allowed(healthy, expected)
        spec: dict[str, Any] = {"selector": {"matchLabels": dict(self.selector)}}
        if self.min_available is not None:
            spec["minAvailable"] = self.min_available
        else:
            spec["maxUnavailable"] = self.max_unavailable
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
            "status": {"currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
                       "expectedPods": expected, "observedGeneration": 1},
        }  # fmt: skip
