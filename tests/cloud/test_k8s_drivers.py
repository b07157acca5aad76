"""Our Kubernetes drivers against the faithful fake: they wait for what a real cluster does in time
(Terminating pods still listed and Ready, Pending replacements, budgets refusing evictions, rollouts
converging) and fail with clear errors where it refuses (exec into a deleted pod, non-zero exits)."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed
from kubernetes import client

from chaosrunner.platforms.k8s import core_v1
from tests.cloud.conftest import REPO, activity, wait_until
from tests.cloud.fake_kube import ExecResult, FakeKube
from tests.cloud.k8s_estate import NS

PINBOARD = "app=pinboard,tier=non-critical"


def _chosen(*pods: str) -> dict:
    return {"chaosrunner_targets": [{"id": f"{NS}/{p}", "attrs": {"namespace": NS, "pod": p}} for p in pods]}


def test_a_deleted_pod_still_listed_ready_is_not_counted_as_recovered(kube: FakeKube) -> None:
    from chaosrunner.drivers.k8s.pods import terminate_targets
    from chaosrunner.drivers.k8s.probes import count_pods_in_zone, wait_for_ready_pods

    kube.shutdown_s = 5.0  # the pod takes its time to stop: Terminating, still reporting Ready
    for node in ("node-a1", "node-a2"):  # Friday-like: the zone is cordoned, replacements land elsewhere
        kube.nodes[node].unschedulable = True
    assert terminate_targets(PINBOARD, ns=NS, configuration=_chosen("pinboard-a1")) == ["pinboard-a1"]
    out = wait_for_ready_pods(PINBOARD, 6, ns=NS, timeout_s=5, poll_s=0.05)
    assert out["chaosrunner_figures"]["replacement_time_s"] >= kube.start_s  # the replacement's start, not 0
    victim = kube.pods[(NS, "pinboard-a1")]
    assert victim.terminating and victim.ready  # still there, still "Ready", and not counted
    core_v1().delete_namespaced_pod("pinboard-a2", NS, body=client.V1DeleteOptions())
    assert kube.pods[(NS, "pinboard-a2")].ready
    assert count_pods_in_zone(PINBOARD, "us-east-1a", ns=NS) == 0


def test_plain_chaos_run_never_picks_a_pod_already_terminating(kube: FakeKube) -> None:
    from chaosrunner.drivers.k8s.pods import terminate_targets

    kube.shutdown_s, kube.start_s = 5.0, 5.0
    v1 = core_v1()
    for name in ("pinboard-a1", "pinboard-a2", "pinboard-b1", "pinboard-b2", "pinboard-c1"):
        v1.delete_namespaced_pod(name, NS, body=client.V1DeleteOptions())
    assert terminate_targets(PINBOARD, ns=NS, qty=1) == ["pinboard-c2"]  # the only ready one
    with pytest.raises(ActivityFailed, match="pinboard-a1 is being deleted"):
        terminate_targets(PINBOARD, ns=NS, configuration=_chosen("pinboard-a1"))


def test_a_statefulset_primary_comes_back_under_its_name_as_a_replica(kube: FakeKube) -> None:
    from chaosrunner.drivers.k8s.pods import terminate_targets
    from chaosrunner.drivers.k8s.probes import wait_for_ready_pods

    old_uid = kube.pods[(NS, "pinboard-db-0")].uid
    terminate_targets("app=pinboard-db,role=primary", ns=NS, grace_period=0, configuration=_chosen("pinboard-db-0"))
    failover = wait_for_ready_pods("app=pinboard-db,role=primary", 1, ns=NS, figure="failover_time_s", poll_s=0.05)
    assert failover["chaosrunner_figures"]["failover_time_s"] >= kube.failover_delay_s
    wait_for_ready_pods("app=pinboard-db", 2, ns=NS, timeout_s=5, poll_s=0.05)
    back = kube.pods[(NS, "pinboard-db-0")]
    assert back.uid != old_uid and back.labels["role"] == "replica"
    assert kube.pods[(NS, "pinboard-db-1")].labels["role"] == "primary"


def test_exec_failure_quotes_the_exit_code_and_the_stderr(kube: FakeKube) -> None:
    from chaosrunner.drivers.k8s.pods import exec_in_targets

    kube.exec_results["pinboard-b1"] = ExecResult(
        exit_code=2, stdout="", stderr="RTNETLINK answers: Operation not permitted\n"
    )
    with pytest.raises(ActivityFailed, match=r"exited 2 in \['pinboard-b1'\]: RTNETLINK answers: Operation not perm"):
        exec_in_targets(["sh", "-c", "tc qdisc add"], PINBOARD, "pinboard", ns=NS, configuration=_chosen("pinboard-b1"))
    kube.exec_results.clear()
    out = exec_in_targets(["true"], PINBOARD, "pinboard", ns=NS, every_pod=True)
    assert sorted(r["pod_name"] for r in out) == [p.name for p in kube.pods_matching(NS, PINBOARD)]


@pytest.mark.parametrize("protocols", [("v5.channel.k8s.io", "v4.channel.k8s.io"), ("v4.channel.k8s.io",)])
def test_exec_into_a_pod_deleted_since_it_was_listed_fails_clearly(kube: FakeKube, protocols) -> None:
    from chaosrunner.drivers.k8s.exec import run_in_pod

    kube.exec_protocols = protocols
    v1 = core_v1()
    assert run_in_pod(v1, NS, "pinboard-a1", "pinboard", ["true"]).exit_code == 0
    v1.delete_namespaced_pod("pinboard-a1", NS, body=client.V1DeleteOptions(grace_period_seconds=0))
    with pytest.raises(ActivityFailed, match=r"pinboard-a1: the pod was not found \(404\)"):
        run_in_pod(v1, NS, "pinboard-a1", "pinboard", ["true"])
    with pytest.raises(ActivityFailed, match=r"refused \(400\): container sidecar is not valid"):
        run_in_pod(v1, NS, "pinboard-b1", "sidecar", ["true"])


def test_exec_without_an_exit_status_in_time_fails(kube: FakeKube) -> None:
    from chaosrunner.drivers.k8s.exec import run_in_pod

    kube.exec_result = ExecResult(delay_s=1.0)
    with pytest.raises(ActivityFailed, match=r"no exit status after 0.3 s"):
        run_in_pod(core_v1(), NS, "pinboard-a1", "pinboard", ["sleep", "60"], timeout_s=0.3)


def test_zone_eviction_waits_out_the_disruption_budget(kube: FakeKube) -> None:
    from chaosk8s.node.actions import drain_nodes

    from chaosrunner.drivers.k8s.evict import evict_pods

    out = evict_pods(PINBOARD, ns=NS, zone="us-east-1a", timeout_s=10, poll_s=0.1)
    assert out["evicted"] == ["pinboard-a1", "pinboard-a2"]
    assert out["refusals"] >= 1  # maxUnavailable 1: the second waited for the first's replacement
    assert out["chaosrunner_figures"]["eviction_time_s"] >= kube.start_s
    evictions = [r.path.split("/")[-2] for r in kube.requests_for("POST") if r.path.endswith("/eviction")]
    assert evictions[0] == "pinboard-a1" and evictions[-1] == "pinboard-a2"
    assert {r.status for r in kube.requests_for("POST") if r.path.endswith("/eviction")} == {201, 429}
    # chaosk8s' drain gives up at the first refusal (a budget that allows no disruption at all)
    kube.pdbs[(NS, "pinboard")].max_unavailable = 0
    with pytest.raises(ActivityFailed, match="Failed to evict pod"):
        drain_nodes(name="node-b1", timeout=5)


def test_rollout_restart_is_timed_until_the_deployment_converged(kube: FakeKube) -> None:
    from chaosk8s.deployment.actions import rollout_deployment, scale_deployment

    from chaosrunner.drivers.k8s.deploy import wait_for_rollout

    before = {p.name for p in kube.pods_matching(NS, PINBOARD)}
    rollout_deployment("pinboard", ns=NS)
    out = wait_for_rollout("pinboard", ns=NS, timeout_s=10, poll_s=0.05)
    assert out["chaosrunner_figures"]["rollout_time_s"] >= kube.start_s
    assert not before & {p.name for p in kube.pods_matching(NS, PINBOARD)}
    scale_deployment("pinboard", 8, ns=NS)
    wait_for_rollout("pinboard", ns=NS, timeout_s=10, poll_s=0.05)
    assert sum(p.ready for p in kube.pods_matching(NS, PINBOARD)) == 8
    with pytest.raises(ActivityFailed, match="rollout of pinboard/pinboard: not reached"):
        kube.nodes.clear()  # nowhere to schedule: a scale-up never converges
        scale_deployment("pinboard", 9, ns=NS)
        wait_for_rollout("pinboard", ns=NS, timeout_s=0.3, poll_s=0.05)


EXP = REPO / "experiments" / "k8s"


@pytest.mark.parametrize(
    ("experiment", "rollback"),
    [("tue-latency", "remove-netem-delay-everywhere"), ("wed-resource-starvation", "stop-stress-ng-everywhere")],
)
def test_exec_rollbacks_skip_a_replacement_still_pending(kube: FakeKube, experiment: str, rollback: str) -> None:
    kube.start_s = 5.0
    core_v1().delete_namespaced_pod("pinboard-a1", NS, body=client.V1DeleteOptions(grace_period_seconds=0))
    wait_until(lambda: any(p.phase == "Pending" for p in kube.pods_matching(NS, PINBOARD)), 2, "a Pending pod")
    func, args = activity(EXP / f"{experiment}.yaml", rollback)
    out = func(**args)
    assert len(out) == 5 and all(r["exit_code"] == 0 for r in out)  # the five ready pods; the new one has no fault


@pytest.mark.parametrize(
    ("experiment", "action"),
    [("tue-latency", "add-200ms-netem-delay"), ("wed-resource-starvation", "stress-cpu-and-memory")],
)
def test_exec_faults_that_fail_in_the_pod_fail_the_action_with_its_stderr(
    kube: FakeKube, experiment: str, action: str
) -> None:
    kube.exec_result = ExecResult(exit_code=4, stdout="", stderr="sh: stress-ng: not found\n")
    func, args = activity(EXP / f"{experiment}.yaml", action)
    with pytest.raises(ActivityFailed, match=r"exited 4 in \['pinboard-b2'\]: sh: stress-ng: not found"):
        func(**args, configuration=_chosen("pinboard-b2"))
