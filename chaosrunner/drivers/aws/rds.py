"""RDS probes: who writes for an Aurora cluster, and how long a failover takes to switch the writer.

What a moto server can and cannot tell (see docs/platforms.md): moto flips ``IsClusterWriter`` at once
on ``failover_db_cluster`` and ignores ``ForceFailover`` on ``reboot_db_instance``; it does not simulate
DNS propagation or client reconnects, so the figure against moto is the API view, not an RTO.
"""

from __future__ import annotations

import time
from typing import Any

from chaosrunner.platforms.aws import client


def cluster_writer(
    db_cluster_identifier: str,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> str:
    """The DB instance identifier that is the cluster's writer ('' when none is)."""
    rds = client("rds", configuration, secrets)
    cluster = rds.describe_db_clusters(DBClusterIdentifier=db_cluster_identifier)["DBClusters"][0]
    for m in cluster.get("DBClusterMembers", []):
        if m.get("IsClusterWriter"):
            return str(m["DBInstanceIdentifier"])
    return ""


def writer_available(
    db_cluster_identifier: str,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """True when the cluster has a writer whose status is ``available`` (the steady state, whoever writes)."""
    writer = cluster_writer(db_cluster_identifier, configuration, secrets)
    if not writer:
        return False
    rds = client("rds", configuration, secrets)
    inst = rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
    return bool(inst.get("DBInstanceStatus", "available") == "available")


def wait_for_writer(
    db_cluster_identifier: str,
    expected_writer: str,
    timeout_s: float = 120.0,
    poll_s: float = 1.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Poll until ``expected_writer`` writes for the cluster and is ``available``.

    Output: ``{"writer": id, "chaosrunner_figures": {"writer_switch_s": seconds}}`` measured from the start
    of this probe; ActivityFailed after ``timeout_s``.
    """
    from chaoslib.exceptions import ActivityFailed

    rds = client("rds", configuration, secrets)
    start = time.monotonic()
    writer = ""
    while True:
        writer = cluster_writer(db_cluster_identifier, configuration, secrets)
        if writer == expected_writer:
            inst = rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
            if inst.get("DBInstanceStatus", "available") == "available":
                return {
                    "writer": writer,
                    "chaosrunner_figures": {"writer_switch_s": round(time.monotonic() - start, 3)},
                }
        if time.monotonic() - start >= timeout_s:
            raise ActivityFailed(
                f"{db_cluster_identifier}: writer is {writer or 'none'}, not {expected_writer}, after {timeout_s:g} s"
            )
        time.sleep(poll_s)
