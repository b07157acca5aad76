"""The five Kubernetes experiments, run by ``chaosrunner run`` against the fake API server, asserting
the exact requests chaosk8s and our drivers sent (selectors, deletions, exec commands, node patches)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cloud.conftest import REPO, chaosrunner_run, quick_copy
from tests.cloud.fake_kube import FakeKube

pytestmark = pytest.mark.slow
EXP = REPO / "experiments" / "k8s"
PODS = "/api/v1/namespaces/pinboard/pods"
PINBOARD = "app=pinboard,tier=non-critical"


def _deleted(kube: FakeKube) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in kube.requests_for("DELETE", PODS + "/")]


def _pod_lists(kube: FakeKube) -> list[str | None]:
    return [r.q("labelSelector") for r in kube.requests if r.method == "GET" and r.path == PODS]


def _execs(kube: FakeKube) -> list[tuple[str, list[str], str | None]]:
    return [
        (r.path.split("/")[-2], r.query.get("command", []), r.q("container"))
        for r in kube.requests
        if r.path.endswith("/exec")
    ]


def test_monday_deletes_exactly_the_chosen_pod_through_a_label_selector(kube: FakeKube, state_dirs) -> None:
    code, journal, err = chaosrunner_run(EXP / "mon-instance-kill.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    (target,) = journal["chaosrunner"]["targets"]
    assert _deleted(kube) == [target["attrs"]["pod"]]
    assert target["labels"] == {"app": "pinboard", "tier": "non-critical"}
    # one unfiltered listing (the inventory's population); every chaosk8s listing carries the selector
    lists = _pod_lists(kube)
    assert lists.count(None) == 1 and set(lists) == {None, PINBOARD}
    assert journal["chaosrunner"]["figures"]["replacement_time_s"] > 0
    assert len(kube.pods_matching("pinboard", PINBOARD)) == 6
    assert journal["chaosrunner"]["verdict"] == "passed"


@pytest.mark.parametrize("name", ["tue-latency", "wed-resource-starvation"])
def test_exec_fault_runs_in_the_chosen_pod_and_the_rollback_in_every_pod(
    kube: FakeKube, state_dirs, tmp_path: Path, name: str
) -> None:
    doc = yaml.safe_load((EXP / f"{name}.yaml").read_text())
    inject = doc["method"][0]["provider"]["arguments"]["cmd"]
    undo = doc["rollbacks"][0]["provider"]["arguments"]["cmd"]
    code, journal, err = chaosrunner_run(quick_copy(EXP / f"{name}.yaml", tmp_path), state_dirs["journals"])
    assert code == 0, err[-3000:]
    (target,) = journal["chaosrunner"]["targets"]
    execs = _execs(kube)
    assert execs[0] == (target["attrs"]["pod"], inject, "pinboard")
    assert sorted(execs[1:]) == sorted((p.name, undo, "pinboard") for p in kube.pods_matching("pinboard", PINBOARD))
    exec_req = next(r for r in kube.requests if r.path.endswith("/exec"))
    assert {k: exec_req.q(k) for k in ("stdout", "stderr", "stdin", "tty")} == {
        "stdout": "true",
        "stderr": "true",
        "stdin": "false",
        "tty": "false",
    }
    assert _deleted(kube) == []
    assert journal["chaosrunner"]["verdict"] == "passed"


def test_thursday_kills_the_primary_and_measures_the_promotion(kube: FakeKube, state_dirs) -> None:
    code, journal, err = chaosrunner_run(EXP / "thu-database-failover.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    assert _deleted(kube) == ["pinboard-db-0"]
    assert "app=pinboard-db,role=primary" in _pod_lists(kube)
    delete = kube.requests_for("DELETE", PODS + "/")[0]
    assert delete.body["gracePeriodSeconds"] == 0
    assert [p.name for p in kube.pods_matching("pinboard", "app=pinboard-db,role=primary")] == ["pinboard-db-1"]
    figures = journal["chaosrunner"]["figures"]
    assert figures["failover_time_s"] > 0 and "rebuild_time_s" in figures
    assert len(kube.pods_matching("pinboard", "app=pinboard-db")) == 2


def test_friday_cordons_the_zone_deletes_its_pods_and_uncordons(kube: FakeKube, state_dirs) -> None:
    code, journal, err = chaosrunner_run(EXP / "fri-regional-failover.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    node_lists = [r.q("labelSelector") for r in kube.requests if r.method == "GET" and r.path == "/api/v1/nodes"]
    assert "topology.kubernetes.io/zone=us-east-1a" in node_lists
    patches = [(r.path.rsplit("/", 1)[1], r.body) for r in kube.requests_for("PATCH", "/api/v1/nodes/")]
    assert patches == [
        ("node-a1", {"spec": {"unschedulable": True}}),
        ("node-a2", {"spec": {"unschedulable": True}}),
        ("node-a1", {"spec": {"unschedulable": False}}),
        ("node-a2", {"spec": {"unschedulable": False}}),
    ]
    assert _deleted(kube) == ["pinboard-a1", "pinboard-a2"]
    assert {t["attrs"]["pod"] for t in journal["chaosrunner"]["targets"]} == {"pinboard-a1", "pinboard-a2"}
    out = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    assert out["pinboard-pods-left-in-zone"] == 0
    survivors = kube.pods_matching("pinboard", PINBOARD)
    assert len(survivors) == 6 and all(not p.node.startswith("node-a") for p in survivors)
    assert journal["chaosrunner"]["figures"]["time_to_recover_s"] > 0
    assert not any(n.unschedulable for n in kube.nodes.values())


def _whole_service_variant(family: str, dest: Path) -> Path:
    """The family with its selector widened to the whole service, every zone, every pod."""
    doc = yaml.safe_load((EXP / f"{family}.yaml").read_text())
    targets = doc["extensions"][0]["targets"]
    targets["select"] = {"service": targets["select"]["service"]}
    targets["pick"] = "all"
    wide = dest / f"{family}-whole-service.yaml"
    wide.write_text(yaml.safe_dump(doc, sort_keys=False))
    return wide


def test_the_whole_service_variant_is_refused_by_run_and_nothing_is_touched(
    kube: FakeKube, state_dirs, tmp_path: Path
) -> None:
    code, journal, _ = chaosrunner_run(_whole_service_variant("mon-instance-kill", tmp_path), state_dirs["journals"])
    assert code == 4
    assert journal["chaosrunner"]["verdict"] == "refused"
    assert any(not c["ok"] for c in journal["chaosrunner"]["preflight"]["checks"])
    assert _deleted(kube) == [] and _execs(kube) == []


@pytest.mark.parametrize(
    "family", ["tue-latency", "wed-resource-starvation", "thu-database-failover", "fri-regional-failover"]
)
def test_the_whole_service_variant_of_every_family_is_refused_by_preflight(
    kube: FakeKube, state_dirs, tmp_path: Path, family: str
) -> None:
    from chaosrunner.experiment.loader import load_experiment
    from chaosrunner.run.plan import build_plan

    plan = build_plan(load_experiment(_whole_service_variant(family, tmp_path)))
    assert plan["preflight"]["allowed"] is False
    assert any(not c["ok"] for c in plan["preflight"]["checks"])
    assert _deleted(kube) == [] and _execs(kube) == [] and kube.requests_for("PATCH") == []


def test_a_latency_fault_that_fails_in_the_pod_fails_the_run_and_is_still_rolled_back(
    kube: FakeKube, state_dirs, tmp_path: Path
) -> None:
    from tests.cloud.fake_kube import ExecResult

    kube.exec_by_command["netem delay"] = ExecResult(
        exit_code=2, stdout="", stderr="Error: Specified qdisc kind is unknown.\n"
    )
    code, journal, err = chaosrunner_run(quick_copy(EXP / "tue-latency.yaml", tmp_path), state_dirs["journals"])
    assert code == 1, err[-3000:]
    assert journal["chaosrunner"]["verdict"] == "failed"
    (run,) = journal["run"]
    assert run["status"] == "failed" and "qdisc kind is unknown" in str(run.get("exception"))
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert len(_execs(kube)) == 1 + 6  # the failed fault, then the rollback in every ready pod
