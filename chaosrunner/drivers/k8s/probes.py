"""Kubernetes probes: ready-pod counts, pods per zone, and time-to-recover figures."""

from __future__ import annotations

from typing import Any

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll  # generic: no AWS in it (see its docstring)
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, ZONE_LABEL, core_v1, is_ready


def count_ready_pods(label_selector: str, ns: str = "default", secrets: dict[str, Any] | None = None) -> int:
    """How many pods matching ``label_selector`` in ``ns`` are ready (not terminating)."""
    v1 = core_v1(secrets)
    pods = v1.list_namespaced_pod(ns, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT).items
    return sum(1 for p in pods if is_ready(p))


def count_pods_in_zone(
    label_selector: str,
    zone: str,
    ns: str = "default",
    zone_label: str = ZONE_LABEL,
    secrets: dict[str, Any] | None = None,
) -> int:
    """How many ready pods matching ``label_selector`` run on nodes of ``zone``."""
    v1 = core_v1(secrets)
    nodes = {
        n.metadata.name
        for n in v1.list_node(label_selector=f"{zone_label}={zone}", _request_timeout=REQUEST_TIMEOUT).items
    }
    pods = v1.list_namespaced_pod(ns, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT).items
    return sum(1 for p in pods if is_ready(p) and p.spec.node_name in nodes)


def wait_for_ready_pods(
    label_selector: str,
    count: int,
    ns: str = "default",
    figure: str = "replacement_time_s",
    timeout_s: float = 1800.0,
    poll_s: float = 0.5,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Wait until at least ``count`` pods matching the selector are ready; report the wait as ``figure``.

    Ready means Running, Ready condition True *and not being deleted*: a deleted pod stays listed, and may
    still report Ready, for its whole grace period (30 s by default), so counting it would report the
    recovery before the replacement even started. Measured in seconds from the start of this probe
    (placed right after the fault); ActivityFailed after ``timeout_s`` (default: the practice's 30-minute
    self-healing deadline).
    """

    def check() -> Seen[int]:
        ready = count_ready_pods(label_selector, ns, secrets)
        return Seen(ready >= count, ready)

    what = f"{count} ready pods '{label_selector}' in {ns}"
    waited = poll(check, what=what, timeout_s=timeout_s, poll_s=poll_s, clock=clock)
    return {"ready": waited.value, "chaosrunner_figures": {figure: waited.seconds}}
