"""A CoreV1 client built the way chaosk8s builds its own, and the request timeout every call passes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REQUEST_TIMEOUT = (3.0, 10.0)  # (connect, read) seconds
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def core_v1(secrets: Mapping[str, Any] | None = None) -> Any:
    from chaosk8s import create_k8s_api_client
    from kubernetes import client

    return client.CoreV1Api(create_k8s_api_client(dict(secrets) if secrets else None))


def is_ready(pod: Any) -> bool:
    """Running, Ready condition True, and not being deleted."""
    if pod.metadata.deletion_timestamp is not None or (pod.status and pod.status.phase != "Running"):
        return False
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
