"""An Availability-Zone network blackhole: a deny-all network ACL on every subnet of one AZ, and its undo.

This is the AWS stand-in for "the AZ is gone" that chaosaws lacks. The fault keeps its own undo data in
AWS, on the blackhole ACL's tags, so a rollback in another process (the watchdog, ``chaosrunner recover``,
a human) can restore the subnets without the ledger:

* ``chaosrunner:blackhole`` = the AZ;
* ``chaosrunner:original:<subnet-id>`` = the network ACL the subnet had before.

Inject: record the undo in the ledger → create the ACL with deny-all rules #1 in both directions → tag it
→ swap every subnet of the AZ onto it. Undo (idempotent): swap each subnet back, delete the ACL.
"""

from __future__ import annotations

from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.platforms.aws import client, tag_dict

UNDO_FROM_ANY_HOST = True  # undos are AWS API calls: `recover --fleet` may run them from any host

FAULT = "aws-az-blackhole"
TAG_AZ = "chaosrunner:blackhole"
TAG_ORIGINAL = "chaosrunner:original:"


def _vpc_id(ec2: Any, vpc_id: str | None, vpc_name: str | None) -> str:
    if vpc_id:
        return vpc_id
    if not vpc_name:
        raise ValueError("give vpc_id or vpc_name")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [vpc_name]}])["Vpcs"]
    if len(vpcs) != 1:
        raise ValueError(f"expected one VPC named {vpc_name!r}, found {len(vpcs)}")
    return str(vpcs[0]["VpcId"])


def _acl_of_subnet(ec2: Any, subnet_id: str) -> tuple[str, str]:
    """(network ACL id, association id) currently protecting ``subnet_id``."""
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
    for acl in acls["NetworkAcls"]:
        for assoc in acl.get("Associations", []):
            if assoc.get("SubnetId") == subnet_id:
                return str(acl["NetworkAclId"]), str(assoc["NetworkAclAssociationId"])
    raise ValueError(f"subnet {subnet_id} has no network ACL association")


def blackhole_az(
    az: str,
    vpc_id: str | None = None,
    vpc_name: str | None = None,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Cut every subnet of ``az`` in the VPC off the network. Returns ``{"nacl_id", "subnets"}``.

    ActivityFailed when the AZ has no subnet in the VPC (nothing to cut: the experiment is wrong).
    """
    from chaoslib.exceptions import ActivityFailed

    ec2 = client("ec2", configuration, secrets, region)
    vpc = _vpc_id(ec2, vpc_id, vpc_name)
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "availability-zone", "Values": [az]}]
    )["Subnets"]
    subnet_ids = sorted(s["SubnetId"] for s in subnets)
    if not subnet_ids:
        raise ActivityFailed(f"VPC {vpc} has no subnet in {az}")
    originals = {sid: _acl_of_subnet(ec2, sid) for sid in subnet_ids}
    region_name = ec2.meta.region_name
    faults.record(
        FAULT, f"{vpc}/{az}", "restore_az_network", {"az": az, "vpc_id": vpc, "region": region_name}, module=__name__
    )
    acl_id = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    tags = [{"Key": TAG_AZ, "Value": az}, {"Key": "Name", "Value": f"chaosrunner-blackhole-{az}"}]
    tags += [{"Key": TAG_ORIGINAL + sid, "Value": acl} for sid, (acl, _) in originals.items()]
    ec2.create_tags(Resources=[acl_id], Tags=tags)
    for egress in (False, True):
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id, RuleNumber=1, Protocol="-1", RuleAction="deny", Egress=egress, CidrBlock="0.0.0.0/0"
        )
    for _, assoc in originals.values():
        ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl_id)
    return {"nacl_id": acl_id, "subnets": subnet_ids, "vpc_id": vpc, "az": az}


def restore_az_network(
    az: str,
    vpc_id: str | None = None,
    vpc_name: str | None = None,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo :func:`blackhole_az`: subnets back on their original ACLs, blackhole ACLs deleted.

    Idempotent — with no blackhole in place it changes nothing. Returns ``{"restored": [subnet ids]}``.
    """
    ec2 = client("ec2", configuration, secrets, region)
    vpc = _vpc_id(ec2, vpc_id, vpc_name)
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    default_acl = next((a["NetworkAclId"] for a in acls if a.get("IsDefault")), None)
    restored: list[str] = []
    for acl in acls:
        tags = tag_dict(acl.get("Tags"))
        if tags.get(TAG_AZ) != az:
            continue
        for assoc in acl.get("Associations", []):
            sid = assoc["SubnetId"]
            back = tags.get(TAG_ORIGINAL + sid) or default_acl
            if back is None:
                raise ValueError(f"no ACL to restore subnet {sid} to")
            ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=back)
            restored.append(sid)
        ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    faults.settle(FAULT, f"{vpc}/{az}")
    return {"restored": sorted(restored), "vpc_id": vpc, "az": az}


def subnets_blackholed(
    vpc_name: str | None = None,
    vpc_id: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> int:
    """How many subnets of the VPC sit on a chaosrunner blackhole ACL (0 in steady state)."""
    ec2 = client("ec2", configuration, secrets)
    vpc = _vpc_id(ec2, vpc_id, vpc_name)
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    return sum(len(a.get("Associations", [])) for a in acls if TAG_AZ in tag_dict(a.get("Tags")))
