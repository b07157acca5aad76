"""Fixtures for the cloud catalog: one moto server per session, a fake Kubernetes API per test.

* ``moto`` (session): ``moto_server -H 127.0.0.1 -p PORT`` in its own process group, stopped at the end.
* ``aws`` (test): state reset (``POST /moto-api/reset``), boto3 pointed at moto through
  ``AWS_ENDPOINT_URL`` with dummy credentials, ``boto3.DEFAULT_SESSION`` cleared (chaosaws caches it),
  the pinboard estate built; chaosrunner state and journals in tmp dirs.
* ``kube`` (test): :class:`FakeKube` in a thread with the pinboard cluster; chaosk8s pointed at it via
  ``KUBERNETES_HOST`` with ``KUBECONFIG`` set to a missing file (a kubeconfig would win).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrunner.core.ports import free_port, wait_port
from chaosrunner.sandbox.processes import ManagedProcess
from tests.cloud import aws_estate, k8s_estate
from tests.cloud.fake_kube import FakeKube

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = ManagedProcess("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    proc.start()
    try:
        wait_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop(timeout=2)


def _reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture
def state_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home, journals = tmp_path / "home", tmp_path / "journals"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(home))
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(journals))
    monkeypatch.delenv("CHAOSRUNNER_RUN_ID", raising=False)
    return {"home": home, "journals": journals}


@pytest.fixture
def aws(moto: str, state_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[aws_estate.Estate]:
    import boto3

    _reset(moto)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", aws_estate.REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", aws_estate.REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    boto3.DEFAULT_SESSION = None
    try:
        yield aws_estate.build()
    finally:
        boto3.DEFAULT_SESSION = None


@pytest.fixture
def kube(state_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    fake = FakeKube(start_s=0.3, shutdown_s=0.5, failover_delay_s=0.3).start()
    try:
        k8s_estate.build(fake)
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
        monkeypatch.setenv("KUBERNETES_HOST", fake.url)
        monkeypatch.setenv("KUBERNETES_API_KEY", "test-token")
        monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
        monkeypatch.delenv("KUBERNETES_VERIFY_SSL", raising=False)
        yield fake
    finally:
        fake.stop()


def quick_copy(src: Path, dest_dir: Path, pause_s: float = 0.2) -> Path:
    """A copy of a shipped experiment with every pause cut to ``pause_s`` (the shipped 60–120 s holds
    are production durations; nothing else changes)."""
    doc = yaml.safe_load(src.read_text())
    for section in ("method", "rollbacks"):
        for act in doc.get(section) or []:
            for k in ("before", "after"):
                if k in (act.get("pauses") or {}):
                    act["pauses"][k] = pause_s
    out = dest_dir / src.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def edited_copy(src: Path, dest: Path, name: str, edit: Callable[[dict[str, Any]], object]) -> Path:
    """``dest/name``: the experiment at ``src`` after ``edit(doc)`` changed it in place."""
    doc = yaml.safe_load(src.read_text())
    edit(doc)
    out = dest / name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def activity_named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The method or rollback activity called ``name`` in an experiment document."""
    return next(a for a in doc["method"] + doc["rollbacks"] if a["name"] == name)


def chaosrunner_run(experiment: Path, journals: Path, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    """``chaosrunner run FILE --json`` as a child process with this test's environment.

    Returns (exit code, journal dict, stderr)."""
    proc = subprocess.run(
        [str(VENV_BIN / "chaosrunner"), "run", str(experiment), "--json", "--journal-dir", str(journals)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ),
    )
    journal: dict[str, Any] = {}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        path = json.loads(lines[-1]).get("journal")
        if path:
            journal = json.loads(Path(path).read_text())
    return proc.returncode, journal, proc.stderr


def wait_until(cond: Callable[[], Any], timeout: float, what: str, poll_s: float = 0.02) -> Any:
    """Poll ``cond`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll_s)


def activity_ended(journals: Path, name: str) -> bool:
    """Has the run writing a journal under ``journals`` finished the method activity ``name`` (the journal is
    rewritten after every activity)? An outsider that must act during a hold waits for this, not for the
    activity's effect, which it would race with the activity's own check of it."""
    for path in journals.rglob("*.json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):  # replaced between listing and reading: look again at the next poll
            continue
        if any(r.get("activity", {}).get("name") == name and r.get("end") for r in doc.get("run") or []):
            return True
    return False


def activity(path: Path, name: str, configuration: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """(function, arguments after configuration substitution) of the activity ``name`` of an experiment
    file — the shipped experiment's own action, to call with a test's clients and clock."""
    from chaoslib import substitute
    from chaoslib.configuration import load_configuration

    doc = yaml.safe_load(path.read_text())
    act = next(a for a in [*doc.get("method", []), *doc.get("rollbacks", [])] if a["name"] == name)
    provider = act["provider"]
    config = {**load_configuration(doc.get("configuration") or {}), **(configuration or {})}
    func = getattr(importlib.import_module(provider["module"]), provider["func"])
    return func, substitute(provider.get("arguments") or {}, config, {})
