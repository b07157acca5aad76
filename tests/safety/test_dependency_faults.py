"""Failing dependencies during recovery: a hung Toxiproxy API never hangs a rollback forever."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrunner.core.ports import free_port
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.undo import revert_open


@pytest.fixture
def hung_toxiproxy_api() -> Iterator[str]:
    """A real TCP server on 127.0.0.1 that accepts connections and never answers (a wedged API)."""
    port = free_port()
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        server.close()


@pytest.mark.slow
def test_hung_toxiproxy_api_cannot_hang_recovery(state: Path, tmp_path: Path, hung_toxiproxy_api: str) -> None:
    ledger = Ledger(state)
    other = tmp_path / "other-fault"
    other.write_text("x")
    ledger.record(
        "run-1",
        "file",
        str(other),
        {"type": "python", "module": "chaos_undo_marks", "func": "delete_file", "arguments": {"path": str(other)}},
    )
    time.sleep(0.01)
    # chaostoolkit-toxiproxy's own delete_toxic: plain requests.delete, no timeout of its own.
    ledger.record(
        "run-1",
        "latency-toxic",
        "proxy pinboard",
        {
            "type": "python",
            "module": "chaostoxi.toxic.actions",
            "func": "delete_toxic",
            "arguments": {"for_proxy": "pinboard", "toxic_name": "latency"},
            "configuration": {"toxiproxy_url": hung_toxiproxy_api},
        },
    )
    start = time.monotonic()
    outcomes = revert_open(ledger, timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert [(o.fault, o.outcome) for o in outcomes] == [("latency-toxic", "undo-running"), ("file", "undone")]
    assert "within 1 s" in outcomes[0].detail
    assert [e.fault for e in Ledger(state).open_entries()] == ["latency-toxic"]  # left for the next keeper
    assert elapsed < 10  # bounded by the undo timeout, not by the hung API
    assert not other.exists()


@pytest.mark.slow
def test_hung_toxiproxy_api_during_rollback_ends_the_run_within_its_timeout(
    state: Path, tmp_path: Path, hung_toxiproxy_api: str, reap: list[int]
) -> None:
    """The real runner: the rollback calls chaostoolkit-toxiproxy against an API that never answers; the
    activity timeout (2 s) ends it, the run reports rollback-failed (exit 5), the other rollback still ran, and
    the run-level ledger entry stays open for the next recovery."""
    import json
    import subprocess
    import sys

    import yaml

    from tests.safety.harness import child_env

    fault = tmp_path / "fault"
    doc = {
        "title": "rollback against a hung toxiproxy",
        "description": "d",
        "configuration": {"toxiproxy_url": hung_toxiproxy_api},
        "method": [
            {
                "type": "action",
                "name": "inject",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "inject_file",
                    "arguments": {"path": str(fault)},
                },
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "delete-toxic",
                "provider": {
                    "type": "python",
                    "module": "chaostoxi.toxic.actions",
                    "func": "delete_toxic",
                    "arguments": {"for_proxy": "pinboard", "toxic_name": "latency"},
                },
            },
            {
                "type": "action",
                "name": "remove-file",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "delete_file",
                    "arguments": {"path": str(fault)},
                },
            },
        ],
        "extensions": [{"name": "chaosrunner", "timeouts": {"activity": "2s"}}],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "run", str(path), "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - start < 60  # bounded by the timeout, not by the hung API
    assert out.returncode == 5, (out.stdout, out.stderr)
    assert json.loads(out.stdout)["verdict"] == "rollback-failed"
    assert not fault.exists()  # the rollback after the hung one still ran
    assert [e.fault for e in Ledger(state).open_entries()] == ["experiment"]  # left for the next recovery
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "chaosrunner.faults.watchdog" in cmd and str(state) in cmd:
            reap.append(p.pid)
