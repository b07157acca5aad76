"""``inventory: aws``: EC2 instances (or RDS DB instances) of one region, as targets.

``targets.options`` (all optional):

* ``region`` — else ``$AWS_REGION`` / ``$AWS_DEFAULT_REGION``;
* ``resource`` — ``ec2`` (default: running instances), ``rds`` (DB instances) or ``cloudfront`` (enabled
  distributions: CloudFront is global, so their region is ``global`` and they have no zone);
* ``filters`` — extra EC2 ``describe_instances`` filters, e.g. ``[{Name: "tag:team", Values: [feed]}]``
  (they narrow the *population*, which the blast-radius percent is computed against);
* ``service_tag`` / ``tier_tag`` — the tags that name a target's service and tier (``service``, ``tier``).

EC2 target: ``id`` = instance id, ``zone`` = AZ, ``region``, ``service``/``tier`` from tags, ``labels`` = the
instance's tags (``aws:autoscaling:groupName`` also as ``asg``), ``attrs`` = ``instance_id``,
``instance_type``, ``subnet_id``, ``vpc_id``, ``private_ip``, ``asg``.
RDS target: ``id`` = DB instance id, ``labels`` = tags plus ``cluster`` and ``role`` (``writer`` / ``reader``
/ ``standalone``), ``attrs`` = ``db_instance_identifier``, ``cluster``, ``engine``.
CloudFront target: ``id`` = distribution id, ``labels`` = tags, ``attrs`` = ``distribution_id``,
``domain_name``, ``status``, ``aliases``.

Every call has the client timeouts of :mod:`chaosrunner.platforms.aws`; an unreachable endpoint
raises botocore's error, which preflight turns into a failed ``inventory`` check (refused, fail closed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaosrunner.core.validation import InvalidInput
from chaosrunner.inventory.base import Target, TargetsSpec
from chaosrunner.platforms.aws import client, region_of, tag_dict


def ec2_targets(
    reservations: list[dict[str, Any]], region: str, service_tag: str = "service", tier_tag: str = "tier"
) -> list[Target]:
    """Pure: ``describe_instances`` reservations → targets (running instances only, sorted by id)."""

    out = []
    for res in reservations:
        for inst in res.get("Instances", []):
            if inst.get("State", {}).get("Name") != "running":
                continue
            tags = tag_dict(inst.get("Tags"))
            labels = {k: v for k, v in tags.items() if not k.startswith("aws:")}
            asg = tags.get("aws:autoscaling:groupName", "")
            if asg:
                labels["asg"] = asg
            out.append(
                Target(
                    id=str(inst["InstanceId"]),
                    service=tags.get(service_tag, ""),
                    region=region,
                    zone=str(inst.get("Placement", {}).get("AvailabilityZone", "")),
                    tier=tags.get(tier_tag, ""),
                    labels=labels,
                    attrs={
                        "instance_id": inst["InstanceId"],
                        "instance_type": inst.get("InstanceType", ""),
                        "subnet_id": inst.get("SubnetId", ""),
                        "vpc_id": inst.get("VpcId", ""),
                        "private_ip": inst.get("PrivateIpAddress", ""),
                        "asg": asg,
                    },
                )
            )
    return sorted(out, key=lambda t: t.id)


def rds_targets(
    instances: list[dict[str, Any]],
    clusters: list[dict[str, Any]],
    region: str,
    service_tag: str = "service",
    tier_tag: str = "tier",
) -> list[Target]:
    """Pure: ``describe_db_instances`` + ``describe_db_clusters`` → targets (sorted by id)."""

    writers = {
        m["DBInstanceIdentifier"]: bool(m.get("IsClusterWriter"))
        for c in clusters
        for m in c.get("DBClusterMembers", [])
    }
    out = []
    for db in instances:
        dbid = str(db["DBInstanceIdentifier"])
        tags = tag_dict(db.get("TagList"))
        cluster = str(db.get("DBClusterIdentifier") or "")
        role = "standalone" if not cluster else ("writer" if writers.get(dbid) else "reader")
        labels = {k: v for k, v in tags.items() if not k.startswith("aws:")}
        labels.update({"cluster": cluster, "role": role})
        out.append(
            Target(
                id=dbid,
                service=tags.get(service_tag, cluster),
                region=region,
                zone=str(db.get("AvailabilityZone") or ""),
                tier=tags.get(tier_tag, ""),
                labels=labels,
                attrs={"db_instance_identifier": dbid, "cluster": cluster, "engine": db.get("Engine", "")},
            )
        )
    return sorted(out, key=lambda t: t.id)


def cloudfront_targets(
    distributions: list[dict[str, Any]],
    tags: dict[str, dict[str, str]],
    service_tag: str = "service",
    tier_tag: str = "tier",
) -> list[Target]:
    """Pure: ``list_distributions`` items + tags by ARN → targets (enabled ones: a disabled distribution is
    already dark, it cannot take the fault), sorted by id."""
    out = []
    for d in distributions:
        if not d.get("Enabled"):
            continue
        labels = {k: v for k, v in tags.get(str(d["ARN"]), {}).items() if not k.startswith("aws:")}
        out.append(
            Target(
                id=str(d["Id"]),
                service=labels.get(service_tag, ""),
                region="global",
                tier=labels.get(tier_tag, ""),
                labels=labels,
                attrs={
                    "distribution_id": d["Id"],
                    "domain_name": d.get("DomainName", ""),
                    "status": d.get("Status", ""),
                    "aliases": list((d.get("Aliases") or {}).get("Items") or []),
                },
            )
        )
    return sorted(out, key=lambda t: t.id)


class AwsInventory:
    def __init__(
        self, region: str | None, resource: str, filters: list[dict[str, Any]], service_tag: str, tier_tag: str
    ) -> None:
        self.region = region
        self.resource = resource
        self.filters = filters
        self.service_tag = service_tag
        self.tier_tag = tier_tag

    def list_targets(self) -> list[Target]:

        region = region_of(None, self.region)
        if self.resource == "cloudfront":
            cf = client("cloudfront", region=region)
            items = [d for p in cf.get_paginator("list_distributions").paginate()
                     for d in p["DistributionList"].get("Items") or []]  # fmt: skip
            tags = {str(d["ARN"]): tag_dict(cf.list_tags_for_resource(Resource=d["ARN"])["Tags"].get("Items"))
                    for d in items if d.get("Enabled")}  # fmt: skip
            return cloudfront_targets(items, tags, self.service_tag, self.tier_tag)
        if self.resource == "rds":
            rds = client("rds", region=region)
            instances = [d for p in rds.get_paginator("describe_db_instances").paginate() for d in p["DBInstances"]]
            clusters = [c for p in rds.get_paginator("describe_db_clusters").paginate() for c in p["DBClusters"]]
            return rds_targets(instances, clusters, region, self.service_tag, self.tier_tag)
        ec2 = client("ec2", region=region)
        flt = [*self.filters, {"Name": "instance-state-name", "Values": ["running"]}]
        reservations = [
            r for p in ec2.get_paginator("describe_instances").paginate(Filters=flt) for r in p["Reservations"]
        ]
        return ec2_targets(reservations, region, self.service_tag, self.tier_tag)


def from_spec(spec: TargetsSpec, experiment_path: Path | None = None) -> AwsInventory:
    """Validate ``targets.options`` for AWS; bad options raise InvalidInput naming the key."""
    opts = dict(spec.options)
    file = experiment_path or "<experiment>"
    key = "extensions[chaosrunner].targets.options"
    problems = []
    unknown = sorted(set(opts) - {"region", "resource", "filters", "service_tag", "tier_tag"})
    if unknown:
        problems.append((f"{key}.{unknown[0]}", "unknown option for inventory aws"))
    resource = str(opts.get("resource", "ec2"))
    if resource not in ("ec2", "rds", "cloudfront"):
        problems.append((f"{key}.resource", "must be ec2, rds or cloudfront"))
    filters = opts.get("filters") or []
    if not isinstance(filters, list) or not all(
        isinstance(f, dict) and isinstance(f.get("Name"), str) and isinstance(f.get("Values"), list) for f in filters
    ):
        problems.append((f"{key}.filters", "must be a list of {Name: str, Values: [str]}"))
    if problems:
        raise InvalidInput(file, problems)
    return AwsInventory(
        opts.get("region"),
        resource,
        list(filters),
        str(opts.get("service_tag", "service")),
        str(opts.get("tier_tag", "tier")),
    )
