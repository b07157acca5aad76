"""Journals for a fleet on an S3 bucket (the moto server): two hosts' runs, read together from a third."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from tests.cloud.conftest import REPO

BUCKET, PREFIX = "chaos-journals", "prod"


def trivial(tmp_path: Path) -> Path:
    path = tmp_path / "trivial.yaml"
    path.write_text(yaml.safe_dump({"title": "fleet journal", "description": "d", "method": [
        {"type": "action", "name": "cwd", "provider": {"type": "python", "module": "os", "func": "getcwd"}}]}))
    return path


def chaosrunner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=REPO, stdin=subprocess.DEVNULL)


@pytest.fixture
def fleet_env(moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "CHAOSRUNNER_JOURNALS_S3": f"s3://{BUCKET}/{PREFIX}"})
    for k, v in env.items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    s3 = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return env


def host(env: dict[str, str], root: Path, name: str) -> dict[str, str]:
    return {**env, "CHAOSRUNNER_HOME": str(root / name / "home"), "CHAOSRUNNER_JOURNALS": str(root / name / "j")}


def test_two_hosts_runs_are_listed_and_reported_together_from_a_third(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    exp = trivial(tmp_path)
    ids = {}
    for name in ("host-a", "host-b"):
        r = chaosrunner(host(fleet_env, tmp_path, name), "run", str(exp), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        ids[name] = json.loads(r.stdout)["run_id"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == sorted(f"{i}.json" for i in ids.values())
    assert all(k.startswith(f"{PREFIX}/20") for k in keys)  # the store's own layout under the prefix
    third = host(fleet_env, tmp_path, "laptop")
    r = chaosrunner(third, "journal", "list", "--journal-dir", f"s3://{BUCKET}/{PREFIX}", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(x["run_id"] for x in json.loads(r.stdout)) == sorted(ids.values())
    out = tmp_path / "fleet.html"
    r = chaosrunner(third, "journal", "report", *ids.values(), "--journal-dir", f"s3://{BUCKET}/{PREFIX}",
                    "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert all(i in out.read_text() for i in ids.values()) and "Game-day report: 2 runs" in out.read_text()


def test_push_copies_what_the_bucket_lacks_and_only_that(fleet_env: dict[str, str], tmp_path: Path) -> None:
    a = {**host(fleet_env, tmp_path, "host-a"), "CHAOSRUNNER_JOURNALS_S3": ""}  # runs that did not copy themselves
    for _ in range(2):
        assert chaosrunner(a, "run", str(trivial(tmp_path)), "--json").returncode == 0
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    r = chaosrunner(a, "journal", "push", f"s3://{BUCKET}/{PREFIX}", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["copied"]) == 2, r.stdout + r.stderr
    r = chaosrunner(a, "journal", "push", f"s3://{BUCKET}/{PREFIX}", "--json")
    assert json.loads(r.stdout)["copied"] == []
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{PREFIX}/../../../../escape.json", Body=b"{}")
    r = chaosrunner(a, "journal", "list", "--journal-dir", f"s3://{BUCKET}/{PREFIX}", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 2, r.stderr  # a key with ../ stays outside
    assert not list(tmp_path.rglob("escape.json"))
    bad = chaosrunner(a, "journal", "list", "--journal-dir", "s3://", "--json")
    assert bad.returncode == 2 and "no bucket" in json.loads(bad.stdout)["error"]
