"""``inventory: k8s``: the pods of one namespace, as targets, placed in zones by their node's labels.

``targets.options`` (all optional):

* ``namespace`` (``default``); ``label_selector`` — narrows the population server-side;
* ``service_label`` (``app``) and ``tier_label`` (``tier``) — the pod labels naming service and tier;
* ``zone_label`` / ``region_label`` — node labels (``topology.kubernetes.io/zone`` / ``.../region``).

Target: ``id`` = ``<namespace>/<pod>``, ``zone``/``region`` from the pod's node, ``labels`` = the pod's
labels, ``attrs`` = ``namespace``, ``pod``, ``node``, ``containers``. Only pods that can take a fault are
listed: bound to a node, Running and Ready, and not being deleted (a deleted pod stays listed, often still
Ready, for its grace period; a replacement starts Pending). The client is chaosk8s' (kubeconfig, else
``KUBERNETES_HOST``); every call has a request timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaosrunner.core.validation import InvalidInput
from chaosrunner.inventory.base import Target, TargetsSpec
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, core_v1

OPTIONS = ("namespace", "label_selector", "service_label", "tier_label", "zone_label", "region_label")


def _ready(pod: dict[str, Any]) -> bool:
    """Running with the Ready condition True (a pod without a status — a hand-made fixture — counts)."""
    status = pod.get("status")
    if not status:
        return True
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def pod_targets(
    pods: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    *,
    service_label: str = "app",
    tier_label: str = "tier",
    zone_label: str = "topology.kubernetes.io/zone",
    region_label: str = "topology.kubernetes.io/region",
) -> list[Target]:
    """Pure: pod and node dicts (API JSON shape) → targets, sorted by id."""
    node_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
    out = []
    for pod in pods:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node = spec.get("nodeName") or spec.get("node_name")
        if not node or meta.get("deletionTimestamp") or meta.get("deletion_timestamp") or not _ready(pod):
            continue
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        nl = node_labels.get(node, {})
        out.append(
            Target(
                id=f"{meta['namespace']}/{meta['name']}",
                service=labels.get(service_label, ""),
                region=str(nl.get(region_label, "")),
                zone=str(nl.get(zone_label, "")),
                tier=labels.get(tier_label, ""),
                labels=labels,
                attrs={
                    "namespace": meta["namespace"],
                    "pod": meta["name"],
                    "node": node,
                    "containers": [c["name"] for c in spec.get("containers") or []],
                },
            )
        )
    return sorted(out, key=lambda t: t.id)


class K8sInventory:
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def list_targets(self) -> list[Target]:

        v1 = core_v1()
        api = v1.api_client
        ns = str(self.options.get("namespace", "default"))
        kwargs: dict[str, Any] = {"_request_timeout": REQUEST_TIMEOUT}
        if self.options.get("label_selector"):
            kwargs["label_selector"] = str(self.options["label_selector"])
        pods = api.sanitize_for_serialization(v1.list_namespaced_pod(ns, **kwargs))["items"]
        nodes = api.sanitize_for_serialization(v1.list_node(_request_timeout=REQUEST_TIMEOUT))["items"]
        names = {
            k: str(self.options[k])
            for k in ("service_label", "tier_label", "zone_label", "region_label")
            if self.options.get(k)
        }
        return pod_targets(pods, nodes, **names)


def from_spec(spec: TargetsSpec, experiment_path: Path | None = None) -> K8sInventory:
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        raise InvalidInput(
            experiment_path or "<experiment>",
            [(f"extensions[chaosrunner].targets.options.{unknown[0]}", "unknown option for inventory k8s")],
        )
    return K8sInventory(dict(spec.options))
