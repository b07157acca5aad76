"""The pinboard cluster the Kubernetes experiments are written for, loaded into the fake API server.

Namespace ``pinboard``; six nodes, two per zone (us-east-1a/b/c, label topology.kubernetes.io/zone);
the Deployment ``pinboard`` (6 replicas, ReplicaSet ``pinboard-7d9f``: app=pinboard, tier=non-critical,
containers ``pinboard`` and ``envoy``), one pod per node, under a PodDisruptionBudget of maxUnavailable 1;
the database StatefulSet ``pinboard-db``: ``pinboard-db-0`` (role=primary, 1a) and ``pinboard-db-1``
(role=replica, 1b); and one critical ``checkout`` pod per zone (ReplicaSet ``checkout-5c4b``) that no
experiment may touch. :func:`build_cdn` adds the images front the CDN outage steers (edges behind an Ingress).
"""

from __future__ import annotations

from tests.cloud.fake_kube import FakeDeployment, FakeKube, FakePDB, PodSet
from tests.cloud.kube_network import FakeService, ingress

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


EDGES = {"edge-a": ("us-east-1a", "5f7c"), "edge-b": ("us-east-1b", "6d8e")}  # edge → (zone, ReplicaSet hash)
IMAGES_HOST = "images.pinboard.example"


def build_cdn(kube: FakeKube, replicas: int = 2) -> None:
    """The images front (only the CDN tests build it): two edge Deployments, ``edge-a`` on us-east-1a's nodes
    and ``edge-b`` on us-east-1b's (pods app=cdn-edge, edge=a|b, tier=non-critical, container ``varnish``),
    a Service for each, and the Ingress ``images`` (host images.pinboard.example) whose backend is edge-a."""
    for name, (zone, rs_hash) in EDGES.items():
        labels = {"app": "cdn-edge", "edge": name[-1], "tier": "non-critical"}
        kube.add_deployment(FakeDeployment(name, NS, replicas, dict(labels), ["varnish"]), f"{name}-{rs_hash}")
        kube.add_service(FakeService(name, NS, {"app": "cdn-edge", "edge": name[-1]}))
        for n in range(1, replicas + 1):
            node = f"node-{zone[-1]}{(n - 1) % 2 + 1}"
            kube.add_pod(f"{name}-{rs_hash}-{n}", NS, dict(labels), node, ["varnish"], owner=f"{name}-{rs_hash}")
    kube.add_ingress(ingress("images", NS, IMAGES_HOST, "edge-a"))
