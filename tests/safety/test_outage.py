"""No chaos during an outage, against a real Alertmanager 0.25 (Debian's prometheus-alertmanager): a firing
critical alert refuses a run (exit 4), an alert that starts firing mid-run aborts it and rolls back, and an
Alertmanager that cannot be asked counts as an outage unless the experiment opts out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrunner.core.ports import LOOPBACK, free_port
from chaosrunner.faults.ledger import Ledger
from chaosrunner.sandbox.processes import ManagedProcess
from tests.safety.harness import chaosrunner, held_fault, wait_for

pytestmark = pytest.mark.slow

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "prometheus-alertmanager"


class RealAlertmanager:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        cfg = root / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump({"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]}))
        self.proc = ManagedProcess("alertmanager", [
            BINARY, f"--config.file={cfg}", f"--storage.path={root / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}", "--cluster.listen-address=",
        ], root / "alertmanager.log").start()
        wait_for(self._ready, 30, "Alertmanager ready")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def fire(self, name: str, severity: str = "critical") -> None:
        now = datetime.now(UTC)
        body = json.dumps([{"labels": {"alertname": name, "severity": severity, "service": "checkout"},
                            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}]).encode()
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealAlertmanager]:
    am = RealAlertmanager(tmp_path / "am")
    monkeypatch.setenv("CHAOSRUNNER_ALERTMANAGER_URL", am.url)
    try:
        yield am
    finally:
        am.stop()


def experiment(tmp_path: Path, fault: Path, ready: Path, hold_s: float = 60, **outage_check: Any) -> Path:
    ext: dict[str, Any] = {"name": "chaosrunner"}
    if outage_check:
        ext["outage_check"] = outage_check
    doc = {**held_fault(fault, ready, hold_s, title="outage check"), "extensions": [ext]}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(path: Path, timeout: float = 90) -> tuple[int, dict[str, Any]]:
    proc = chaosrunner("run", str(path), "--json")
    out, err = proc.communicate(timeout=timeout)
    assert out, err.decode()[-2000:]
    return proc.returncode, json.loads(out)


def test_a_firing_critical_alert_refuses_the_run(state: Path, tmp_path: Path, alertmanager: RealAlertmanager) -> None:
    alertmanager.fire("warning-only", severity="warning")
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    code, result = run(experiment(tmp_path, fault, ready, hold_s=0.2, interval="250ms"))
    assert code == 0, result  # a warning is not an outage: the run goes
    alertmanager.fire("CheckoutDown")
    code, result = run(experiment(tmp_path, fault, ready))
    assert code == 4, result
    assert "outage in progress: CheckoutDown{service=checkout,severity=critical} firing" in result["reason"]
    assert not fault.exists()


def test_an_alert_firing_mid_run_aborts_it_and_rolls_back(
    state: Path, tmp_path: Path, alertmanager: RealAlertmanager
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    proc = chaosrunner("run", str(experiment(tmp_path, fault, ready, interval="250ms")), "--json")
    try:
        wait_for(ready.exists, 30, "the method under way")
        assert fault.exists()
        fired = time.monotonic()
        alertmanager.fire("PaymentsDown")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    result = json.loads(out)
    assert proc.returncode == 3 and "PaymentsDown" in result["reason"], (result, err.decode()[-1500:])
    assert time.monotonic() - fired < 10
    assert not fault.exists() and not Ledger(state).open_entries()


def test_an_unreachable_alertmanager_refuses_unless_the_experiment_opts_out(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSRUNNER_ALERTMANAGER_URL", f"http://{LOOPBACK}:{free_port()}")
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    code, result = run(experiment(tmp_path, fault, ready))
    assert code == 4 and "outage check failed closed" in result["reason"], result
    code, result = run(experiment(tmp_path, fault, ready, hold_s=0.2, fail_open=True))
    assert code == 0, result


def test_without_an_alertmanager_the_check_is_skipped_and_plan_says_so(state: Path, tmp_path: Path) -> None:
    os.environ.pop("CHAOSRUNNER_ALERTMANAGER_URL", None)
    out = subprocess.run([*_cli(), "plan", str(experiment(tmp_path, tmp_path / "f", tmp_path / "r")), "--json"],
                         capture_output=True, text=True, timeout=60, env=_env())
    checks = {c["name"]: c for c in json.loads(out.stdout)["preflight"]["checks"]}
    assert checks["outage_check"]["ok"] and "no Alertmanager configured" in checks["outage_check"]["detail"]


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "chaosrunner"]


def _env() -> dict[str, str]:
    from tests.safety.harness import child_env

    return child_env()
