"""Our AWS drivers against moto: the AZ blackhole and the load-balancer zone removal record their undo
in the ledger before injecting, restore exactly, are idempotent, and refuse what would be an outage."""

from __future__ import annotations

import pytest

from chaosrunner.core import storage
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.undo import revert_open
from tests.cloud import aws_estate

pytestmark = pytest.mark.slow


def _acl_of(ec2, subnet_id: str) -> str:
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
    return acls["NetworkAcls"][0]["NetworkAclId"]


def test_blackhole_cuts_only_the_zone_and_restore_puts_it_back(aws) -> None:
    import boto3

    from chaosrunner.drivers.aws.network import blackhole_az, restore_az_network, subnets_blackholed

    ec2 = boto3.client("ec2", region_name=aws_estate.REGION)
    out = blackhole_az("us-east-1b", vpc_name="pinboard-vpc")
    assert out["subnets"] == [aws.subnets["us-east-1b"]]
    acl = ec2.describe_network_acls(NetworkAclIds=[out["nacl_id"]])["NetworkAcls"][0]
    denies = {(e["Egress"], e["RuleNumber"], e["RuleAction"], e["CidrBlock"]) for e in acl["Entries"]}
    assert {(False, 1, "deny", "0.0.0.0/0"), (True, 1, "deny", "0.0.0.0/0")} <= denies
    assert _acl_of(ec2, aws.subnets["us-east-1b"]) == out["nacl_id"]
    assert _acl_of(ec2, aws.subnets["us-east-1a"]) == aws.default_acl
    assert subnets_blackholed(vpc_name="pinboard-vpc") == 1
    (entry,) = Ledger(storage.state_dir()).open_entries("adhoc")
    assert (entry.fault, entry.target) == ("aws-az-blackhole", f"{aws.vpc_id}/us-east-1b")
    assert entry.undo["func"] == "restore_az_network" and entry.undo["arguments"]["region"] == "us-east-1"

    assert restore_az_network("us-east-1b", vpc_name="pinboard-vpc")["restored"] == [aws.subnets["us-east-1b"]]
    assert _acl_of(ec2, aws.subnets["us-east-1b"]) == aws.default_acl
    assert subnets_blackholed(vpc_name="pinboard-vpc") == 0
    assert Ledger(storage.state_dir()).open_entries() == []
    assert restore_az_network("us-east-1b", vpc_name="pinboard-vpc")["restored"] == []  # idempotent


def test_a_crashed_blackhole_is_reverted_from_the_ledger_alone(aws) -> None:
    import boto3

    from chaosrunner.drivers.aws.network import blackhole_az

    ec2 = boto3.client("ec2", region_name=aws_estate.REGION)
    blackhole_az("us-east-1a", vpc_name="pinboard-vpc")
    boto3.DEFAULT_SESSION = None  # as in a fresh recovering process
    outcomes = revert_open(Ledger(storage.state_dir()))
    assert [o.outcome for o in outcomes] == ["undone"]
    assert _acl_of(ec2, aws.subnets["us-east-1a"]) == aws.default_acl
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [aws.vpc_id]}])["NetworkAcls"]
    assert len(acls) == 1


def test_load_balancer_zone_removal_and_restore(aws) -> None:
    from chaosrunner.drivers.aws.elb import (
        load_balancer_zones,
        remove_az_from_load_balancer,
        restore_az_to_load_balancer,
    )

    assert remove_az_from_load_balancer("pinboard-alb", "us-east-1c")["zones"] == ["us-east-1a", "us-east-1b"]
    assert load_balancer_zones("pinboard-alb") == ["us-east-1a", "us-east-1b"]
    assert [e.fault for e in Ledger(storage.state_dir()).open_entries()] == ["aws-elb-az-removed"]
    assert restore_az_to_load_balancer("pinboard-alb", "us-east-1c")["zones"] == list(aws_estate.ZONES)
    assert load_balancer_zones("pinboard-alb") == list(aws_estate.ZONES)
    assert Ledger(storage.state_dir()).open_entries() == []
    assert restore_az_to_load_balancer("pinboard-alb", "us-east-1c")["zones"] == list(aws_estate.ZONES)


def test_leaving_a_load_balancer_with_one_zone_is_refused(aws) -> None:
    from chaoslib.exceptions import ActivityFailed

    from chaosrunner.drivers.aws.elb import load_balancer_zones, remove_az_from_load_balancer

    remove_az_from_load_balancer("pinboard-alb", "us-east-1a")
    with pytest.raises(ActivityFailed, match="full outage"):
        remove_az_from_load_balancer("pinboard-alb", "us-east-1b")
    assert load_balancer_zones("pinboard-alb") == ["us-east-1b", "us-east-1c"]
    assert len(Ledger(storage.state_dir()).open_entries()) == 1  # the refused call recorded nothing
    with pytest.raises(ActivityFailed, match="does not serve"):
        remove_az_from_load_balancer("pinboard-alb", "us-east-1a")


def test_terminate_targets_hits_the_chosen_instance_and_refuses_empty_filters(aws) -> None:
    from chaoslib.exceptions import ActivityFailed

    from chaosrunner.drivers.aws.ec2 import count_running_instances, terminate_targets

    flt = [{"Name": "tag:service", "Values": ["pinboard"]}]
    victim = aws_estate.running([*flt, {"Name": "availability-zone", "Values": ["us-east-1b"]}])[0]["InstanceId"]
    chosen = [{"id": victim, "zone": "us-east-1b", "attrs": {"instance_id": victim}}]
    out = terminate_targets("us-east-1b", flt, configuration={"aws_region": "us-east-1", "chaosrunner_targets": chosen})
    assert out["terminated"] == [victim]
    assert aws_estate.terminated_ids() == {victim}
    with pytest.raises(ActivityFailed, match="tag filters"):
        terminate_targets("us-east-1b", [], configuration={"aws_region": "us-east-1"})
    assert count_running_instances(flt) == 6  # the ASG replaced it; reservations are not instances


def test_aws_inventory_lists_running_instances_and_db_roles(aws) -> None:
    from chaosrunner.inventory.aws import from_spec
    from chaosrunner.inventory.base import TargetsSpec, select

    ec2 = from_spec(TargetsSpec(inventory="aws", select={"service": "pinboard"}, options={})).list_targets()
    assert len(ec2) == 9
    matching, chosen = select(ec2, {"service": "pinboard", "zone": "us-east-1a"}, 1)
    assert len(matching) == 2 and chosen[0].labels["asg"] == "pinboard-use1a"
    assert chosen[0].attrs["instance_id"] == chosen[0].id and chosen[0].region == "us-east-1"
    assert {t.tier for t in ec2 if t.service == "checkout"} == {"critical"}
    dbs = from_spec(TargetsSpec(inventory="aws", select={"service": "pinboard-db"}, options={"resource": "rds"}))
    roles = {t.id: (t.labels["role"], t.zone, t.service) for t in dbs.list_targets()}
    assert roles == {
        "pinboard-db-1": ("writer", "us-east-1a", "pinboard-db"),
        "pinboard-db-2": ("reader", "us-east-1b", "pinboard-db"),
    }
