"""No fault left behind on AWS: ``kill -9`` of ``chaosrunner run`` in the middle of the Friday zone
failover, and the watchdog restores the network ACLs, the load balancer's zones and the ASG processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from chaosrunner.core import storage
from chaosrunner.faults.ledger import Ledger
from tests.cloud import aws_estate
from tests.cloud.conftest import REPO, VENV_BIN

pytestmark = pytest.mark.slow


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_kill_9_mid_zone_failover_is_reverted_by_the_watchdog(aws, state_dirs, tmp_path: Path) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=aws_estate.REGION)
    elb = boto3.client("elbv2", region_name=aws_estate.REGION)
    asg = boto3.client("autoscaling", region_name=aws_estate.REGION)

    def acls() -> list[str]:
        found = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [aws.vpc_id]}])["NetworkAcls"]
        return sorted(a["NetworkAclId"] for a in found)

    def zones() -> int:
        return len(elb.describe_load_balancers(Names=["pinboard-alb"])["LoadBalancers"][0]["AvailabilityZones"])

    def suspended() -> list[dict]:
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["pinboard-use1a"])["AutoScalingGroups"]
        return list(groups[0]["SuspendedProcesses"])

    doc = yaml.safe_load((REPO / "experiments" / "aws" / "fri-regional-failover.yaml").read_text())
    remove = next(a for a in doc["method"] if a["name"] == "remove-zone-from-load-balancer")
    remove["pauses"] = {"after": 60}  # hold the fault long enough to crash in the middle of it
    exp = tmp_path / "fri-hold.yaml"
    exp.write_text(yaml.safe_dump(doc, sort_keys=False))

    proc = subprocess.Popen(
        [str(VENV_BIN / "chaosrunner"), "run", str(exp), "--journal-dir", str(state_dirs["journals"])],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.monotonic()
    try:
        _wait(lambda: zones() == 2 and len(acls()) == 2 and suspended() != [], 60, "the zone fault to be in place")
        t_inject = time.monotonic()
        print(f"fault in place {t_inject - t0:.1f} s after start")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _wait(
            lambda: acls() == [aws.default_acl] and zones() == 3 and suspended() == [],
            60,
            "the watchdog to restore the zone",
        )
        print(f"restored {time.monotonic() - t_inject:.1f} s after kill -9")
        _wait(lambda: Ledger(storage.state_dir()).open_entries() == [], 30, "the ledger to be closed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert len(aws_estate.running([{"Name": "tag:aws:autoscaling:groupName", "Values": ["pinboard-use1a"]}])) == 2
    closed = Ledger(storage.state_dir())
    run_ids = [p.name for p in closed.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    outcomes = {e.fault: e.outcome for rid in run_ids for e in closed.entries(rid)}
    assert outcomes.get("aws-az-blackhole") == "undone" and outcomes.get("aws-elb-az-removed") == "undone"
