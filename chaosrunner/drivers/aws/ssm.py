"""Shell commands on EC2 instances through SSM, waited for per instance until each one really ran.

``ssm:SendCommand`` only queues a command: it answers at once, whatever happens next. On a real account
the command stays ``Pending``/``InProgress`` for seconds, ends ``Failed`` when the script exits non-zero
(``tc`` missing, no ``eth0`` on Nitro/AL2023 where the interface is ``ens5``), and instances whose SSM
agent is not running are simply not targeted — a tag that resolves to zero managed instances still ends
``Success``. chaosaws' ``send_command`` returns on the queueing, so a fault could be silently absent
while the run said it injected.

:func:`run_shell_script` sends ``AWS-RunShellScript`` (every optional argument given, client timeouts
set), then polls ``get_command_invocation`` for every running instance the targets name, until each
reports ``Success``. It fails (ActivityFailed) on targets matching no running instance, on a command SSM
resolved to zero targets, on any instance ending other than ``Success`` (its exit code and stderr are
quoted), and on instances never targeted before the deadline. The action returns only once the fault is
confirmed on every instance, so the experiment's pause after it is time *with* the fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.exceptions import ActivityFailed

from chaosrunner.core.clock import Clock
from chaosrunner.drivers.deadline import Seen, poll
from chaosrunner.platforms.aws import client

DOCUMENT = "AWS-RunShellScript"
RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
NOT_TARGETED = "NotTargeted"  # our word: SSM has no invocation for the instance (yet)
THROTTLED = "Throttled"  # our word: the API asked us to slow down; look again at the next poll
# The default-route interface (eth0, ens5, ...): shell for scripts that must not assume a name.
DEFAULT_INTERFACE = "$(ip route show default | awk '{print $5; exit}')"


def target_filters(targets: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """SSM ``Targets`` → (EC2 describe filters, explicit instance ids). Pure.

    ``tag:<key>`` and ``tag-key`` targets map to the EC2 filters of the same name; ``InstanceIds`` to ids.
    Anything else (resource groups) cannot be resolved here and is refused: we must know whom to wait for.
    """
    filters: list[dict[str, Any]] = []
    ids: list[str] = []
    for t in targets:
        key, values = str(t.get("Key", "")), [str(v) for v in t.get("Values") or []]
        if not values:
            raise ActivityFailed(f"SSM target {key!r} has no values")
        if key == "InstanceIds":
            ids += values
        elif key.startswith("tag:") or key == "tag-key":
            filters.append({"Name": key, "Values": values})
        else:
            raise ActivityFailed(f"SSM target key {key!r} is not supported: use tag:<key> or InstanceIds")
    return filters, ids


def instances_named(ec2: Any, targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """Running instance ids the SSM targets name, sorted."""
    filters, ids = target_filters(targets)
    flt = [*filters, {"Name": "instance-state-name", "Values": ["running"]}]
    kwargs: dict[str, Any] = {"Filters": flt}
    if ids:
        kwargs["InstanceIds"] = ids
    found = ec2.describe_instances(**kwargs)["Reservations"]
    return sorted(str(i["InstanceId"]) for r in found for i in r["Instances"])


def _invocation(ssm: Any, command_id: str, instance_id: str) -> dict[str, Any]:
    try:
        return dict(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id))
    except ssm.exceptions.InvocationDoesNotExist:
        return {"Status": NOT_TARGETED}
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("ThrottlingException", "TooManyRequestsException"):
            return {"Status": THROTTLED}
        raise


def _failure(instance_id: str, inv: Mapping[str, Any]) -> str:
    stderr = str(inv.get("StandardErrorContent") or "").strip()[-300:]
    head = f"{instance_id}: {inv.get('Status')} (exit code {inv.get('ResponseCode', '?')})"
    return f"{head}: {stderr}" if stderr else head


def wait_for_invocations(
    ssm: Any,
    command_id: str,
    instance_ids: list[str],
    *,
    timeout_s: float,
    poll_s: float,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Poll until every instance's invocation of ``command_id`` is ``Success``. Returns
    ``{"instances": {id: "Success"}, "seconds": s}``; ActivityFailed on a failure, zero targets or timeout."""
    statuses: dict[str, str] = {iid: NOT_TARGETED for iid in instance_ids}

    def check() -> Seen[dict[str, str]]:
        command = ssm.list_commands(CommandId=command_id)["Commands"][0]
        if command.get("Status") not in RUNNING and int(command.get("TargetCount") or 0) == 0:
            raise ActivityFailed(
                f"SSM command {command_id} ended {command.get('Status')} on 0 targets: no instance was reached"
                " (is the SSM agent running and the instance registered?)"
            )
        for iid, status in statuses.items():
            if status == "Success":
                continue
            inv = _invocation(ssm, command_id, iid)
            statuses[iid] = str(inv.get("Status"))
            if statuses[iid] not in RUNNING and statuses[iid] not in (NOT_TARGETED, THROTTLED, "Success"):
                raise ActivityFailed(f"SSM command {command_id} did not run: {_failure(iid, inv)}")
        return Seen(all(s == "Success" for s in statuses.values()), dict(statuses))

    what = f"SSM command {command_id} on {len(instance_ids)} instances ({NOT_TARGETED}: no invocation, agent up?)"
    waited = poll(check, what=what, timeout_s=timeout_s, poll_s=poll_s, clock=clock)
    return {"instances": waited.value, "seconds": waited.seconds}


def run_shell_script(
    commands: list[str],
    targets: list[dict[str, Any]],
    execution_timeout_s: int = 60,
    delivery_timeout_s: int = 60,
    timeout_s: float = 180.0,
    poll_s: float = 2.0,
    max_concurrency: str = "100%",
    max_errors: str = "0",
    allow_no_instances: bool = False,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Run ``commands`` (one shell script) on the instances ``targets`` names; return once all succeeded.

    ``targets`` are SSM targets (``tag:<key>`` / ``InstanceIds``). ``execution_timeout_s`` bounds the
    script on the instance, ``delivery_timeout_s`` SSM's delivery, ``timeout_s`` our whole wait (polling
    every ``poll_s`` s). Output: ``{"command_id", "instances": {id: "Success"}, "confirmed_after_s"}``.
    ``allow_no_instances`` is for rollbacks: when no running instance matches there is nothing to undo,
    and nothing is sent (``{"command_id": None, "instances": {}}``); instances SSM fails to reach still fail.
    """
    ec2 = client("ec2", configuration, secrets, region)
    expected = instances_named(ec2, targets)
    if not expected and allow_no_instances:
        return {"command_id": None, "instances": {}, "confirmed_after_s": 0.0}
    if not expected:
        raise ActivityFailed(f"SSM targets {targets} match no running instance: the command would run nowhere")
    ssm = client("ssm", configuration, secrets, region)
    sent = ssm.send_command(
        DocumentName=DOCUMENT,
        DocumentVersion="$DEFAULT",
        Targets=targets,
        Parameters={"commands": list(commands), "executionTimeout": [str(execution_timeout_s)]},
        TimeoutSeconds=delivery_timeout_s,
        MaxConcurrency=max_concurrency,
        MaxErrors=max_errors,
        Comment="chaosrunner",
    )
    command_id = str(sent["Command"]["CommandId"])
    done = wait_for_invocations(ssm, command_id, expected, timeout_s=timeout_s, poll_s=poll_s, clock=clock)
    return {"command_id": command_id, "instances": done["instances"], "confirmed_after_s": done["seconds"]}
