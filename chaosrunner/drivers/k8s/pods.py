"""chaosk8s pod actions aimed at the runner's chosen pods.

chaosk8s ``terminate_pods`` / ``exec_in_pods`` pick their own random pod among a label selector's
matches; the chaosrunner runner has already chosen, locked and journaled one
(``configuration["chaosrunner_targets"]``). These wrappers call chaosk8s with the same label selector
*plus* a ``name_pattern`` anchored on each chosen pod, so the pod hit is the pod journaled. Under plain
``chaos run`` (no chosen targets) they fall back to chaosk8s' own random pick of ``qty`` pods.

An empty ``label_selector`` is refused: chaosk8s would then pick from every pod of the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def _chosen_pods(configuration: Mapping[str, Any] | None, ns: str) -> list[str]:
    pods = []
    for t in (configuration or {}).get("chaosrunner_targets") or []:
        attrs = t.get("attrs") or {}
        if attrs.get("pod") and attrs.get("namespace", ns) == ns:
            pods.append(str(attrs["pod"]))
    return pods


def _need_selector(label_selector: str | None) -> str:
    from chaoslib.exceptions import ActivityFailed

    if not label_selector or not label_selector.strip():
        raise ActivityFailed("a label_selector is required: an empty one selects every pod of the namespace")
    return label_selector


def terminate_targets(
    label_selector: str,
    ns: str = "default",
    qty: int = 1,
    grace_period: int = -1,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[str]:
    """Delete the chosen pods (else ``qty`` random pods matching the selector); returns their names."""
    from chaosk8s.pod.actions import terminate_pods

    selector = _need_selector(label_selector)
    chosen = _chosen_pods(configuration, ns)
    if not chosen:
        return list(
            terminate_pods(
                label_selector=selector, rand=True, qty=qty, ns=ns, grace_period=grace_period, secrets=secrets
            )
        )
    deleted: list[str] = []
    for pod in chosen:
        deleted += terminate_pods(
            label_selector=selector,
            name_pattern=f"^{re.escape(pod)}$",
            all=True,
            ns=ns,
            grace_period=grace_period,
            secrets=secrets,
        )
    return deleted


def exec_in_targets(
    cmd: list[str],
    label_selector: str,
    container_name: str,
    ns: str = "default",
    qty: int = 1,
    request_timeout: int = 60,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``cmd`` in ``container_name`` of the chosen pods (else ``qty`` random matches).

    ``container_name`` is required: without it chaosk8s silently runs nothing. Blocks until the command
    ends in every pod (chaosk8s behaviour). ActivityFailed when a pod reports a non-zero exit.
    """
    from chaosk8s.pod.actions import exec_in_pods
    from chaoslib.exceptions import ActivityFailed

    selector = _need_selector(label_selector)
    if not container_name:
        raise ActivityFailed("container_name is required: without it chaosk8s runs nothing")
    chosen = _chosen_pods(configuration, ns)
    if chosen:
        results: list[dict[str, Any]] = []
        for pod in chosen:
            results += exec_in_pods(
                cmd=cmd,
                label_selector=selector,
                name_pattern=f"^{re.escape(pod)}$",
                all=True,
                ns=ns,
                container_name=container_name,
                request_timeout=request_timeout,
                secrets=secrets,
            )
    else:
        results = exec_in_pods(
            cmd=cmd,
            label_selector=selector,
            rand=True,
            qty=qty,
            ns=ns,
            container_name=container_name,
            request_timeout=request_timeout,
            secrets=secrets,
        )
    if not results:
        raise ActivityFailed(f"no pod matching {selector!r} has a container named {container_name!r}")
    bad = [r for r in results if r.get("exit_code") not in (0, "0")]
    if bad:
        raise ActivityFailed(f"command failed in {[r['pod_name'] for r in bad]}: {bad[0].get('stderr')}")
    return results
