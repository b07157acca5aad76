"""The fake API server's own semantics: label selectors like the real one, and the k8s drivers' refusals."""

from __future__ import annotations

import pytest

from tests.cloud.fake_kube import FakeKube, matches_selector


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=pinboard", True),
        ("app==pinboard", True),
        ("app!=pinboard", False),
        ("app!=feed", True),
        ("app=pinboard,tier=critical", False),
        ("tier in (critical, non-critical)", True),
        ("tier notin (non-critical)", False),
        ("role", False),
        ("!role", True),
        ("app", True),
        ("", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    assert matches_selector({"app": "pinboard", "tier": "non-critical"}, selector) is expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("replicas>2", True), ("replicas<3", False), ("app notin (feed)", True), ("zone notin (a)", True),
     ("zone!=a", True), (" app = pinboard , tier in(non-critical) ", True), ("example.com/team", False),
     ("app=", False)],
)  # fmt: skip
def test_label_selector_operators_as_apimachinery_defines_them(selector: str, expected: bool) -> None:
    assert matches_selector({"app": "pinboard", "tier": "non-critical", "replicas": "3"}, selector) is expected


@pytest.mark.parametrize(
    "selector", ["app=(x", "app in ()", "app=pinboard,", "-app=x", "app=x y", "replicas>two", "app=" + "x" * 64,
                 "Bad_Prefix/app=x", "app in (a"],
)  # fmt: skip
def test_malformed_selector_is_an_error(selector: str) -> None:
    with pytest.raises(ValueError):
        matches_selector({}, selector)


def test_k8s_drivers_refuse_an_empty_selector_and_a_missing_container(kube: FakeKube) -> None:
    from chaoslib.exceptions import ActivityFailed

    from chaosrunner.drivers.k8s.pods import exec_in_targets, terminate_targets
    from chaosrunner.drivers.k8s.zone import delete_zone_pods

    with pytest.raises(ActivityFailed, match="label_selector"):
        terminate_targets("", ns="pinboard")
    with pytest.raises(ActivityFailed, match="label_selector"):
        delete_zone_pods("us-east-1a", " ", ns="pinboard")
    with pytest.raises(ActivityFailed, match="container_name"):
        exec_in_targets(["true"], "app=pinboard", "", ns="pinboard")
    with pytest.raises(ActivityFailed, match="no ready pod"):
        exec_in_targets(["true"], "app=pinboard", "sidecar-that-does-not-exist", ns="pinboard")
    assert kube.requests_for("DELETE") == []


def test_k8s_inventory_places_pods_in_their_nodes_zones(kube: FakeKube) -> None:
    from chaosrunner.inventory.base import TargetsSpec
    from chaosrunner.inventory.k8s import from_spec

    targets = from_spec(
        TargetsSpec(inventory="k8s", select={"a": "b"}, options={"namespace": "pinboard"})
    ).list_targets()
    by_id = {t.id: t for t in targets}
    assert len(targets) == 11
    assert (by_id["pinboard/pinboard-b2"].zone, by_id["pinboard/pinboard-b2"].service) == ("us-east-1b", "pinboard")
    assert by_id["pinboard/pinboard-db-0"].labels["role"] == "primary"
    assert by_id["pinboard/checkout-a"].tier == "critical"
