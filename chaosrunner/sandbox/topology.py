"""The shape of the sandbox estate, as pure data: regions, zones, instances, tiers, ports.

Three regions of the ``pinboard`` service, one of each type the practice runs:

* ``us-east`` — Full: reads and writes, holds the database primary (``pg-a``); two zones × two instances;
* ``eu-west`` — Read-Only: reads from its local standby (``pg-b``), writes answer 503; two zones × two;
* ``ap-south`` — Lightweight: stateless serving only, no database of its own — writes and reads of pins it
  has not cached go over the inter-region link to the Full region's database; one zone × two instances.

Tiers: the first instance of each region's first zone is ``critical``; the other seven are ``non-critical``.
So a Chaos Monkey experiment scoped to ``tier: non-critical`` must never touch ``pinboard-us-east-a-1``,
``pinboard-eu-west-a-1`` or ``pinboard-ap-south-a-1`` — a blast-radius rule that actually bites.

In front of the service sits a CDN tier for its images: two independent edges from two vendors (``edge-a``
Varnish, the primary CDN; ``edge-b`` nginx, the secondary) behind a steering layer (HAProxy health-checking
both: the GeoDNS/traffic-manager role), each edge reached through a fault-proxy proxy of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chaosrunner.core.ports import free_port

SERVICE = "pinboard"
REGIONS: tuple[tuple[str, str, int], ...] = (  # name, type, zones
    ("us-east", "Full", 2), ("eu-west", "Read-Only", 2), ("ap-south", "Lightweight", 1))
INSTANCES_PER_ZONE = 2
# Where each database node lives (its region): the links that cross regions are what a partition cuts.
NODE_REGION = {"pg-a": "us-east", "pg-b": "eu-west"}
CDN_SERVICE = "pinboard-cdn"  # the CDN tier's service (its targets, its SLO's label)
IMAGES = 50  # the origin's images: /images/0 .. /images/49
CDN_EDGES: tuple[tuple[str, str, str], ...] = (("edge-a", "varnish", "primary"), ("edge-b", "nginx", "secondary"))


@dataclass(frozen=True)
class InstanceSpec:
    id: str
    region: str
    region_type: str
    zone: str
    tier: str
    index: int  # 1-based within its zone

    @property
    def proxy(self) -> str:
        """Name of the fault-proxy proxy in front of this instance (HAProxy → proxy → instance)."""
        return self.id


def instances() -> list[InstanceSpec]:
    out = []
    for region, region_type, zones in REGIONS:
        for z in range(zones):
            zone = f"{region}-{chr(ord('a') + z)}"
            for i in range(1, INSTANCES_PER_ZONE + 1):
                tier = "critical" if (z == 0 and i == 1) else "non-critical"
                out.append(InstanceSpec(f"{SERVICE}-{zone}-{i}", region, region_type, zone, tier, i))
    return out


@dataclass
class Ports:
    """Every TCP port of the estate (all on 127.0.0.1)."""

    haproxy: int
    haproxy_metrics: int
    prometheus: int
    toxiproxy: int
    supervisor: int
    loadgen: int
    pg_primary: int
    pg_standby: int
    db_proxy_primary: int
    db_proxy_standby: int
    cdn: int              # the CDN steering layer: where clients fetch images
    cdn_metrics: int
    repl_proxy_a: int     # replication to pg-a / pg-b when it is the primary (crosses us-east <-> eu-west)
    repl_proxy_b: int
    link_pg_a: int        # the Lightweight region's link to each database node
    link_pg_b: int
    edge: dict[str, int] = field(default_factory=dict)        # each CDN edge's own port
    edge_proxy: dict[str, int] = field(default_factory=dict)  # fault-proxy listener in front of it
    instance: dict[str, int] = field(default_factory=dict)        # direct port of each instance
    instance_proxy: dict[str, int] = field(default_factory=dict)  # fault-proxy listener in front of it

    def all(self) -> list[int]:
        fixed = [v for k, v in asdict(self).items() if isinstance(v, int)]
        return (fixed + list(self.instance.values()) + list(self.instance_proxy.values())
                + list(self.edge.values()) + list(self.edge_proxy.values()))


FIXED_PORTS = ("haproxy", "haproxy_metrics", "prometheus", "toxiproxy", "supervisor", "loadgen",
               "pg_primary", "pg_standby", "db_proxy_primary", "db_proxy_standby", "cdn", "cdn_metrics",
               "repl_proxy_a", "repl_proxy_b", "link_pg_a", "link_pg_b")


def allocate_ports(base_port: int | None = None) -> Ports:
    """Consecutive ports from ``base_port`` (documented order), or free ephemeral ports when None."""
    specs = instances()
    if base_port is None:
        taken: set[int] = set()

        def nxt() -> int:
            while True:
                p = free_port()
                if p not in taken:
                    taken.add(p)
                    return p
    else:
        counter = iter(range(base_port, base_port + 1000))

        def nxt() -> int:
            return next(counter)

    fixed: dict[str, Any] = {name: nxt() for name in FIXED_PORTS}
    ports = Ports(**fixed)
    for spec in specs:
        ports.instance[spec.id] = nxt()
    for spec in specs:
        ports.instance_proxy[spec.id] = nxt()
    for edge, _, _ in CDN_EDGES:
        ports.edge[edge] = nxt()
        ports.edge_proxy[edge] = nxt()
    return ports
