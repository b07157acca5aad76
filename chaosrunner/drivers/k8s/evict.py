"""Evict pods the way ``kubectl drain`` does: through the eviction API, respecting PodDisruptionBudgets.

chaosk8s ``drain_nodes`` fails on the first eviction a budget refuses (HTTP 429). On a real cluster a
refusal is normal and temporary: the budget allows the next disruption once the previous pod's
replacement is Ready. :func:`evict_pods` keeps asking every ``poll_s`` seconds, within ``timeout_s``, and
then waits until every evicted pod is gone or replaced — so the fault is in place when it returns, and a
budget that never allows it fails the action (fail closed) instead of leaving a half-drained zone unnoticed.
"""

from __future__ import annotations

from typing import Any

from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.rest import ApiException

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll  # generic: no AWS in it
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, ZONE_LABEL, core_v1


def evict_pods(
    label_selector: str,
    ns: str = "default",
    zone: str | None = None,
    zone_label: str = ZONE_LABEL,
    timeout_s: float = 600.0,
    poll_s: float = 5.0,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Evict the pods matching ``label_selector`` (only those on ``zone``'s nodes when given).

    Output: ``{"evicted": [names], "refusals": n, "chaosrunner_figures": {"eviction_time_s": s}}`` —
    ``refusals`` counts the 429s the disruption budgets answered on the way.
    """
    if not label_selector or not label_selector.strip():
        raise ActivityFailed("evict_pods needs a label_selector: an empty one selects every pod")
    v1 = core_v1(secrets)
    nodes: set[str] | None = None
    if zone:
        found = v1.list_node(label_selector=f"{zone_label}={zone}", _request_timeout=REQUEST_TIMEOUT).items
        nodes = {n.metadata.name for n in found}
        if not nodes:
            raise ActivityFailed(f"no node is labelled {zone_label}={zone}")
    pods = v1.list_namespaced_pod(ns, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT).items
    victims = {
        p.metadata.name: p.metadata.uid
        for p in pods
        if p.metadata.deletion_timestamp is None and (nodes is None or p.spec.node_name in nodes)
    }
    if not victims:
        raise ActivityFailed(f"no pod matching {label_selector!r} to evict in {ns}" + (f" on {zone}" if zone else ""))
    pending, refusals = dict(victims), 0

    def ask() -> Seen[list[str]]:
        nonlocal refusals
        for name in sorted(pending):
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
            try:
                v1.create_namespaced_pod_eviction(name, ns, body=body, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as e:
                if e.status == 429:
                    refusals += 1
                    break  # the budget allows nothing more now: ask again after poll_s
                if e.status != 404:
                    raise ActivityFailed(f"eviction of {name} refused ({e.status}): {e.body}") from None
            del pending[name]
        return Seen(not pending, sorted(pending))

    def gone() -> Seen[list[str]]:
        left = []
        for name, uid in victims.items():
            try:
                pod = v1.read_namespaced_pod(name, ns, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as e:
                if e.status == 404:
                    continue
                raise
            if pod.metadata.uid == uid:
                left.append(name)
        return Seen(not left, left)

    asked = poll(ask, what=f"evictions of {sorted(victims)} (refused by a disruption budget)", timeout_s=timeout_s,
                 poll_s=poll_s, clock=clock)  # fmt: skip
    done = poll(gone, what=f"evicted pods {sorted(victims)} to go", timeout_s=max(timeout_s - asked.seconds, 0.0),
                poll_s=poll_s, clock=clock)  # fmt: skip
    return {
        "evicted": sorted(victims),
        "refusals": refusals,
        "chaosrunner_figures": {"eviction_time_s": round(asked.seconds + done.seconds, 3)},
    }
