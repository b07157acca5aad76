"""Realistic AWS timelines, replayed with botocore's ``Stubber`` where moto answers instantly.

moto terminates and refills an Auto Scaling group at once, flips an Aurora writer at once and reports
every SSM command ``Success`` without running it. Real accounts do not; these helpers queue the
sequences of describe responses a real account gives (shutting-down, health-check lag, failing-over,
SSM pending → failed), one poll at a time, so the drivers are tested against the slow truth.

Each poll of a driver makes a fixed sequence of calls; a timeline is the list of what each poll sees,
every ``poll_s`` simulated seconds (a :class:`~chaosrunner.core.clock.FakeClock` makes the sleeps instant).
Stubber is strict: a driver that stops polling early leaves responses pending (``assert_done`` fails),
one that polls too long or asks out of turn gets an error.

The timings (seconds) are typical of us-east-1 and documented in docs/platforms.md:

* EC2 ``shutting-down`` → ``terminated``: ~10–20 s; ASG health check notices a terminated instance
  within ~30 s (EC2 status checks), replacement launch ~10 s later, boot to ``InService`` ~60 s.
* Aurora failover: cluster ``failing-over`` 30–60 s, writer flag moves after ~15–20 s, old writer
  ``rebooting`` until ~35 s.
* SSM: invocations ``Pending`` ~1–2 s, ``InProgress`` while the script runs, then a terminal status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from chaosrunner.core.clock import FakeClock

REGION = "us-east-1"
CMD = "8f2f1c2e-6b0a-4f4e-9a55-0c1d2e3f4a5b"  # SSM command ids are UUIDs (botocore checks the length)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def fake_clock() -> FakeClock:
    return FakeClock(T0)


class StubbedAws:
    """One stubbed client per service, handed to every boto3 session (ours and chaosaws')."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        session = botocore.session.get_session()
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        for service in ("ec2", "autoscaling", "rds", "ssm"):
            c = session.create_client(
                service, region_name=REGION, aws_access_key_id="stub", aws_secret_access_key="stub"
            )
            self.clients[service] = c
            self.stubs[service] = Stubber(c)
            self.stubs[service].activate()
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setattr(boto3.session.Session, "client", lambda _s, service, *a, **kw: self.clients[service])
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    def add(self, service: str, method: str, response: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        self.stubs[service].add_response(method, response, params)

    def error(self, service: str, method: str, code: str, message: str = "") -> None:
        self.stubs[service].add_client_error(
            method, service_error_code=code, service_message=message, http_status_code=400
        )

    def assert_done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@contextmanager
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedAws]:
    aws = StubbedAws(monkeypatch)
    try:
        yield aws
    finally:
        for stub in aws.stubs.values():
            stub.deactivate()


# ---- Auto Scaling groups -------------------------------------------------------------------------
def asg_group(name: str, desired: int, members: list[tuple[str, str, str]]) -> dict[str, Any]:
    """``members``: (instance id, LifecycleState, HealthStatus)."""
    return {
        "AutoScalingGroupName": name,
        "MinSize": desired,
        "MaxSize": desired * 2,
        "DesiredCapacity": desired,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "EC2",
        "CreatedTime": T0,
        "Instances": [
            {
                "InstanceId": iid,
                "AvailabilityZone": "us-east-1a",
                "LifecycleState": life,
                "HealthStatus": health,
                "ProtectedFromScaleIn": False,
            }
            for iid, life, health in members
        ],
    }


def queue_group_poll(aws: StubbedAws, group: dict[str, Any], states: dict[str, str]) -> None:
    """One look of :func:`chaosrunner.drivers.aws.capacity.look` at one group."""
    aws.add(
        "autoscaling",
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [group]},
        {"AutoScalingGroupNames": [group["AutoScalingGroupName"]]},
    )
    members = sorted(i["InstanceId"] for i in group["Instances"])
    if members:
        aws.add(
            "ec2",
            "describe_instances",
            {"Reservations": [{"Instances": [{"InstanceId": i, "State": {"Name": states[i]}} for i in members]}]},
            {"InstanceIds": members},
        )


# (seconds after the kill, [(id, lifecycle, health)], {id: EC2 state}) — one zone group, desired 2, victim i-victim
MONDAY_REFILL: list[tuple[float, list[tuple[str, str, str]], dict[str, str]]] = [
    (
        0,
        [("i-victim", "InService", "Healthy"), ("i-peer", "InService", "Healthy")],
        {"i-victim": "shutting-down", "i-peer": "running"},
    ),
    (
        10,
        [("i-victim", "InService", "Healthy"), ("i-peer", "InService", "Healthy")],
        {"i-victim": "shutting-down", "i-peer": "running"},
    ),
    (
        20,
        [("i-victim", "InService", "Healthy"), ("i-peer", "InService", "Healthy")],
        {"i-victim": "terminated", "i-peer": "running"},
    ),
    (
        30,
        [("i-victim", "Terminating", "Unhealthy"), ("i-peer", "InService", "Healthy")],
        {"i-victim": "terminated", "i-peer": "running"},
    ),
    (
        40,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "pending"},
    ),
    (
        50,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "pending"},
    ),
    (
        60,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "running"},
    ),
    (
        70,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "running"},
    ),
    (
        80,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "running"},
    ),
    (
        90,
        [("i-peer", "InService", "Healthy"), ("i-new", "Pending", "Healthy")],
        {"i-peer": "running", "i-new": "running"},
    ),
    (
        100,
        [("i-peer", "InService", "Healthy"), ("i-new", "InService", "Healthy")],
        {"i-peer": "running", "i-new": "running"},
    ),
]

# Friday: both zone instances terminated while Launch/ReplaceUnhealthy were suspended; the timeline starts
# when the rollback resumes the processes. Until then the dead stay listed InService/Unhealthy.
FRIDAY_REFILL: list[tuple[float, list[tuple[str, str, str]], dict[str, str]]] = [
    (
        0,
        [("i-a1", "InService", "Unhealthy"), ("i-a2", "InService", "Unhealthy")],
        {"i-a1": "terminated", "i-a2": "terminated"},
    ),
    (
        10,
        [("i-a1", "Terminating", "Unhealthy"), ("i-a2", "Terminating", "Unhealthy")],
        {"i-a1": "terminated", "i-a2": "terminated"},
    ),
    (20, [("i-n1", "Pending", "Healthy"), ("i-n2", "Pending", "Healthy")], {"i-n1": "pending", "i-n2": "pending"}),
    *[
        (t, [("i-n1", "Pending", "Healthy"), ("i-n2", "Pending", "Healthy")], {"i-n1": "running", "i-n2": "running"})
        for t in (30, 40, 50, 60, 70)
    ],
    (80, [("i-n1", "InService", "Healthy"), ("i-n2", "Pending", "Healthy")], {"i-n1": "running", "i-n2": "running"}),
    (90, [("i-n1", "InService", "Healthy"), ("i-n2", "InService", "Healthy")], {"i-n1": "running", "i-n2": "running"}),
]


# ---- Aurora --------------------------------------------------------------------------------------
def queue_cluster_view(aws: StubbedAws, status: str, writer: str, members: dict[str, str]) -> None:
    """One :func:`chaosrunner.drivers.aws.rds.view` of ``pinboard-db``."""
    aws.add(
        "rds",
        "describe_db_clusters",
        {
            "DBClusters": [
                {
                    "DBClusterIdentifier": "pinboard-db",
                    "Status": status,
                    "DBClusterMembers": [
                        {"DBInstanceIdentifier": m, "IsClusterWriter": m == writer} for m in sorted(members)
                    ],
                }
            ]
        },
        {"DBClusterIdentifier": "pinboard-db"},
    )
    aws.add(
        "rds",
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": m, "DBInstanceStatus": s} for m, s in sorted(members.items())]},
        {"Filters": [{"Name": "db-cluster-id", "Values": ["pinboard-db"]}]},
    )


# (seconds after the failover request, cluster Status, writer, {member: DBInstanceStatus})
FAILOVER_TO_2: list[tuple[float, str, str, dict[str, str]]] = [
    (0, "failing-over", "pinboard-db-1", {"pinboard-db-1": "available", "pinboard-db-2": "available"}),
    (5, "failing-over", "pinboard-db-1", {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}),
    (10, "failing-over", "pinboard-db-1", {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}),
    (15, "failing-over", "pinboard-db-1", {"pinboard-db-1": "rebooting", "pinboard-db-2": "rebooting"}),
    (20, "failing-over", "pinboard-db-2", {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}),
    (25, "failing-over", "pinboard-db-2", {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}),
    (30, "failing-over", "pinboard-db-2", {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}),
    (35, "failing-over", "pinboard-db-2", {"pinboard-db-1": "available", "pinboard-db-2": "available"}),
    (40, "available", "pinboard-db-2", {"pinboard-db-1": "available", "pinboard-db-2": "available"}),
]


# ---- SSM -----------------------------------------------------------------------------------------
def queue_ssm_poll(aws: StubbedAws, command_status: str, target_count: int, invocations: dict[str, Any]) -> None:
    """One look of :func:`chaosrunner.drivers.aws.ssm.wait_for_invocations`. ``invocations``: instance →
    None (no invocation yet) or (Status, ResponseCode, stderr); only instances not yet ``Success``."""
    aws.add(
        "ssm",
        "list_commands",
        {"Commands": [{"CommandId": CMD, "Status": command_status, "TargetCount": target_count}]},
        {"CommandId": CMD},
    )
    for iid, inv in invocations.items():
        if inv is None:
            aws.error("ssm", "get_command_invocation", "InvocationDoesNotExist")
        else:
            status, code, stderr = inv
            aws.add(
                "ssm",
                "get_command_invocation",
                {
                    "CommandId": CMD,
                    "InstanceId": iid,
                    "Status": status,
                    "ResponseCode": code,
                    "StandardErrorContent": stderr,
                },
                {"CommandId": CMD, "InstanceId": iid},
            )


def queue_ssm_send(aws: StubbedAws, running: list[str], tag: str = "pinboard-use1a") -> None:
    """The target resolution (EC2) and the send itself."""
    aws.add(
        "ec2",
        "describe_instances",
        {"Reservations": [{"Instances": [{"InstanceId": i, "State": {"Name": "running"}} for i in running]}]},
        {
            "Filters": [
                {"Name": "tag:aws:autoscaling:groupName", "Values": [tag]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        },
    )
    aws.add("ssm", "send_command", {"Command": {"CommandId": CMD, "Status": "Pending", "TargetCount": 0}})
