"""The shipped catalog: every AWS/K8s experiment is a valid Chaos Toolkit experiment (`chaos validate`)
and a valid chaosrunner experiment (`chaosrunner validate`), with targets, a blast radius and a rollback for
every action."""

from __future__ import annotations

import subprocess

import pytest

from chaosrunner.core.validation import InvalidInput
from chaosrunner.inventory.base import TargetsSpec
from tests.cloud.conftest import REPO, VENV_BIN

FAMILIES = (
    "mon-instance-kill",
    "tue-latency",
    "wed-resource-starvation",
    "thu-database-failover",
    "fri-regional-failover",
)
SCENARIOS = ("cdn-outage",)  # game-day scenarios, beside the weekly families
FILES = [REPO / "experiments" / p / f"{f}.yaml" for p in ("aws", "k8s") for f in (*FAMILIES, *SCENARIOS)]


def test_every_cloud_experiment_is_in_the_catalog() -> None:
    for platform in ("aws", "k8s"):
        shipped = {p for p in (REPO / "experiments" / platform).glob("*.yaml")}
        assert shipped == {f for f in FILES if f.parent.name == platform}, "a new experiment is not tested here"


def test_chaos_validate_accepts_every_cloud_experiment() -> None:
    """chaoslib's own validation (what `chaos validate` runs) on every file, in-process; and the real
    `chaos validate` CLI on one file per platform (each CLI run costs seconds of imports)."""
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    for f in FILES:
        ensure_experiment_is_valid(load_experiment(str(f)))
    cli = [FILES[0], FILES[-1]]
    procs = {
        f: subprocess.Popen(
            [str(VENV_BIN / "chaos"), "--no-log-file", "validate", str(f)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        for f in cli
    }
    try:
        for f, proc in procs.items():
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"{f}: {out[-2000:]}"
            assert "experiment syntax and semantic look valid" in out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_chaosrunner_validate_accepts_every_cloud_experiment() -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "chaosrunner"), "validate", *map(str, FILES), "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_experiment_declares_targets_blast_radius_and_rollbacks(path) -> None:
    from chaosrunner.experiment.loader import load_experiment

    exp = load_experiment(path)
    ext = exp.extension
    assert ext.targets is not None and ext.targets.inventory == path.parent.name
    assert ext.targets.select, "never an empty selector"
    br = ext.blast_radius
    assert br is not None and br.zones == 1 and br.regions == 1 and br.max_targets and br.services
    assert exp.doc["rollbacks"], "every fault has a rollback"
    for act in exp.doc["method"]:
        args = act.get("provider", {}).get("arguments") or {}
        if "label_selector" in args:
            assert args["label_selector"].strip()


def test_inventory_options_are_validated() -> None:
    from chaosrunner.inventory import aws, k8s

    with pytest.raises(InvalidInput, match=r"targets\.options\.resource: must be ec2, rds or cloudfront"):
        aws.from_spec(TargetsSpec(inventory="aws", select={"a": "b"}, options={"resource": "s3"}), None)
    with pytest.raises(InvalidInput, match=r"targets\.options\.filters"):
        aws.from_spec(TargetsSpec(inventory="aws", select={"a": "b"}, options={"filters": [{"Name": 1}]}), None)
    with pytest.raises(InvalidInput, match=r"targets\.options\.nmespace: unknown option"):
        k8s.from_spec(TargetsSpec(inventory="k8s", select={"a": "b"}, options={"nmespace": "x"}), None)


def test_pure_mappings_to_targets() -> None:
    from chaosrunner.inventory.aws import ec2_targets
    from chaosrunner.inventory.k8s import pod_targets

    res = [
        {
            "Instances": [
                {
                    "InstanceId": "i-1",
                    "State": {"Name": "running"},
                    "Placement": {"AvailabilityZone": "eu-west-1b"},
                    "Tags": [
                        {"Key": "service", "Value": "feed"},
                        {"Key": "aws:autoscaling:groupName", "Value": "feed-b"},
                    ],
                },
                {"InstanceId": "i-2", "State": {"Name": "terminated"}, "Placement": {"AvailabilityZone": "eu-west-1b"}},
            ]
        }
    ]
    (t,) = ec2_targets(res, "eu-west-1")
    assert (t.id, t.service, t.zone, t.region, t.labels) == (
        "i-1",
        "feed",
        "eu-west-1b",
        "eu-west-1",
        {"service": "feed", "asg": "feed-b"},
    )
    pods = [
        {
            "metadata": {"name": "p1", "namespace": "ns", "labels": {"app": "feed", "tier": "t"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        },
        {
            "metadata": {"name": "p2", "namespace": "ns", "labels": {}, "deletionTimestamp": "x"},
            "spec": {"nodeName": "n1"},
        },
        {"metadata": {"name": "p3", "namespace": "ns"}, "spec": {}},  # pending: no node yet
        {  # bound but Pending (a replacement starting): cannot take a fault yet
            "metadata": {"name": "p4", "namespace": "ns", "labels": {}},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
        },
    ]
    nodes = [
        {
            "metadata": {
                "name": "n1",
                "labels": {"topology.kubernetes.io/zone": "z1", "topology.kubernetes.io/region": "r1"},
            }
        }
    ]
    (p,) = pod_targets(pods, nodes)
    assert (p.id, p.service, p.tier, p.zone, p.region, p.attrs["containers"]) == (
        "ns/p1",
        "feed",
        "t",
        "z1",
        "r1",
        ["c"],
    )
