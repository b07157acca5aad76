"""EC2 / Auto Scaling activities: terminate the chosen instances, count them, time the replacement.

``terminate_targets`` exists so that the instance chaosaws kills is the one the runner chose, locked and
journaled (``configuration["chaosrunner_targets"]``). Under plain ``chaos run`` there are no chosen
targets and it falls back to chaosaws' ``terminate_instance(az=..., filters=...)`` — one random instance
among those the filters match in that AZ. Termination has no undo: the Auto Scaling group replaces the
instance, and :func:`wait_for_asg_capacity` measures how long that takes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chaosrunner.platforms.aws import client


def _chosen_instance_ids(configuration: Mapping[str, Any] | None, az: str | None) -> list[str]:
    ids = []
    for t in (configuration or {}).get("chaosrunner_targets") or []:
        iid = (t.get("attrs") or {}).get("instance_id")
        if iid and (not az or t.get("zone") == az):
            ids.append(str(iid))
    return ids


def terminate_targets(
    az: str,
    filters: list[dict[str, Any]],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Terminate the runner's chosen instances in ``az`` — else one random instance matching ``filters``.

    Refuses (ActivityFailed) an empty ``filters`` list: "every instance in the AZ" is never meant.
    Returns ``{"terminated": [ids], "az": az}``.
    """
    from chaosaws.ec2.actions import terminate_instance, terminate_instances
    from chaoslib.exceptions import ActivityFailed

    if not filters:
        raise ActivityFailed("terminate_targets needs tag filters: an empty filter would match the whole AZ")
    ids = _chosen_instance_ids(configuration, az)
    if ids:
        terminate_instances(instance_ids=ids, configuration=configuration, secrets=secrets)
        return {"terminated": ids, "az": az}
    out = terminate_instance(az=az, filters=filters, configuration=configuration, secrets=secrets)
    ids = sorted(i["InstanceId"] for r in out for i in r.get("TerminatingInstances", []))
    return {"terminated": ids, "az": az}


def count_running_instances(
    filters: list[dict[str, Any]],
    az: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> int:
    """Number of *instances* (not reservations) in state running that match ``filters`` (and ``az``)."""
    ec2 = client("ec2", configuration, secrets)
    flt = [dict(f) for f in filters] + [{"Name": "instance-state-name", "Values": ["running"]}]
    if az:
        flt.append({"Name": "availability-zone", "Values": [az]})
    count = 0
    for page in ec2.get_paginator("describe_instances").paginate(Filters=flt):
        count += sum(len(r["Instances"]) for r in page["Reservations"])
    return count


def _asg_short(
    asg_names: list[str], configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> dict[str, int]:
    """ASG name → how many InService instances it lacks to reach its desired capacity."""
    asg = client("autoscaling", configuration, secrets)
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=asg_names)["AutoScalingGroups"]
    if len(groups) != len(set(asg_names)):
        missing = set(asg_names) - {g["AutoScalingGroupName"] for g in groups}
        raise ValueError(f"unknown auto scaling groups: {sorted(missing)}")
    return {
        g["AutoScalingGroupName"]: g["DesiredCapacity"]
        - sum(1 for i in g["Instances"] if i["LifecycleState"] == "InService")
        for g in groups
    }


def wait_for_asg_capacity(
    asg_names: list[str],
    timeout_s: float = 1800.0,
    poll_s: float = 2.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Wait until every group has its desired capacity InService; the figure is the wait in seconds.

    Measured from the moment this probe starts (right after the kill in the method), polling every
    ``poll_s`` seconds, giving up after ``timeout_s`` (the practice's 30-minute self-healing deadline by
    default). Output: ``{"recovered": bool, "chaosrunner_figures": {"replacement_time_s": s|None}}``.
    """
    from chaoslib.exceptions import ActivityFailed

    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        short = _asg_short(asg_names, configuration, secrets)
        if all(v <= 0 for v in short.values()):
            elapsed = round(time.monotonic() - start, 3)
            return {"recovered": True, "short": short, "chaosrunner_figures": {"replacement_time_s": elapsed}}
        if time.monotonic() >= deadline:
            raise ActivityFailed(f"auto scaling groups still short of capacity after {timeout_s:g} s: {short}")
        time.sleep(poll_s)
