"""Chaos visible in the SRE's stack: metrics on a real Pushgateway 1.5 (Debian's prometheus-pushgateway) and
chat notifications to a webhook receiver — and neither can slow the safety path down."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from chaosrunner.core.ports import LOOPBACK, free_port
from chaosrunner.sandbox.processes import ManagedProcess
from tests.safety.harness import chaosrunner, held_fault, wait_for
from tests.safety.webhook import Receiver

pytestmark = pytest.mark.slow

BINARY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway") or "prometheus-pushgateway"


class Pushgateway:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.proc = ManagedProcess("pushgateway", [BINARY, f"--web.listen-address={LOOPBACK}:{self.port}",
                                                   f"--persistence.file={root / 'metrics.db'}"],
                                   root / "pushgateway.log").start()
        wait_for(lambda: self.metrics() is not None, 30, "Pushgateway up")

    def metrics(self) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=1) as r:
                return r.read().decode()
        except OSError:
            return None

    def series(self, name: str, run_id: str) -> dict[str, float]:
        """``{labels: value}`` of one metric of one run, from the Pushgateway's own /metrics."""
        out = {}
        for line in (self.metrics() or "").splitlines():
            if line.startswith(name + "{") and f'run_id="{run_id}"' in line:
                labels, value = line.rsplit(" ", 1)
                out[labels] = float(value)
        return out

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture
def pushgateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pushgateway]:
    pg = Pushgateway(tmp_path / "pg")
    monkeypatch.setenv("CHAOSRUNNER_PUSHGATEWAY_URL", pg.url)
    try:
        yield pg
    finally:
        pg.stop()


def experiment(tmp_path: Path, fault: Path, ready: Path, hold_s: float) -> Path:
    doc = held_fault(fault, ready, hold_s, title="visible chaos")
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_active_fault_gauge_shows_the_fault_and_returns_to_zero(
    state: Path, tmp_path: Path, pushgateway: Pushgateway
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    proc = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=3)), "--json")
    try:
        wait_for(ready.exists, 30, "the method under way")
        run_id = wait_for_value(lambda: _run_id(pushgateway), 10, "the run's group on the Pushgateway")
        active = wait_for_value(lambda: pushgateway.series("chaosrunner_fault_active", run_id), 10, "the fault gauge")
        (labels, value), = [(k, v) for k, v in active.items() if 'fault="file-exists"' in k]
        assert value == 1 and f'target="{fault}"' in labels and 'experiment="visible chaos"' in labels
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert json.loads(out)["verdict"] == "passed"
    gauges = pushgateway.series("chaosrunner_fault_active", run_id)
    assert gauges and all(v == 0 for v in gauges.values()), gauges
    assert list(pushgateway.series("chaosrunner_run_running", run_id).values()) == [0]
    verdict = pushgateway.series("chaosrunner_run_verdict", run_id)
    assert [k for k, v in verdict.items() if v == 1] and 'verdict="passed"' in next(iter(verdict))


def test_the_gauge_returns_to_zero_after_a_crash_recovery(
    state: Path, tmp_path: Path, pushgateway: Pushgateway
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    proc = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=60)), "--json")
    wait_for(ready.exists, 30, "the method under way")
    run_id = wait_for_value(lambda: _run_id(pushgateway), 10, "the run's group")
    wait_for(lambda: 1.0 in pushgateway.series("chaosrunner_fault_active", run_id).values(), 10, "the fault active")
    for p in [*psutil.Process(proc.pid).children(recursive=True), *_watchdogs(state)]:
        p.kill()
    proc.kill()
    proc.wait(10)
    recover = chaosrunner("recover", "--json")
    recover.communicate(timeout=60)
    assert recover.returncode == 0 and not fault.exists()
    wait_for(lambda: set(pushgateway.series("chaosrunner_fault_active", run_id).values()) == {0.0}, 10,
             "the gauge back to 0 after the recovery")


def test_a_webhook_sees_every_event_in_order_and_a_hanging_one_never_delays_an_abort(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    hook = Receiver(hang_s=30)  # answers each POST after 30 s
    monkeypatch.setenv("CHAOSRUNNER_WEBHOOK_URL", hook.url)
    try:
        proc = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=60)), "--json")
        wait_for(ready.exists, 30, "the method under way")
        halt = chaosrunner("halt", "--reason", "game day over")
        halt.communicate(timeout=30)
        halted = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        elapsed = time.monotonic() - halted
        assert json.loads(out)["verdict"] == "aborted"
        assert elapsed < 8, elapsed  # the run waited at most its short flush for the stuck webhook, never 30 s
        assert not fault.exists()
        wait_for(lambda: hook.kinds() == ["started"], 5, "the start notification")  # the abort's is stuck behind it
    finally:
        hook.close()
    hook = Receiver()
    monkeypatch.setenv("CHAOSRUNNER_WEBHOOK_URL", hook.url)
    try:
        chaosrunner("resume").communicate(timeout=30)
        proc = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=0.1)), "--json")
        proc.communicate(timeout=60)
        wait_for(lambda: hook.kinds() == ["started", "passed"], 10, "started then passed")
        assert hook.events[0]["text"].startswith(":test_tube: chaosrunner: *visible chaos* started")
    finally:
        hook.close()


def wait_for_value(get: Any, timeout_s: float, what: str) -> Any:
    box: list[Any] = []

    def ready() -> bool:
        value = get()
        if value:
            box.append(value)
        return bool(value)

    wait_for(ready, timeout_s, what)
    return box[-1]


def _run_id(pg: Pushgateway) -> str | None:
    for line in (pg.metrics() or "").splitlines():
        if line.startswith("chaosrunner_run_running{") and 'run_id="' in line:
            return line.split('run_id="', 1)[1].split('"', 1)[0]
    return None


def _watchdogs(state: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if "chaosrunner.faults.watchdog" in " ".join(p.info["cmdline"] or []):
            try:
                if p.environ().get("CHAOSRUNNER_HOME") == str(state):
                    found.append(p)
            except psutil.Error:
                continue
    return found
