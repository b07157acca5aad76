"""When is an Auto Scaling group whole again after instances were terminated? The truth, not the echo.

On AWS a terminated instance is ``shutting-down`` for a while, and its group keeps listing it
``InService``/``Healthy`` until the group's next health check notices (with ``ReplaceUnhealthy``
suspended it stays listed, ``Unhealthy``, until the process resumes). Counting ``InService`` members
therefore reports "recovered" before the group has even noticed the loss.

A group is *whole* when (1) none of the terminated instances (the victims, when known) and no member
whose EC2 state is not ``pending``/``running`` is still listed, and (2) at least ``DesiredCapacity``
members are ``InService``, ``Healthy`` and EC2 ``running``. :func:`group_health` is that rule, pure;
:func:`wait_until_whole` polls it with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll

ALIVE = frozenset({"pending", "running"})


@dataclass(frozen=True)
class GroupHealth:
    name: str
    desired: int
    healthy: int
    lingering: list[str] = field(default_factory=list)  # victims or dead instances still listed

    @property
    def whole(self) -> bool:
        return self.healthy >= self.desired and not self.lingering

    def __str__(self) -> str:
        gone = f", still listed: {','.join(self.lingering)}" if self.lingering else ""
        return f"{self.name} {self.healthy}/{self.desired} healthy{gone}"


def group_health(group: Mapping[str, Any], ec2_states: Mapping[str, str], victims: Iterable[str] = ()) -> GroupHealth:
    """Pure: one ``describe_auto_scaling_groups`` group + EC2 states of its members → its health."""
    victim_set = set(victims)
    healthy, lingering = 0, []
    for inst in group.get("Instances", []):
        iid = str(inst["InstanceId"])
        state = ec2_states.get(iid, "unknown")
        if iid in victim_set or state not in ALIVE:
            lingering.append(iid)
        elif (
            inst.get("LifecycleState") == "InService"
            and inst.get("HealthStatus", "Healthy") == "Healthy"
            and state == "running"
        ):
            healthy += 1
    return GroupHealth(str(group["AutoScalingGroupName"]), int(group["DesiredCapacity"]), healthy, sorted(lingering))


def look(asg: Any, ec2: Any, asg_names: list[str], victims: Iterable[str] = ()) -> list[GroupHealth]:
    """One look: describe the groups, then the EC2 state of every member (terminated ones stay visible)."""
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=asg_names)["AutoScalingGroups"]
    missing = set(asg_names) - {g["AutoScalingGroupName"] for g in groups}
    if missing:
        raise ValueError(f"unknown auto scaling groups: {sorted(missing)}")
    members = sorted({str(i["InstanceId"]) for g in groups for i in g.get("Instances", [])})
    states: dict[str, str] = {}
    if members:
        for res in ec2.describe_instances(InstanceIds=members)["Reservations"]:
            for inst in res["Instances"]:
                states[str(inst["InstanceId"])] = str(inst["State"]["Name"])
    return [group_health(g, states, victims) for g in sorted(groups, key=lambda g: g["AutoScalingGroupName"])]


def wait_until_whole(
    asg: Any,
    ec2: Any,
    asg_names: list[str],
    victims: Iterable[str] = (),
    *,
    timeout_s: float,
    poll_s: float,
    clock: Clock | None = None,
) -> tuple[list[str], float]:
    """Poll until every group is whole; (the last look, one line per group; seconds waited).
    ActivityFailed at the deadline, quoting the last look."""
    victim_list = sorted(set(victims))

    def check() -> Seen[list[str]]:
        health = look(asg, ec2, asg_names, victim_list)
        return Seen(all(h.whole for h in health), [str(h) for h in health])

    waited = poll(
        check, what=f"auto scaling groups {asg_names} whole again", timeout_s=timeout_s, poll_s=poll_s, clock=clock
    )
    return waited.value, waited.seconds
