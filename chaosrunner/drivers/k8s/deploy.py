"""Deployment faults (``apps/v1``): wait until a rollout or a scale has really converged.

chaosk8s ``scale_deployment`` and ``rollout_deployment`` return when the API accepted the patch; the
pods change afterwards. :func:`wait_for_rollout` polls the Deployment's status until the controller has
observed the latest generation and every replica is updated, ready and the only ones left — the figure
for a rollout restart or a scale-up, and the rollback's proof that the service is whole.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll  # generic: no AWS in it
from chaosrunner.platforms.k8s import REQUEST_TIMEOUT, core_v1


def rollout_state(deployment: Any) -> tuple[bool, str]:
    """Pure: (converged, one-line state) of a ``V1Deployment``."""
    spec, st, meta = deployment.spec, deployment.status, deployment.metadata
    want = spec.replicas if spec.replicas is not None else 1
    observed = (st.observed_generation or 0) >= (meta.generation or 0)
    updated, ready, total = st.updated_replicas or 0, st.ready_replicas or 0, st.replicas or 0
    done = observed and updated == want and ready == want and total == want
    return done, f"{meta.name}: {updated} updated, {ready} ready, {total} total of {want} (observed={observed})"


def wait_for_rollout(
    name: str,
    ns: str = "default",
    figure: str = "rollout_time_s",
    timeout_s: float = 600.0,
    poll_s: float = 2.0,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Poll until the Deployment has converged; ActivityFailed after ``timeout_s`` seconds."""
    apps = client.AppsV1Api(core_v1(secrets).api_client)

    def check() -> Seen[str]:
        done, state = rollout_state(apps.read_namespaced_deployment(name, ns, _request_timeout=REQUEST_TIMEOUT))
        return Seen(done, state)

    waited = poll(check, what=f"rollout of {ns}/{name}", timeout_s=timeout_s, poll_s=poll_s, clock=clock)
    return {"state": waited.value, "chaosrunner_figures": {figure: waited.seconds}}
