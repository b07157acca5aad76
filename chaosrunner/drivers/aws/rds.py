"""Aurora writer failover, and fail-back, that wait for the cluster instead of racing it.

On AWS ``failover_db_cluster`` answers at once while the cluster is ``failing-over`` for 30–60 s: the
writer flag moves part-way through, the old writer reboots, and a second failover (the fail-back) is
refused (``InvalidDBClusterStateFault``) until the cluster *and* the instance to promote are
``available``. :func:`failover_to` therefore waits for both before asking, retries a refusal within its
deadline, then waits until the target writes for an ``available`` cluster. moto flips the writer at
once (see docs/platforms.md); the figures below are only meaningful against a real cluster or a
replayed timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll
from chaosrunner.platforms.aws import client

REFUSED = frozenset({"InvalidDBClusterStateFault", "InvalidDBInstanceState"})


@dataclass(frozen=True)
class ClusterView:
    status: str  # the cluster's Status: available, failing-over, ...
    writer: str  # '' when no member is flagged writer
    members: dict[str, str]  # member id → DBInstanceStatus

    def settled_on(self, writer: str) -> bool:
        """``writer`` writes, and the cluster and every member are available."""
        return (
            self.writer == writer
            and self.status == "available"
            and all(s == "available" for s in self.members.values())
        )


def view(rds: Any, db_cluster_identifier: str) -> ClusterView:
    cluster = rds.describe_db_clusters(DBClusterIdentifier=db_cluster_identifier)["DBClusters"][0]
    members = cluster.get("DBClusterMembers", [])
    writer = next((str(m["DBInstanceIdentifier"]) for m in members if m.get("IsClusterWriter")), "")
    found = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [db_cluster_identifier]}])
    statuses = {str(d["DBInstanceIdentifier"]): str(d.get("DBInstanceStatus", "")) for d in found["DBInstances"]}
    return ClusterView(
        str(cluster.get("Status", "")), writer, {str(m["DBInstanceIdentifier"]): "" for m in members} | statuses
    )


def cluster_writer(
    db_cluster_identifier: str,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> str:
    """The DB instance identifier that is the cluster's writer ('' when none is)."""
    return view(client("rds", configuration, secrets), db_cluster_identifier).writer


def writer_available(
    db_cluster_identifier: str,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """True when the cluster has a writer and it, the cluster and every member are ``available``."""
    v = view(client("rds", configuration, secrets), db_cluster_identifier)
    return bool(v.writer) and v.settled_on(v.writer)


def failover_to(
    db_cluster_identifier: str,
    target_db_instance_identifier: str,
    figure: str = "writer_switch_s",
    timeout_s: float = 600.0,
    poll_s: float = 5.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Make ``target_db_instance_identifier`` the writer, and return once the cluster has settled on it.

    Idempotent: when the target already writes (settled or still settling) nothing is asked. Otherwise waits
    until the cluster and every member are ``available``, calls ``failover_db_cluster`` (retrying while
    AWS refuses it as the cluster is busy), then waits until the target writes for an available cluster.
    The whole is bounded by ``timeout_s``, polling every ``poll_s`` s. Output: ``{"writer", "requested":
    bool, "chaosrunner_figures": {figure: seconds from the request to the settled cluster}}``.
    """
    rds = client("rds", configuration, secrets)
    target = target_db_instance_identifier
    first = view(rds, db_cluster_identifier)
    if target not in first.members:
        raise ValueError(f"{target} is not a member of {db_cluster_identifier} ({sorted(first.members)})")
    if first.settled_on(target):
        return {"writer": target, "requested": False, "chaosrunner_figures": {figure: 0.0}}

    def ask() -> Seen[str]:
        v = view(rds, db_cluster_identifier)
        if v.writer == target:
            return Seen(True, "already the writer")  # only waiting for the cluster to settle is left
        if v.status != "available" or any(s != "available" for s in v.members.values()):
            return Seen(False, f"cluster {v.status}, members {v.members}")
        try:
            rds.failover_db_cluster(DBClusterIdentifier=db_cluster_identifier, TargetDBInstanceIdentifier=target)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in REFUSED:
                raise
            return Seen(False, f"refused: {e.response['Error'].get('Message', '')}")
        return Seen(True, "requested")

    what = f"{db_cluster_identifier}: failover to {target}"
    before = poll(
        ask, what=f"{what} (waiting for an available cluster)", timeout_s=timeout_s, poll_s=poll_s, clock=clock
    )

    def settled() -> Seen[ClusterView]:
        v = view(rds, db_cluster_identifier)
        return Seen(v.settled_on(target), v)

    after = poll(settled, what=what, timeout_s=max(timeout_s - before.seconds, 0.0), poll_s=poll_s, clock=clock)
    requested = before.value == "requested"
    return {"writer": target, "requested": requested, "chaosrunner_figures": {figure: after.seconds}}


def wait_for_writer(
    db_cluster_identifier: str,
    expected_writer: str,
    timeout_s: float = 120.0,
    poll_s: float = 1.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Poll until ``expected_writer`` writes for the cluster and the cluster and its members are available.

    Output: ``{"writer": id, "chaosrunner_figures": {"writer_switch_s": seconds}}`` measured from the start
    of this probe; ActivityFailed after ``timeout_s``.
    """
    rds = client("rds", configuration, secrets)

    def check() -> Seen[ClusterView]:
        v = view(rds, db_cluster_identifier)
        return Seen(v.settled_on(expected_writer), v)

    waited = poll(
        check,
        what=f"{db_cluster_identifier}: writer {expected_writer}",
        timeout_s=timeout_s,
        poll_s=poll_s,
        clock=clock,
    )
    return {"writer": expected_writer, "chaosrunner_figures": {"writer_switch_s": waited.seconds}}
