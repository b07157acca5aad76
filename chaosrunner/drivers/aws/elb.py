"""Take one Availability Zone out of an application load balancer, and put it back.

chaosaws' ``elbv2.set_subnets`` needs subnet ids, which differ per account and per test run; these
actions take the load balancer's *name* and an *AZ*, compute the subnet list, and call chaosaws'
``set_subnets``. The subnets removed are remembered on the load balancer's tags
(``chaosrunner:removed:<az>`` = subnet id) so the undo works from any process.
"""

from __future__ import annotations

from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.platforms.aws import client, tag_dict

UNDO_FROM_ANY_HOST = True  # undos are AWS API calls: `recover --fleet` may run them from any host

FAULT = "aws-elb-az-removed"
TAG_REMOVED = "chaosrunner:removed:"
MIN_ZONES = 2  # AWS refuses an application load balancer in fewer zones


def _describe(elb: Any, name: str) -> dict[str, Any]:
    lbs = elb.describe_load_balancers(Names=[name])["LoadBalancers"]
    return dict(lbs[0])


def load_balancer_zones(
    load_balancer_name: str,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[str]:
    """The AZs the load balancer currently serves, sorted."""
    elb = client("elbv2", configuration, secrets)
    return sorted(z["ZoneName"] for z in _describe(elb, load_balancer_name)["AvailabilityZones"])


def remove_az_from_load_balancer(
    load_balancer_name: str,
    az: str,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the load balancer's subnets to all but ``az``'s. Returns ``{"zones": [remaining AZs]}``.

    ActivityFailed when the AZ is not served, or when fewer than two zones would remain (AWS requires
    two for an application load balancer; one would leave the service without redundancy).
    """
    from chaosaws.elbv2.actions import set_subnets
    from chaoslib.exceptions import ActivityFailed

    elb = client("elbv2", configuration, secrets, region)
    lb = _describe(elb, load_balancer_name)
    zones = {z["ZoneName"]: z["SubnetId"] for z in lb["AvailabilityZones"]}
    if az not in zones:
        raise ActivityFailed(f"{load_balancer_name} does not serve {az} (serves {sorted(zones)})")
    keep = [sid for zone, sid in sorted(zones.items()) if zone != az]
    if len(keep) < MIN_ZONES:
        raise ActivityFailed(
            f"{load_balancer_name} serves {sorted(zones)}: an application load balancer needs {MIN_ZONES} zones,"
            f" removing {az} would be a full outage"
        )
    faults.record(
        FAULT,
        f"{load_balancer_name}/{az}",
        "restore_az_to_load_balancer",
        {"load_balancer_name": load_balancer_name, "az": az, "region": elb.meta.region_name},
        module=__name__,
    )
    elb.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=[{"Key": TAG_REMOVED + az, "Value": zones[az]}])
    cfg = dict(configuration or {})
    cfg.setdefault("aws_region", elb.meta.region_name)
    set_subnets(load_balancer_names=[load_balancer_name], subnet_ids=keep, configuration=cfg, secrets=secrets)
    return {"zones": sorted(z for z in zones if z != az), "removed_subnet": zones[az]}


def restore_az_to_load_balancer(
    load_balancer_name: str,
    az: str,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo :func:`remove_az_from_load_balancer` (idempotent). Returns ``{"zones": [AZs served]}``."""
    from chaosaws.elbv2.actions import set_subnets

    elb = client("elbv2", configuration, secrets, region)
    lb = _describe(elb, load_balancer_name)
    arn = lb["LoadBalancerArn"]
    tags = tag_dict(elb.describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags"))
    removed = tags.get(TAG_REMOVED + az)
    zones = {z["ZoneName"]: z["SubnetId"] for z in lb["AvailabilityZones"]}
    if removed and az not in zones:
        cfg = dict(configuration or {})
        cfg.setdefault("aws_region", elb.meta.region_name)
        set_subnets(
            load_balancer_names=[load_balancer_name],
            subnet_ids=[*zones.values(), removed],
            configuration=cfg,
            secrets=secrets,
        )
        zones[az] = removed
    if removed:
        elb.remove_tags(ResourceArns=[arn], TagKeys=[TAG_REMOVED + az])
    faults.settle(FAULT, f"{load_balancer_name}/{az}")
    return {"zones": sorted(zones)}
