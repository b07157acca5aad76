"""The pinboard cluster the Kubernetes experiments are written for, loaded into the fake API server.

Namespace ``pinboard``; six nodes, two per zone (us-east-1a/b/c, label topology.kubernetes.io/zone);
six pinboard pods (app=pinboard, tier=non-critical, container ``pinboard``), one per node, owned by a
ReplicaSet; the database ``pinboard-db-0`` (role=primary, 1a) and ``pinboard-db-1`` (role=replica, 1b);
and one critical ``checkout`` pod per zone that no experiment may touch.
"""

from __future__ import annotations

from tests.cloud.fake_kube import FakeKube

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
NS = "pinboard"


def build(kube: FakeKube) -> None:
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
    )
    kube.add_pod(
        "pinboard-db-1",
        NS,
        {"app": "pinboard-db", "tier": "critical", "role": "replica"},
        "node-b2",
        ["postgres"],
        owner="pinboard-db",
    )
