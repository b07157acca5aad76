"""The experiments stay plain Chaos Toolkit experiments: `chaos run` (no chaosrunner, no chosen targets)
runs them, and our drivers fall back to the tools' own pick — still one instance/pod, still in scope."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cloud import aws_estate
from tests.cloud.conftest import REPO, VENV_BIN
from tests.cloud.fake_kube import FakeKube

pytestmark = pytest.mark.slow


def _chaos_run(experiment: Path, tmp_path: Path) -> dict:
    journal = tmp_path / "journal.json"
    proc = subprocess.run(
        [
            str(VENV_BIN / "chaos"),
            "--no-version-check",
            "--log-file",
            str(tmp_path / "chaos.log"),
            "run",
            "--rollback-strategy",
            "always",
            "--journal-path",
            str(journal),
            str(experiment),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(journal.read_text())
    assert doc["status"] == "completed" and not doc["deviated"]
    assert all(r["status"] == "succeeded" for r in doc["run"] + doc["rollbacks"])
    return doc


def test_plain_chaos_run_kills_one_random_instance_of_the_zone(aws, tmp_path: Path) -> None:
    before = {i["InstanceId"]: i for i in aws_estate.running()}
    doc = _chaos_run(REPO / "experiments" / "aws" / "mon-instance-kill.yaml", tmp_path)
    (victim,) = aws_estate.terminated_ids()
    tags = {t["Key"]: t["Value"] for t in before[victim]["Tags"]}
    assert before[victim]["Placement"]["AvailabilityZone"] == "us-east-1a"
    assert (tags["service"], tags["tier"]) == ("pinboard", "non-critical")
    assert doc["run"][0]["output"]["terminated"] == [victim]


def test_plain_chaos_run_deletes_one_random_pinboard_pod(kube: FakeKube, tmp_path: Path) -> None:
    _chaos_run(REPO / "experiments" / "k8s" / "mon-instance-kill.yaml", tmp_path)
    deletes = kube.requests_for("DELETE", "/api/v1/namespaces/pinboard/pods/")
    assert len(deletes) == 1 and deletes[0].path.rsplit("/", 1)[1].startswith("pinboard-")
    lists = {r.q("labelSelector") for r in kube.requests if r.path == "/api/v1/namespaces/pinboard/pods"}
    assert lists == {"app=pinboard,tier=non-critical"}  # no chaosrunner inventory: every listing is selected
