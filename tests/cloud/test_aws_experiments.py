"""The five AWS experiments, run by ``chaosrunner run`` against a moto server, asserting AWS state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cloud import aws_estate
from tests.cloud.conftest import REPO, chaosrunner_run, quick_copy

pytestmark = pytest.mark.slow
EXP = REPO / "experiments" / "aws"
PINBOARD = [{"Name": "tag:service", "Values": ["pinboard"]}]


def test_monday_terminates_one_instance_only_in_the_targeted_zone(aws, state_dirs, tmp_path: Path) -> None:
    before = {i["InstanceId"]: i["Placement"]["AvailabilityZone"] for i in aws_estate.running()}
    code, journal, err = chaosrunner_run(EXP / "mon-instance-kill.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    killed = aws_estate.terminated_ids()
    assert len(killed) == 1
    (victim,) = killed
    assert before[victim] == "us-east-1a"
    assert victim not in aws.checkout.values()
    cr = journal["chaosrunner"]
    assert [t["id"] for t in cr["targets"]] == [victim]
    assert cr["verdict"] == "passed"
    assert cr["figures"]["replacement_time_s"] >= 0
    assert len(aws_estate.running([*PINBOARD, {"Name": "availability-zone", "Values": ["us-east-1a"]}])) == 2


def _ssm_commands() -> list[dict]:
    import boto3

    return boto3.client("ssm", region_name=aws_estate.REGION).list_commands()["Commands"]


def _zone_a_ids() -> set[str]:
    return {
        i["InstanceId"]
        for i in aws_estate.running([{"Name": "tag:aws:autoscaling:groupName", "Values": ["pinboard-use1a"]}])
    }


@pytest.mark.parametrize(
    ("name", "inject", "undo"),
    [
        (
            "tue-latency",
            'tc qdisc replace dev "$IFACE" root netem delay 200ms 20ms',
            'tc qdisc del dev "$IFACE" root 2>/dev/null || true',
        ),
        ("wed-resource-starvation", "--timeout 120s", "pkill -x stress-ng || true"),
    ],
)
def test_ssm_fault_and_its_rollback_are_sent_to_the_zone_asg_only(
    aws, state_dirs, tmp_path: Path, name: str, inject: str, undo: str
) -> None:
    zone_a = _zone_a_ids()
    code, journal, err = chaosrunner_run(quick_copy(EXP / f"{name}.yaml", tmp_path), state_dirs["journals"])
    assert code == 0, err[-3000:]
    cmds = sorted(_ssm_commands(), key=lambda c: c["RequestedDateTime"])
    assert len(cmds) == 2  # the fault, then the rollback
    for cmd, expected in zip(cmds, (inject, undo), strict=True):
        assert cmd["DocumentName"] == "AWS-RunShellScript"
        assert cmd["Targets"] == [{"Key": "tag:aws:autoscaling:groupName", "Values": ["pinboard-use1a"]}]
        assert any(expected in line for line in cmd["Parameters"]["commands"])
        assert cmd["MaxConcurrency"] == "100%" and cmd["MaxErrors"] == "0"
        # moto resolves tag targets itself: only the zone's ASG instances, never checkout or other zones
        assert set(cmd["InstanceIds"]) & zone_a
        assert not set(cmd["InstanceIds"]) & set(aws.checkout.values())
    assert {t["id"] for t in journal["chaosrunner"]["targets"]} == zone_a
    assert journal["chaosrunner"]["verdict"] == "passed"


def test_thursday_switches_the_writer_then_fails_back(aws, state_dirs, tmp_path: Path) -> None:
    from chaosrunner.drivers.aws.rds import cluster_writer

    assert cluster_writer("pinboard-db") == "pinboard-db-1"
    code, journal, err = chaosrunner_run(EXP / "thu-database-failover.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    method = {r["activity"]["name"]: r for r in journal["run"]}
    assert method["failover-to-replica"]["output"]["writer"] == "pinboard-db-2"
    assert method["failover-to-replica"]["output"]["requested"] is True
    figures = journal["chaosrunner"]["figures"]
    assert figures["writer_switch_s"] >= 0 and figures["failback_s"] >= 0
    assert [t["id"] for t in journal["chaosrunner"]["targets"]] == ["pinboard-db-1"]
    assert all(r["status"] == "succeeded" for r in journal["rollbacks"])
    assert cluster_writer("pinboard-db") == "pinboard-db-1"


def test_friday_takes_the_zone_out_and_the_rollbacks_restore_it(aws, state_dirs, tmp_path: Path) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=aws_estate.REGION)
    elb = boto3.client("elbv2", region_name=aws_estate.REGION)
    asg = boto3.client("autoscaling", region_name=aws_estate.REGION)
    zone_a, others = _zone_a_ids(), {i["InstanceId"] for i in aws_estate.running()} - _zone_a_ids()

    code, journal, err = chaosrunner_run(EXP / "fri-regional-failover.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    out = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    # during the fault: the load balancer served b and c only; the zone's subnet sat on a deny-all ACL
    assert out["zones-still-served"] == ["us-east-1b", "us-east-1c"]
    assert out["blackhole-zone-network"]["subnets"] == [aws.subnets["us-east-1a"]]
    # the zone's instances were terminated, and nothing else was
    assert zone_a <= aws_estate.terminated_ids()
    assert not others & aws_estate.terminated_ids()
    # after the rollbacks: subnets, ACLs, ASG processes and capacity are as before
    lb = elb.describe_load_balancers(Names=["pinboard-alb"])["LoadBalancers"][0]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(aws.subnets.values())
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [aws.vpc_id]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in acls] == [aws.default_acl]
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["pinboard-use1a"])["AutoScalingGroups"][0]
    assert group["SuspendedProcesses"] == []
    assert len(_zone_a_ids()) == 2 and not _zone_a_ids() & zone_a
    assert journal["chaosrunner"]["verdict"] == "passed"
    ledger = {e["fault"]: e["outcome"] for e in journal["chaosrunner"]["ledger"]}
    assert ledger["aws-az-blackhole"] == "undone" and ledger["aws-elb-az-removed"] == "undone"
    assert set(ledger.values()) == {"undone"}


def test_a_kill_across_every_zone_is_refused_and_nothing_is_terminated(aws, state_dirs, tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load((EXP / "fri-regional-failover.yaml").read_text())
    doc["extensions"][0]["targets"]["select"] = {"service": "pinboard"}  # all three zones: too wide
    wide = tmp_path / "fri-all-zones.yaml"
    wide.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, journal, _ = chaosrunner_run(wide, state_dirs["journals"])
    assert code == 4
    assert journal["chaosrunner"]["verdict"] == "refused"
    failed = {c["name"] for c in journal["chaosrunner"]["preflight"]["checks"] if not c["ok"]}
    assert failed  # e.g. zones and max_targets
    assert aws_estate.terminated_ids() == set()


@pytest.mark.parametrize("name", ["tue-latency", "wed-resource-starvation"])
def test_an_ssm_fault_that_reaches_no_instance_fails_the_run(aws, state_dirs, tmp_path: Path, name: str) -> None:
    import yaml

    doc = yaml.safe_load(quick_copy(EXP / f"{name}.yaml", tmp_path).read_text())
    for act in doc["method"] + doc["rollbacks"]:  # the tag names a group with no instance
        act["provider"]["arguments"]["targets"] = [{"Key": "tag:aws:autoscaling:groupName", "Values": ["nothing"]}]
    exp = tmp_path / f"{name}-nowhere.yaml"
    exp.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, journal, err = chaosrunner_run(exp, state_dirs["journals"])
    assert code == 1, err[-3000:]
    assert journal["chaosrunner"]["verdict"] == "failed"
    (run,) = journal["run"]
    assert run["status"] == "failed" and "match no running instance" in str(run.get("exception"))
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]  # nothing to undo anywhere
    assert _ssm_commands() == []
