"""The shape of the sandbox estate, as pure data: regions, zones, instances, tiers, ports.

Two regions — ``us-east`` (type Full: reads and writes) and ``eu-west`` (type Read-Only: reads from the
standby, writes answer 503) — × two zones × two instances of the ``pinboard`` service. Tiers: the first
instance of each region's first zone is ``critical``; the other six are ``non-critical``. So a Chaos
Monkey experiment scoped to ``tier: non-critical`` has six candidates and must never touch
``pinboard-us-east-a-1`` or ``pinboard-eu-west-a-1`` — a blast-radius rule that actually bites.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chaosrunner.core.ports import free_port

SERVICE = "pinboard"
REGIONS: tuple[tuple[str, str], ...] = (("us-east", "Full"), ("eu-west", "Read-Only"))
ZONES_PER_REGION = 2
INSTANCES_PER_ZONE = 2


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
    for region, region_type in REGIONS:
        for z in range(ZONES_PER_REGION):
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
    instance: dict[str, int] = field(default_factory=dict)        # direct port of each instance
    instance_proxy: dict[str, int] = field(default_factory=dict)  # fault-proxy listener in front of it

    def all(self) -> list[int]:
        fixed = [v for k, v in asdict(self).items() if isinstance(v, int)]
        return fixed + list(self.instance.values()) + list(self.instance_proxy.values())


FIXED_PORTS = ("haproxy", "haproxy_metrics", "prometheus", "toxiproxy", "supervisor", "loadgen",
               "pg_primary", "pg_standby", "db_proxy_primary", "db_proxy_standby")


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
    return ports
