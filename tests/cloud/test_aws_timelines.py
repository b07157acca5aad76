"""The AWS experiments' own actions against realistic timelines (botocore Stubber, fake clock).

Each test takes the activity exactly as the shipped experiment declares it (module, function, arguments
after configuration substitution), feeds it the describe responses a real account gives, and checks it
waits for the truth: the figures below are what the drivers measure on these simulated timelines.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosrunner.drivers.aws.capacity import group_health
from tests.cloud import aws_timeline as tl
from tests.cloud.conftest import REPO, activity

EXP = REPO / "experiments" / "aws"
ZONE_A = "pinboard-use1a"


def call(path: Path, name: str, **extra: Any) -> Any:
    """Call the activity like chaoslib does, plus a fake clock when the function takes one."""
    func, args = activity(path, name)
    params = inspect.signature(func).parameters
    args.update({k: v for k, v in extra.items() if k in params})
    if "clock" in params:
        args["clock"] = tl.fake_clock()
    return func(**args)


def _chosen(*ids: str) -> dict[str, Any]:
    return {
        "chaosrunner_targets": [
            {"id": i, "zone": "us-east-1a", "attrs": {"instance_id": i, "asg": ZONE_A}} for i in ids
        ]
    }


# ---- Mon / Fri: Auto Scaling capacity -------------------------------------------------------------
def test_a_group_still_listing_the_shutting_down_victim_is_not_whole() -> None:
    group = tl.asg_group(ZONE_A, 2, [("i-victim", "InService", "Healthy"), ("i-peer", "InService", "Healthy")])
    health = group_health(group, {"i-victim": "running", "i-peer": "running"}, victims=["i-victim"])
    assert not health.whole and health.lingering == ["i-victim"]
    assert not group_health(group, {"i-victim": "shutting-down", "i-peer": "running"}).whole  # victim unknown
    assert group_health(group, {"i-victim": "running", "i-peer": "running"}).whole


@pytest.mark.parametrize(
    ("experiment", "probe"),
    [("mon-instance-kill", "replacement-time"), ("mon-instance-kill", "zone-asg-back-to-desired-capacity")],
)
def test_monday_replacement_is_timed_until_the_victim_left_and_the_new_instance_serves(
    monkeypatch: pytest.MonkeyPatch, experiment: str, probe: str
) -> None:
    _, args = activity(EXP / f"{experiment}.yaml", probe)
    assert [t for t, _, _ in tl.MONDAY_REFILL] == [i * args["poll_s"] for i in range(len(tl.MONDAY_REFILL))]
    with tl.stubbed(monkeypatch) as aws:
        for _, members, states in tl.MONDAY_REFILL:
            tl.queue_group_poll(aws, tl.asg_group(ZONE_A, 2, members), states)
        out = call(EXP / f"{experiment}.yaml", probe, configuration=_chosen("i-victim"))
        aws.assert_done()
    assert out["chaosrunner_figures"]["replacement_time_s"] == 100.0


def test_friday_rollback_waits_for_the_zone_to_refill_after_resuming_launches(monkeypatch: pytest.MonkeyPatch) -> None:
    _, args = activity(EXP / "fri-regional-failover.yaml", "zone-back-to-capacity")
    assert [t for t, _, _ in tl.FRIDAY_REFILL] == [i * args["poll_s"] for i in range(len(tl.FRIDAY_REFILL))]
    with tl.stubbed(monkeypatch) as aws:
        for _, members, states in tl.FRIDAY_REFILL:
            tl.queue_group_poll(aws, tl.asg_group(ZONE_A, 2, members), states)
        out = call(EXP / "fri-regional-failover.yaml", "zone-back-to-capacity", configuration=_chosen("i-a1", "i-a2"))
        aws.assert_done()
    assert out["chaosrunner_figures"]["replacement_time_s"] == 90.0


def test_capacity_that_never_returns_fails_the_rollback_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosrunner.drivers.aws.ec2 import wait_for_asg_capacity

    suspended = tl.asg_group(ZONE_A, 2, [("i-a1", "InService", "Unhealthy"), ("i-a2", "InService", "Unhealthy")])
    with tl.stubbed(monkeypatch) as aws:
        for _ in range(4):  # looks at 0, 10, 20, 30 s
            tl.queue_group_poll(aws, suspended, {"i-a1": "terminated", "i-a2": "terminated"})
        with pytest.raises(ActivityFailed, match=r"whole again.*not reached after 30 s.*0/2 healthy"):
            wait_for_asg_capacity([ZONE_A], timeout_s=30, poll_s=10, clock=tl.fake_clock())
        aws.assert_done()


# ---- Thu: Aurora failover and fail-back ----------------------------------------------------------
def test_thursday_failover_is_timed_until_the_cluster_settles_on_the_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    both = {"pinboard-db-1": "available", "pinboard-db-2": "available"}
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_cluster_view(aws, "available", "pinboard-db-1", both)  # already there?
        tl.queue_cluster_view(aws, "available", "pinboard-db-1", both)  # available: ask
        aws.add(
            "rds",
            "failover_db_cluster",
            {"DBCluster": {"DBClusterIdentifier": "pinboard-db"}},
            {"DBClusterIdentifier": "pinboard-db", "TargetDBInstanceIdentifier": "pinboard-db-2"},
        )
        for _, status, writer, members in tl.FAILOVER_TO_2:
            tl.queue_cluster_view(aws, status, writer, members)
        out = call(EXP / "thu-database-failover.yaml", "failover-to-replica", configuration={})
        aws.assert_done()
    assert out["chaosrunner_figures"] == {"writer_switch_s": 40.0}


def test_thursday_fail_back_waits_for_the_cluster_and_the_old_writer_and_retries_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebooting = {"pinboard-db-1": "rebooting", "pinboard-db-2": "available"}
    both = {"pinboard-db-1": "available", "pinboard-db-2": "available"}
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_cluster_view(aws, "failing-over", "pinboard-db-2", rebooting)  # already there?
        tl.queue_cluster_view(aws, "failing-over", "pinboard-db-2", rebooting)  # t=0: wait
        tl.queue_cluster_view(aws, "available", "pinboard-db-2", rebooting)  # t=5: old writer still rebooting
        tl.queue_cluster_view(aws, "available", "pinboard-db-2", both)  # t=10: ask, refused
        aws.error("rds", "failover_db_cluster", "InvalidDBClusterStateFault", "cluster is not available")
        tl.queue_cluster_view(aws, "available", "pinboard-db-2", both)  # t=15: ask again
        aws.add(
            "rds",
            "failover_db_cluster",
            {"DBCluster": {"DBClusterIdentifier": "pinboard-db"}},
            {"DBClusterIdentifier": "pinboard-db", "TargetDBInstanceIdentifier": "pinboard-db-1"},
        )
        swap = {"pinboard-db-1": "pinboard-db-2", "pinboard-db-2": "pinboard-db-1"}
        for _, status, writer, members in tl.FAILOVER_TO_2:  # the same shape, mirrored
            tl.queue_cluster_view(aws, status, swap[writer], {swap[m]: s for m, s in members.items()})
        out = call(EXP / "thu-database-failover.yaml", "fail-back-to-original-writer", configuration={})
        aws.assert_done()
    assert out["requested"] is True and out["chaosrunner_figures"] == {"failback_s": 40.0}


def test_a_fail_back_while_the_old_writer_is_already_back_only_waits_for_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settling = {"pinboard-db-1": "available", "pinboard-db-2": "rebooting"}
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_cluster_view(aws, "failing-over", "pinboard-db-1", settling)  # already there?
        tl.queue_cluster_view(aws, "failing-over", "pinboard-db-1", settling)  # writer already back: no ask
        tl.queue_cluster_view(aws, "failing-over", "pinboard-db-1", settling)  # t=0 settled?
        tl.queue_cluster_view(
            aws, "available", "pinboard-db-1", {"pinboard-db-1": "available", "pinboard-db-2": "available"}
        )  # t=5
        out = call(EXP / "thu-database-failover.yaml", "fail-back-to-original-writer", configuration={})
        aws.assert_done()  # no failover_db_cluster was queued: asking would have failed the test
    assert out["requested"] is False and out["chaosrunner_figures"] == {"failback_s": 5.0}


def test_a_fail_back_to_a_writer_already_in_place_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_cluster_view(
            aws, "available", "pinboard-db-1", {"pinboard-db-1": "available", "pinboard-db-2": "available"}
        )
        out = call(EXP / "thu-database-failover.yaml", "fail-back-to-original-writer", configuration={})
        aws.assert_done()
    assert out["requested"] is False


# ---- Tue / Wed: SSM ------------------------------------------------------------------------------
SSM_ACTIONS = [
    ("tue-latency", "add-200ms-netem-delay"),
    ("wed-resource-starvation", "start-stress-ng"),
    ("tue-latency", "remove-netem-delay"),
    ("wed-resource-starvation", "stop-stress-ng"),
]


@pytest.mark.parametrize(("experiment", "action"), SSM_ACTIONS)
def test_ssm_fault_is_confirmed_only_once_every_instance_succeeded(
    monkeypatch: pytest.MonkeyPatch, experiment: str, action: str
) -> None:
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_ssm_send(aws, ["i-1", "i-2"])
        tl.queue_ssm_poll(aws, "Pending", 0, {"i-1": None, "i-2": None})
        tl.queue_ssm_poll(aws, "InProgress", 2, {"i-1": ("InProgress", -1, ""), "i-2": ("Pending", -1, "")})
        tl.queue_ssm_poll(aws, "InProgress", 2, {"i-1": ("Success", 0, ""), "i-2": ("InProgress", -1, "")})
        tl.queue_ssm_poll(aws, "Success", 2, {"i-2": ("Success", 0, "")})
        out = call(EXP / f"{experiment}.yaml", action, configuration={"aws_region": tl.REGION})
        aws.assert_done()
    assert out["instances"] == {"i-1": "Success", "i-2": "Success"}
    assert out["confirmed_after_s"] == 6.0


@pytest.mark.parametrize(("experiment", "action"), SSM_ACTIONS[:2])
def test_ssm_script_failing_on_one_instance_fails_the_action(
    monkeypatch: pytest.MonkeyPatch, experiment: str, action: str
) -> None:
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_ssm_send(aws, ["i-1", "i-2"])
        tl.queue_ssm_poll(aws, "Pending", 0, {"i-1": None, "i-2": None})
        tl.queue_ssm_poll(
            aws, "InProgress", 2, {"i-1": ("Success", 0, ""), "i-2": ("Failed", 1, 'Cannot find device "eth0"\n')}
        )
        with pytest.raises(ActivityFailed, match=r'i-2: Failed \(exit code 1\): Cannot find device "eth0"'):
            call(EXP / f"{experiment}.yaml", action, configuration={"aws_region": tl.REGION})
        aws.assert_done()


@pytest.mark.parametrize(("experiment", "action"), SSM_ACTIONS[:2])
def test_ssm_command_that_reached_zero_instances_fails_the_action(
    monkeypatch: pytest.MonkeyPatch, experiment: str, action: str
) -> None:
    with tl.stubbed(monkeypatch) as aws:
        tl.queue_ssm_send(aws, ["i-1", "i-2"])
        tl.queue_ssm_poll(aws, "Success", 0, {})
        with pytest.raises(ActivityFailed, match="on 0 targets"):
            call(EXP / f"{experiment}.yaml", action, configuration={"aws_region": tl.REGION})
        aws.assert_done()


def test_ssm_targets_matching_no_running_instance_send_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with tl.stubbed(monkeypatch) as aws:
        aws.add("ec2", "describe_instances", {"Reservations": []})
        with pytest.raises(ActivityFailed, match="match no running instance"):
            call(EXP / "tue-latency.yaml", "add-200ms-netem-delay", configuration={"aws_region": tl.REGION})
        aws.assert_done()


def test_ssm_instance_without_agent_fails_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosrunner.drivers.aws.ssm import run_shell_script

    with tl.stubbed(monkeypatch) as aws:
        tl.queue_ssm_send(aws, ["i-1", "i-2"])
        tl.queue_ssm_poll(aws, "InProgress", 1, {"i-1": ("Success", 0, ""), "i-2": None})
        for _ in range(5):  # 2, 4, 6, 8, 10 s: SSM never targets i-2
            tl.queue_ssm_poll(aws, "InProgress", 1, {"i-2": None})
        with pytest.raises(ActivityFailed, match=r"not reached after 10 s.*'i-2': 'NotTargeted'"):
            run_shell_script(
                ["true"],
                [{"Key": "tag:aws:autoscaling:groupName", "Values": [ZONE_A]}],
                timeout_s=10,
                poll_s=2,
                clock=tl.fake_clock(),
            )
        aws.assert_done()


def test_ssm_scripts_discover_the_interface_instead_of_assuming_eth0() -> None:
    for name in ("add-200ms-netem-delay", "remove-netem-delay"):
        _, args = activity(EXP / "tue-latency.yaml", name)
        script = "\n".join(args["commands"])
        assert "ip route show default" in script and "eth0" not in script


def test_ssm_throttling_is_looked_at_again_not_taken_for_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosrunner.drivers.aws.ssm import run_shell_script

    with tl.stubbed(monkeypatch) as aws:
        tl.queue_ssm_send(aws, ["i-1"])
        tl.queue_ssm_poll(aws, "InProgress", 1, {})
        aws.error("ssm", "get_command_invocation", "ThrottlingException", "Rate exceeded")
        tl.queue_ssm_poll(aws, "Success", 1, {"i-1": ("Success", 0, "")})
        out = run_shell_script(["true"], [{"Key": "tag:aws:autoscaling:groupName", "Values": [ZONE_A]}],
                               poll_s=2, clock=tl.fake_clock())  # fmt: skip
        aws.assert_done()
    assert out["confirmed_after_s"] == 2.0


def test_a_poll_looks_at_least_once_and_quotes_the_last_state() -> None:
    from chaosrunner.drivers.deadline import Seen, poll

    clock = tl.fake_clock()
    looks: list[float] = []

    def check() -> Seen[str]:
        looks.append(clock.monotonic())
        return Seen(False, f"look {len(looks)}")

    with pytest.raises(ActivityFailed, match=r"the thing: not reached after 0 s; last seen: 'look 1'"):
        poll(check, what="the thing", timeout_s=0, poll_s=1, clock=clock)
    looks.clear()
    with pytest.raises(ActivityFailed, match="look 4"):
        poll(check, what="the thing", timeout_s=3, poll_s=1, clock=clock)
    assert looks == [0.0, 1.0, 2.0, 3.0]  # the last look at the deadline itself
    with pytest.raises(ValueError):
        poll(check, what="x", timeout_s=1, poll_s=0, clock=clock)
