"""An unreachable cloud API fails closed: preflight refuses (nothing can be injected), no traceback."""

from __future__ import annotations

import pytest

from chaosrunner.core.ports import free_port
from tests.cloud.conftest import REPO


def _plan(path):
    from chaosrunner.experiment.loader import load_experiment
    from chaosrunner.run.plan import build_plan

    return build_plan(load_experiment(path))


def test_unreachable_aws_endpoint_is_refused(state_dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    boto3.DEFAULT_SESSION = None
    plan = _plan(REPO / "experiments" / "aws" / "thu-database-failover.yaml")
    assert plan["preflight"]["allowed"] is False
    inventory = next(c for c in plan["preflight"]["checks"] if c["name"] == "inventory")
    assert not inventory["ok"] and "EndpointConnectionError" in inventory["detail"]


def test_unreachable_kubernetes_api_is_refused(state_dirs, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("KUBERNETES_HOST", f"http://127.0.0.1:{free_port()}")
    plan = _plan(REPO / "experiments" / "k8s" / "mon-instance-kill.yaml")
    assert plan["preflight"]["allowed"] is False
    inventory = next(c for c in plan["preflight"]["checks"] if c["name"] == "inventory")
    assert not inventory["ok"] and "cannot list the k8s inventory" in inventory["detail"]
