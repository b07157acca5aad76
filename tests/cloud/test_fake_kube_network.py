"""The fake API server's Services, EndpointSlices and Ingresses answer like the real ones, read through the
``kubernetes`` client's own models: slices computed from the pods (a terminating pod not ready, a placeholder
with null endpoints), JSON patches applied or refused whole (422), merge patches, 404/415 as JSON Status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from chaosrunner.platforms.k8s import core_v1
from tests.cloud.conftest import wait_until
from tests.cloud.fake_kube import FakeKube
from tests.cloud.k8s_estate import NS, build_cdn
from tests.cloud.kube_network import PatchError, json_patch, merge_patch

BACKEND = "/spec/rules/0/http/paths/0/backend/service/name"


@pytest.fixture
def cdn(kube: FakeKube) -> FakeKube:
    build_cdn(kube)
    return kube


def _apis() -> tuple[Any, Any, Any]:
    api = core_v1().api_client
    return client.DiscoveryV1Api(api), client.NetworkingV1Api(api), client.AppsV1Api(api)


def _status(e: ApiException) -> dict[str, Any]:
    body = json.loads(e.body or "{}")
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == e.status
    return dict(body)


def test_a_service_and_its_endpoint_slices_follow_the_pods(cdn: FakeKube) -> None:
    discovery, _, _ = _apis()
    svc = core_v1().read_namespaced_service("edge-a", NS)
    assert svc.spec.selector == {"app": "cdn-edge", "edge": "a"} and svc.spec.ports[0].port == 80
    (sl,) = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=edge-a").items
    assert sl.address_type == "IPv4" and sl.ports[0].port == 8080
    assert sorted(e.target_ref.name for e in sl.endpoints) == ["edge-a-5f7c-1", "edge-a-5f7c-2"]
    assert {e.zone for e in sl.endpoints} == {"us-east-1a"} and all(e.conditions.ready for e in sl.endpoints)
    cdn.shutdown_s = 5.0  # the deleted pod stays Terminating, still Ready as a pod, not ready as an endpoint
    core_v1().delete_namespaced_pod("edge-a-5f7c-1", NS, body=client.V1DeleteOptions())
    (sl,) = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=edge-a").items
    gone = next(e for e in sl.endpoints if e.target_ref.name == "edge-a-5f7c-1")
    assert (gone.conditions.ready, gone.conditions.serving, gone.conditions.terminating) == (False, True, True)
    assert len(sl.endpoints) == 2  # the Pending replacement has no IP yet: not an endpoint


def test_a_service_without_pods_keeps_a_placeholder_slice_with_null_endpoints(cdn: FakeKube) -> None:
    discovery, _, _ = _apis()
    with cdn.lock:
        cdn.deployments[(NS, "edge-b")].replicas = 0
    cdn.shutdown_s = 0.0
    wait_until(lambda: not cdn.pods_matching(NS, "edge=b", terminating=True), 5, "edge-b's pods gone")
    raw = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=edge-b",
                                                   _preload_content=False)  # fmt: skip
    (item,) = json.loads(raw.data)["items"]
    assert item["endpoints"] is None and item["ports"] is None
    (sl,) = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=edge-b").items
    assert sl.endpoints is None  # this client copes; older ones raise (kubernetes-client/python#2423)


def test_an_ingress_json_patch_is_applied_whole_or_refused_with_422(cdn: FakeKube) -> None:
    _, net, _ = _apis()
    swap = [{"op": "test", "path": BACKEND, "value": "edge-a"}, {"op": "replace", "path": BACKEND, "value": "edge-b"}]
    ok = net.patch_namespaced_ingress("images", NS, body=swap)
    assert ok.spec.rules[0].http.paths[0].backend.service.name == "edge-b"
    assert ok.metadata.generation == 2 and ok.metadata.resource_version == "2"
    for ops, why in ((swap, f"testing value {BACKEND} failed"),  # edge-a no more: the test fails
                     ([{"op": "replace", "path": "/spec/rules/3/host", "value": "x"}], "missing path")):  # fmt: skip
        with pytest.raises(ApiException) as e:
            net.patch_namespaced_ingress("images", NS, body=ops)
        status = _status(e.value)
        assert e.value.status == 422 and status["reason"] == "Invalid"
        assert why in status["details"]["causes"][0]["message"]
    assert net.read_namespaced_ingress("images", NS).spec.rules[0].http.paths[0].backend.service.name == "edge-b"
    with pytest.raises(ApiException) as e:
        net.patch_namespaced_ingress("images", NS, body={"spec": {}}, _content_type="application/apply-patch+yaml")
    assert e.value.status == 415
    with pytest.raises(ApiException) as e:
        net.read_namespaced_ingress("nope", NS)
    assert e.value.status == 404 and _status(e.value)["reason"] == "NotFound"


def test_merge_patches_set_and_delete_annotations_on_ingresses_and_deployments(cdn: FakeKube) -> None:
    _, net, apps = _apis()
    got = net.patch_namespaced_ingress("images", NS, body={"metadata": {"annotations": {"a": "1", "b": "2"}}})
    assert got.metadata.annotations == {"a": "1", "b": "2"} and got.metadata.generation == 1
    got = net.patch_namespaced_ingress("images", NS, body={"metadata": {"annotations": {"a": None, "b": None}}})
    assert got.metadata.annotations is None  # an empty map is not served
    d = apps.patch_namespaced_deployment("edge-a", NS, body={"metadata": {"annotations": {"k": "v"}},
                                                             "spec": {"replicas": 3}})  # fmt: skip
    assert d.metadata.annotations == {"k": "v"} and d.spec.replicas == 3
    d = apps.patch_namespaced_deployment("edge-a", NS, body={"metadata": {"annotations": {"k": None}}})
    assert not d.metadata.annotations and int(d.metadata.resource_version) > 2


def test_json_and_merge_patch_semantics() -> None:
    doc = {"a": {"b": [1, 2]}, "m": {"x~y/z": 1}}
    assert json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3}])["a"]["b"] == [1, 2, 3]
    assert json_patch(doc, [{"op": "remove", "path": "/m/x~0y~1z"}])["m"] == {}
    with pytest.raises(PatchError, match="testing value /a/b/0 failed"):
        json_patch(doc, [{"op": "replace", "path": "/a/b/0", "value": 9}, {"op": "test", "path": "/a/b/0", "value": 1}])
    assert doc == {"a": {"b": [1, 2]}, "m": {"x~y/z": 1}}  # nothing applied to the original
    assert merge_patch(doc, {"a": {"b": [7]}, "m": None}) == {"a": {"b": [7]}}
