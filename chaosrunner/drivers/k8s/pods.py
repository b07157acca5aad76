"""Pod faults aimed at the runner's chosen pods, confirmed before they return.

chaosk8s ``terminate_pods`` picks its own random pod among a label selector's matches; the chaosrunner
runner has already chosen, locked and journaled one (``configuration["chaosrunner_targets"]``).
:func:`terminate_targets` lists the label selector's pods and deletes exactly the chosen ones, so the pod
hit is the pod journaled. Under plain ``chaos run`` (no chosen targets) it picks ``qty`` random pods —
among *ready* pods only: a listed pod may already be Terminating (it stays listed for its whole grace
period) and deleting it again would inject nothing.

Both actions return only once the fault is in place: the deleted pods are gone, Terminating or replaced
(new uid), and the command exited 0 in every pod (:mod:`.exec`). An empty ``label_selector`` is refused:
chaosk8s would then pick from every pod of the namespace.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.rest import ApiException

from chaosrunner.drivers.k8s.exec import run_in_pod
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, core_v1, is_ready


def _chosen_pods(configuration: Mapping[str, Any] | None, ns: str) -> list[str]:
    pods = []
    for t in (configuration or {}).get("chaosrunner_targets") or []:
        attrs = t.get("attrs") or {}
        if attrs.get("pod") and attrs.get("namespace", ns) == ns:
            pods.append(str(attrs["pod"]))
    return pods


def _need_selector(label_selector: str | None) -> str:
    if not label_selector or not label_selector.strip():
        raise ActivityFailed("a label_selector is required: an empty one selects every pod of the namespace")
    return label_selector


def _targets(v1: Any, ns: str, selector: str, chosen: list[str], qty: int, every_pod: bool = False) -> list[Any]:
    """The pods to hit: the chosen ones (each must be ready), else ``qty`` random ready matches (or all)."""
    listed = v1.list_namespaced_pod(ns, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
    ready = sorted((p for p in listed if is_ready(p)), key=lambda p: p.metadata.name)
    if not chosen:
        return ready if every_pod else random.sample(ready, min(qty, len(ready)))
    by_name = {p.metadata.name: p for p in listed}
    for name in chosen:
        pod = by_name.get(name)
        if pod is None:
            raise ActivityFailed(f"chosen pod {name} no longer matches {selector!r} in {ns} (deleted?)")
        if not is_ready(pod):
            state = "being deleted" if pod.metadata.deletion_timestamp else f"not ready ({pod.status.phase})"
            raise ActivityFailed(f"chosen pod {name} is {state}: the fault would not land")
    return [by_name[n] for n in chosen]


def _confirm_deleted(v1: Any, ns: str, before: Mapping[str, str]) -> None:
    """Each pod (name → uid before) is gone, Terminating, or replaced under its name (StatefulSet)."""
    for name, uid in before.items():
        try:
            pod = v1.read_namespaced_pod(name, ns, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as e:
            if e.status == 404:
                continue
            raise
        if pod.metadata.uid == uid and pod.metadata.deletion_timestamp is None:
            raise ActivityFailed(f"pod {name} was asked to be deleted but is neither gone nor terminating")


def terminate_targets(
    label_selector: str,
    ns: str = "default",
    qty: int = 1,
    grace_period: int = -1,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[str]:
    """Delete the chosen pods (else ``qty`` random ready matches); returns their names once the API shows
    each one gone, Terminating or replaced. ActivityFailed when there is nothing ready to delete.

    The DELETE is the one chaosk8s ``terminate_pods`` sends (``V1DeleteOptions``, with
    ``gracePeriodSeconds`` when ``grace_period`` >= 0), plus a request timeout."""
    selector = _need_selector(label_selector)
    v1 = core_v1(secrets)
    pods = _targets(v1, ns, selector, _chosen_pods(configuration, ns), qty)
    if not pods:
        raise ActivityFailed(f"no ready pod matches {selector!r} in {ns}: nothing to terminate")
    body = client.V1DeleteOptions(grace_period_seconds=grace_period) if grace_period >= 0 else client.V1DeleteOptions()
    for pod in pods:
        v1.delete_namespaced_pod(pod.metadata.name, ns, body=body, _request_timeout=REQUEST_TIMEOUT)
    _confirm_deleted(v1, ns, {p.metadata.name: p.metadata.uid for p in pods})
    return [p.metadata.name for p in pods]


def exec_in_targets(
    cmd: list[str],
    label_selector: str,
    container_name: str,
    ns: str = "default",
    qty: int = 1,
    every_pod: bool = False,
    request_timeout: int = 60,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``cmd`` in ``container_name`` of the chosen pods (else ``qty`` random ready matches, or every
    ready match with ``every_pod`` — for rollbacks); returns once it exited 0 in each.

    ``container_name`` is required. Waits up to ``request_timeout`` seconds per pod. ActivityFailed when
    no selected pod has the container, when the API refuses the exec (pod deleted since it was chosen,
    pod not running), on a non-zero exit (its code and stderr quoted), or when no exit status arrives.
    """
    selector = _need_selector(label_selector)
    if not container_name:
        raise ActivityFailed("container_name is required: without it chaosk8s runs nothing")
    v1 = core_v1(secrets)
    chosen = [] if every_pod else _chosen_pods(configuration, ns)
    pods = [
        p
        for p in _targets(v1, ns, selector, chosen, qty, every_pod)
        if any(c.name == container_name for c in p.spec.containers)
    ]
    if not pods:
        raise ActivityFailed(f"no ready pod matching {selector!r} has a container named {container_name!r}")
    results = [run_in_pod(v1, ns, p.metadata.name, container_name, cmd, request_timeout) for p in pods]
    bad = [r for r in results if r.exit_code != 0]
    if bad:
        first = bad[0]
        why = (first.stderr.strip() or first.message)[-300:]
        raise ActivityFailed(f"command exited {first.exit_code} in {[r.pod_name for r in bad]}: {why}")
    return [r.as_dict() for r in results]
