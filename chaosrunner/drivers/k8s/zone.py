"""Zone outage on Kubernetes: delete one service's pods that run on the nodes of one zone.

The experiment first cordons the zone's nodes with chaosk8s ``cordon_node(label_selector=<zone label>)``
(rollback: ``uncordon_node``), so the replacements land in the other zones; then this action deletes
the pods. Deleting a pod has no undo of its own — its controller replaces it — so nothing is recorded
in the ledger here; the cordon is undone by the experiment's rollback (replayed by the runner's
run-level ledger entry after a crash).
"""

from __future__ import annotations

from typing import Any

from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, ZONE_LABEL, core_v1


def delete_zone_pods(
    zone: str,
    label_selector: str,
    ns: str = "default",
    zone_label: str = ZONE_LABEL,
    grace_period: int = -1,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delete the pods matching ``label_selector`` in ``ns`` whose node carries ``zone_label=zone``.

    Pods already Terminating are left to finish (a second DELETE would change nothing). An empty
    ``label_selector`` is refused (it would take every pod of the namespace). Returns
    ``{"deleted": [pod names], "nodes": [node names]}``; ActivityFailed when the zone has no node.
    """
    from chaoslib.exceptions import ActivityFailed
    from kubernetes import client

    if not label_selector or not label_selector.strip():
        raise ActivityFailed("delete_zone_pods needs a label_selector: an empty one selects every pod")
    v1 = core_v1(secrets)
    nodes = v1.list_node(label_selector=f"{zone_label}={zone}", _request_timeout=REQUEST_TIMEOUT).items
    node_names = sorted(n.metadata.name for n in nodes)
    if not node_names:
        raise ActivityFailed(f"no node is labelled {zone_label}={zone}")
    pods = v1.list_namespaced_pod(ns, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT).items
    body = client.V1DeleteOptions(grace_period_seconds=grace_period) if grace_period >= 0 else client.V1DeleteOptions()
    deleted = []
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        if pod.spec.node_name in node_names and pod.metadata.deletion_timestamp is None:
            v1.delete_namespaced_pod(pod.metadata.name, ns, body=body, _request_timeout=REQUEST_TIMEOUT)
            deleted.append(pod.metadata.name)
    return {"deleted": deleted, "nodes": node_names}
