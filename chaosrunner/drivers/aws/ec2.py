"""EC2 / Auto Scaling activities: terminate the chosen instances, count them, time the replacement.

``terminate_targets`` exists so that the instance chaosaws kills is the one the runner chose, locked and
journaled (``configuration["chaosrunner_targets"]``). Under plain ``chaos run`` there are no chosen
targets and it falls back to chaosaws' ``terminate_instance(az=..., filters=...)`` — one random instance
among those the filters match in that AZ. Termination has no undo: the Auto Scaling group replaces the
instance, and :func:`wait_for_asg_capacity` measures how long that takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.aws.capacity import wait_until_whole
from chaosrunner.drivers.deadline import Seen, poll
from chaosrunner.platforms.aws import client

GONE = frozenset({"shutting-down", "terminated"})


def _chosen_instance_ids(configuration: Mapping[str, Any] | None, az: str | None) -> list[str]:
    ids = []
    for t in (configuration or {}).get("chaosrunner_targets") or []:
        iid = (t.get("attrs") or {}).get("instance_id")
        if iid and (not az or t.get("zone") == az):
            ids.append(str(iid))
    return ids


def confirm_terminating(
    ec2: Any, instance_ids: list[str], *, timeout_s: float = 60.0, poll_s: float = 2.0, clock: Clock | None = None
) -> float:
    """Poll until every instance is ``shutting-down`` or ``terminated``; seconds waited."""

    def check() -> Seen[dict[str, str]]:
        found = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        states = {str(i["InstanceId"]): str(i["State"]["Name"]) for r in found for i in r["Instances"]}
        return Seen(all(states.get(i) in GONE for i in instance_ids), states)

    return poll(check, what=f"termination of {instance_ids}", timeout_s=timeout_s, poll_s=poll_s, clock=clock).seconds


def terminate_targets(
    az: str,
    filters: list[dict[str, Any]],
    confirm_timeout_s: float = 60.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Terminate the runner's chosen instances in ``az`` — else one random instance matching ``filters``.

    Refuses (ActivityFailed) an empty ``filters`` list: "every instance in the AZ" is never meant, and a
    choice that terminated nothing. Returns once EC2 reports every victim ``shutting-down`` or
    ``terminated`` (within ``confirm_timeout_s``): ``{"terminated": [ids], "az": az}``.
    """
    from chaosaws.ec2.actions import terminate_instance, terminate_instances

    if not filters:
        raise ActivityFailed("terminate_targets needs tag filters: an empty filter would match the whole AZ")
    ids = _chosen_instance_ids(configuration, az)
    if ids:
        terminate_instances(instance_ids=ids, configuration=configuration, secrets=secrets)
    else:
        out = terminate_instance(az=az, filters=filters, configuration=configuration, secrets=secrets)
        ids = sorted(i["InstanceId"] for r in out for i in r.get("TerminatingInstances", []))
    if not ids:
        raise ActivityFailed(f"no instance matching {filters} in {az} was terminated")
    confirm_terminating(client("ec2", configuration, secrets), ids, timeout_s=confirm_timeout_s)
    return {"terminated": ids, "az": az}


def count_running_instances(
    filters: list[dict[str, Any]],
    az: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> int:
    """Number of *instances* (not reservations) in state running that match ``filters`` (and ``az``).

    An instance still ``running`` in EC2 may already be dead to its group; capacity after a fault is
    :func:`wait_for_asg_capacity`'s job."""
    ec2 = client("ec2", configuration, secrets)
    flt = [dict(f) for f in filters] + [{"Name": "instance-state-name", "Values": ["running"]}]
    if az:
        flt.append({"Name": "availability-zone", "Values": [az]})
    count = 0
    for page in ec2.get_paginator("describe_instances").paginate(Filters=flt):
        count += sum(len(r["Instances"]) for r in page["Reservations"])
    return count


def wait_for_asg_capacity(
    asg_names: list[str],
    timeout_s: float = 1800.0,
    poll_s: float = 10.0,
    victims: list[str] | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Wait until every group is whole again (:mod:`.capacity`); the figure is the wait in seconds.

    Whole = no member is dead in EC2 (``shutting-down``/``terminated``: the group has not noticed yet) nor
    one of ``victims`` (instance ids a caller knows it killed), and ``DesiredCapacity`` members are
    InService, Healthy and running. The runner's chosen instances are deliberately *not* assumed dead:
    this also runs as a rollback after a run that stopped before its kill. Measured from the moment this
    probe starts (right after the kill), polling every ``poll_s`` seconds, ActivityFailed after
    ``timeout_s`` (the practice's 30-minute self-healing deadline by default).
    Output: ``{"recovered": true, "groups": [...], "chaosrunner_figures": {"replacement_time_s": s}}``.
    """
    dead = victims or []
    health, seconds = wait_until_whole(
        client("autoscaling", configuration, secrets),
        client("ec2", configuration, secrets),
        asg_names,
        dead,
        timeout_s=timeout_s,
        poll_s=poll_s,
        clock=clock,
    )
    return {
        "recovered": True,
        "groups": health,
        "chaosrunner_figures": {"replacement_time_s": seconds},
    }
