"""The pinboard cluster the Kubernetes experiments are written for, loaded into the fake API server.

Namespace ``pinboard``; six nodes, two per zone (us-east-1a/b/c, label topology.kubernetes.io/zone);
the Deployment ``pinboard`` (6 replicas, ReplicaSet ``pinboard-7d9f``: app=pinboard, tier=non-critical,
containers ``pinboard`` and ``envoy``), one pod per node, under a PodDisruptionBudget of maxUnavailable 1;
the database StatefulSet ``pinboard-db``: ``pinboard-db-0`` (role=primary, 1a) and ``pinboard-db-1``
(role=replica, 1b); and one critical ``checkout`` pod per zone (ReplicaSet ``checkout-5c4b``) that no
experiment may touch.
"""

from __future__ import annotations

from tests.cloud.fake_kube import FakeDeployment, FakeKube, FakePDB, PodSet

PINBOARD = {"app": "pinboard", "tier": "non-critical"}

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
NS = "pinboard"


def build(kube: FakeKube) -> None:
    kube.add_deployment(FakeDeployment("pinboard", NS, 6, dict(PINBOARD), ["pinboard", "envoy"]), "pinboard-7d9f")
    kube.add_podset(PodSet("ReplicaSet", "checkout-5c4b", NS, 3, {"app": "checkout", "tier": "critical"}, ["checkout"]))
    kube.add_podset(
        PodSet("StatefulSet", "pinboard-db", NS, 2, {"app": "pinboard-db", "tier": "critical"}, ["postgres"])
    )
    kube.add_pdb(FakePDB("pinboard", NS, dict(PINBOARD), max_unavailable=1))
    for az in ZONES:
        for n in (1, 2):
            kube.add_node(f"node-{az[-1]}{n}", az)
    for az in ZONES:
        for n in (1, 2):
            kube.add_pod(
                f"pinboard-{az[-1]}{n}",
                NS,
                {"app": "pinboard", "tier": "non-critical"},
                f"node-{az[-1]}{n}",
                ["pinboard", "envoy"],
                owner="pinboard-7d9f",
            )
        kube.add_pod(
            f"checkout-{az[-1]}",
            NS,
            {"app": "checkout", "tier": "critical"},
            f"node-{az[-1]}1",
            ["checkout"],
            owner="checkout-5c4b",
        )
    kube.add_pod(
        "pinboard-db-0",
        NS,
        {"app": "pinboard-db", "tier": "critical", "role": "primary"},
        "node-a2",
        ["postgres"],
        owner="pinboard-db",
        owner_kind="StatefulSet",
    )
    kube.add_pod(
        "pinboard-db-1",
        NS,
        {"app": "pinboard-db", "tier": "critical", "role": "replica"},
        "node-b2",
        ["postgres"],
        owner="pinboard-db",
        owner_kind="StatefulSet",
    )
