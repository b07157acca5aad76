"""Prometheus killed mid-run: the guard fails closed, the runner aborts and every fault is rolled back.

Uses the guard suite's estate (tests/guard/estate.py: a metrics service + a real Prometheus scraping it).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.guard.estate import ServiceEstate, start_estate, static_targets
from tests.safety.harness import chaosrunner, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[ServiceEstate]:
    e = start_estate(tmp_path / "estate")
    try:
        yield e
    finally:
        e.stop()


def test_prometheus_killed_mid_run_aborts_and_rolls_back(estate: ServiceEstate, state, tmp_path, reap) -> None:
    third_party, own, ready = tmp_path / "fault-third-party", tmp_path / "fault-own", tmp_path / "in-method"
    act = lambda name, func, **arguments: {  # noqa: E731
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": "chaos_undo_marks", "func": func, "arguments": arguments},
    }
    doc = {
        "title": "fault while Prometheus dies",
        "description": "two file faults under an SLO guard whose Prometheus is killed",
        "method": [
            act("inject-third-party", "inject_file", path=str(third_party)),
            act("inject-own", "inject_file_with_ledger", path=str(own)),
            act("hold", "hold", ready=str(ready), seconds=60),
        ],
        "rollbacks": [act("remove-third-party", "delete_file", path=str(third_party))],
        "extensions": [
            {
                "name": "chaosrunner",
                "targets": {
                    "inventory": "static",
                    "select": {"id": "pinboard-us-east-a-1"},
                    "pick": 1,
                    "static": static_targets(estate.service_url),
                },
                "blast_radius": {"services": ["pinboard"], "max_targets": 1, "zones": 1},
                "slo_guard": {
                    "slos": ["pinboard-availability"],
                    "interval": "500ms",
                    "unavailable_after": 3,
                    "out_of_scope": False,
                    "budget_gate": False,  # the guard is under test, not the (default-on) budget gate
                    "catalog": [str(estate.catalog_path)],
                    "prometheus": estate.prometheus.url,
                },
            }
        ],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = chaosrunner("run", str(path), "--json", text=True)
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, 90, "the method to be under way")
        assert run.poll() is None, run.communicate()
        assert third_party.exists() and own.exists()
        estate.prometheus.kill()
        out, err = run.communicate(timeout=60)
        assert run.returncode == 3, (out, err)  # aborted, rolled back
        result = json.loads(out)
        assert result["verdict"] == "aborted" and "unavailable" in result["reason"]
        assert not third_party.exists() and not own.exists()
        cr = json.loads(Path(result["journal"]).read_text())["chaosrunner"]
        assert cr["recovered_by"] is None  # the runner itself rolled back; no crash
        assert all(e["outcome"] in ("undone", "expired") for e in cr["ledger"])
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=5)
        import psutil

        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if "chaosrunner.faults.watchdog" in cmd and str(state) in cmd:
                reap.append(p.pid)
