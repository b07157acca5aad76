"""End to end through `chaosrunner run`: the guard aborts real runs against the test service, rollbacks
run, the journal says why; preflight refuses (kill switch, budget gate, every blast-radius dimension)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.guard.estate import REPO, ServiceEstate, static_targets

TARGET = "pinboard-us-east-a-1"


def experiment(
    tmp_path: Path,
    estate: ServiceEstate | None,
    *,
    fault: dict[str, Any] | None = None,
    pause_s: float = 30,
    select: dict[str, str] | None = None,
    pick: int | str = 1,
    blast_radius: dict[str, Any] | None = None,
    slo_guard: dict[str, Any] | None = None,
    name: str = "exp.yaml",
) -> Path:
    """An experiment whose method makes the test service fail (HTTP POST /control) and pauses; its
    rollback resets the service. Without an estate the method only touches a marker file."""
    marker = tmp_path / "injected"
    if estate is not None:
        method = [{
            "type": "action", "name": "make-the-service-fail",
            "provider": {"type": "http", "url": f"{estate.service_url}/control", "method": "POST",
                         "headers": {"Content-Type": "application/json"}, "timeout": 3,
                         "arguments": fault or {"match": {"target": TARGET}, "error_ratio": 0.5}},
            "pauses": {"after": pause_s},
        }]
        rollbacks = [{
            "type": "action", "name": "heal-the-service",
            "provider": {"type": "http", "url": f"{estate.service_url}/reset", "method": "POST",
                         "headers": {"Content-Type": "application/json"}, "arguments": {}, "timeout": 3},
        }]
    else:
        method = [{"type": "action", "name": "touch-marker",
                   "provider": {"type": "process", "path": "/usr/bin/touch", "arguments": str(marker)}}]
        rollbacks = []
    ext: dict[str, Any] = {
        "name": "chaosrunner",
        "targets": {"inventory": "static", "select": select or {"id": TARGET}, "pick": pick,
                    "static": static_targets(estate.service_url if estate else "http://127.0.0.1:1")},
        "blast_radius": blast_radius or {"services": ["pinboard"], "max_targets": 1, "zones": 1},
    }
    if slo_guard is not None:
        assert estate is not None
        ext["slo_guard"] = {
            "interval": "500ms", "baseline_window": "5s", "catalog": [str(estate.catalog_path)],
            "prometheus": estate.prometheus.url, "recovery_deadline": "60s",
            "budget_gate": False,  # these tests are about the guard; the gate tests set one explicitly
            **slo_guard,
        }
    doc = {"title": f"guarded {name}", "description": "guard end-to-end test", "method": method,
           "rollbacks": rollbacks, "extensions": [ext]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(path: Path, *extra: str, timeout: float = 120) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "chaosrunner", "run", str(path), "--json", *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"no JSON result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None
    return proc.returncode, result


def journal(result: dict[str, Any]) -> dict[str, Any]:
    path = result.get("journal") or result.get("journal_path")
    assert path, result
    return json.loads(Path(path).read_text())


def service_state(estate: ServiceEstate) -> dict[str, Any]:
    with urllib.request.urlopen(f"{estate.service_url}/control", timeout=3) as r:
        return json.loads(r.read())


def healthy(estate: ServiceEstate) -> bool:
    return all(s["error_ratio"] == 0 and s["latency_s"] < 0.2 for s in service_state(estate)["instances"].values())


@pytest.mark.slow
def test_budget_gate_allows_a_run_when_enough_budget_remains(estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(tmp_path, estate, pause_s=0.5,
                      fault={"match": {"target": TARGET}, "error_ratio": 0.0},
                      slo_guard={"slos": ["pinboard-availability-1h"], "budget_gate": "25%"})
    code, result = run(path)
    j = journal(result)
    gate = next(c for c in j["chaosrunner"]["preflight"]["checks"] if c["name"] == "error_budget_gate")
    assert gate["ok"] and gate["numbers"]["remaining"]["pinboard-availability-1h"] > 0.25
    assert code == 0, result


@pytest.mark.slow
def test_aborts_on_burn_above_the_limit_and_rolls_back(estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(tmp_path, estate, slo_guard={"slos": ["pinboard-availability"],
                                                   "abort_on": {"burn_rate": 14.4, "consecutive": 2}})
    t0 = time.monotonic()
    code, result = run(path)
    took = time.monotonic() - t0
    j = journal(result)
    cr = j["chaosrunner"]
    assert code == 3 and cr["verdict"] == "aborted", cr["reason"]
    assert "burn rate" in cr["abort"]["reason"] and "pinboard-availability" in cr["abort"]["reason"]
    assert cr["abort"]["rollback_completed_at"]
    assert [r["status"] for r in j["rollbacks"]] == ["succeeded"]
    assert healthy(estate)
    assert cr["guard"]["decisions"][0]["action"] == "abort"
    assert any(s["slos"]["pinboard-availability"]["burn_rate"] for s in cr["guard"]["samples"])
    assert cr["timings"]["time_to_abort_s"] is not None and cr["timings"]["time_to_rollback_s"] is not None
    assert took < 30, "the 30 s pause was not interrupted"


@pytest.mark.slow
def test_no_abort_while_impact_stays_inside_scope_and_allowance(estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(tmp_path, estate, pause_s=4, fault={"match": {"target": TARGET}, "error_ratio": 0.01},
                      blast_radius={"services": ["pinboard"], "max_targets": 1, "zones": 1, "error_budget": "1%"},
                      slo_guard={"slos": ["pinboard-availability", "pinboard-latency"]})
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 0 and cr["verdict"] == "passed", cr["reason"]
    burns = [s["slos"]["pinboard-availability"]["burn_rate"] or 0 for s in cr["guard"]["samples"]]
    assert max(burns) > 1, "the fault never showed in the SLI"
    assert 0 < cr["guard"]["budget"]["spent"] < 0.01
    assert cr["guard"]["recovery"]["recovered"] and cr["timings"]["time_to_recover_s"] is not None
    assert not cr["guard"]["decisions"]


@pytest.mark.slow
def test_aborts_when_an_out_of_scope_slo_degrades(estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(tmp_path, estate, fault={"match": {"zone": "us-west-a"}, "error_ratio": 0.5},
                      slo_guard={"slos": ["pinboard-availability"], "abort_on": {"burn_rate": 1000}})
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 3 and "escaped the blast radius" in cr["abort"]["reason"]
    assert healthy(estate)


@pytest.mark.slow
def test_kill_switch_aborts_a_running_experiment_and_refuses_the_next(
    estate: ServiceEstate, tmp_path: Path
) -> None:
    path = experiment(tmp_path, estate, fault={"match": {"target": TARGET}, "error_ratio": 0.0},
                      slo_guard={"slos": ["pinboard-availability"]})
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(path), "--json"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        _wait_for_guard_samples(30)
        halt = subprocess.run([sys.executable, "-m", "chaosrunner", "halt", "--reason", "incident 7"], cwd=REPO,
                              capture_output=True, text=True, timeout=30)
        assert halt.returncode == 0, halt.stderr
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 3, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert journal(result)["chaosrunner"]["abort"]["reason"] == "kill switch engaged: incident 7"
    code, refused = run(path)
    assert code == 4 and "incident 7" in journal(refused)["chaosrunner"]["reason"]
    subprocess.run([sys.executable, "-m", "chaosrunner", "resume"], cwd=REPO, timeout=30, check=True,
                   capture_output=True)


@pytest.mark.slow
def test_budget_gate_refuses_when_too_little_budget_remains(estate: ServiceEstate, tmp_path: Path) -> None:
    # Burn a large part of the 1 h SLO's budget: 50 % errors on every pinboard instance for a few seconds.
    estate.control(match={"service": "pinboard"}, error_ratio=0.5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        res = estate.prometheus.query(
            'sum(rate(svc_requests_total{code=~"5..",service="pinboard"}[1h])) '
            '/ sum(rate(svc_requests_total{service="pinboard"}[1h]))'
        )
        if res and float(res[0]["value"][1]) > 0.01 * 0.8:  # > 80 % of the budget used
            break
        time.sleep(0.2)
    estate.reset()
    path = experiment(tmp_path, estate, slo_guard={"slos": ["pinboard-availability-1h"], "budget_gate": "25%"})
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 4 and cr["verdict"] == "refused"
    gate = next(c for c in cr["preflight"]["checks"] if c["name"] == "error_budget_gate")
    assert not gate["ok"] and "gate is 25%" in gate["detail"]
    assert gate["numbers"]["remaining"]["pinboard-availability-1h"] < 0.25
    assert healthy(estate)  # nothing injected


@pytest.mark.parametrize(
    ("select", "pick", "blast_radius", "check"),
    [
        ({"service": "pinboard", "region": "us-east"}, 2, {"max_targets": 1}, "blast_radius.max_targets"),
        ({"service": "pinboard", "region": "us-east"}, 2, {"max_percent": "25%"}, "blast_radius.max_percent"),
        ({"service": "pinboard", "region": "us-east"}, "all", {"zones": 1}, "blast_radius.zones"),
        ({"service": "pinboard"}, "all", {"regions": 1}, "blast_radius.regions"),
        ({"zone": "us-east-a"}, "all", {"services": ["pinboard"]}, "blast_radius.services"),
        ({"zone": "us-east-a"}, "all", {"tiers": ["non-critical"]}, "blast_radius.tiers"),
        ({}, 1, {"max_targets": 1}, "selector"),
    ],
)
def test_refuses_beyond_the_blast_radius(
    tmp_path: Path, select: dict[str, str], pick: int | str, blast_radius: dict[str, Any], check: str
) -> None:
    path = experiment(tmp_path, None, select=select, pick=pick, blast_radius=blast_radius)
    if not select:
        doc = yaml.safe_load(path.read_text())
        doc["extensions"][0]["targets"]["select"] = {}
        path.write_text(yaml.safe_dump(doc))
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 4 and cr["verdict"] == "refused"
    assert [c["name"] for c in cr["preflight"]["checks"] if not c["ok"]] == [check]
    assert not (tmp_path / "injected").exists()


def test_unknown_slo_or_probe_name_is_invalid_input(tmp_path: Path) -> None:
    catalog = tmp_path / "slos.yaml"
    catalog.write_text(yaml.safe_dump({"slos": []}))
    path = experiment(tmp_path, None)
    doc = yaml.safe_load(path.read_text())
    doc["extensions"][0]["slo_guard"] = {"slos": ["nope"], "probes": ["gone"], "catalog": [str(catalog)],
                                         "prometheus": "http://127.0.0.1:1"}
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([sys.executable, "-m", "chaosrunner", "run", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=REPO, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stderr  # bad input is reported on stderr
    assert f"{path}: extensions[0].slo_guard.slos[0]: unknown SLO 'nope'" in out
    assert "extensions[0].slo_guard.probes[0]: unknown probe 'gone'" in out
    assert not (tmp_path / "injected").exists()


def _wait_for_guard_samples(timeout: float) -> None:
    journals = Path(os.environ["CHAOSRUNNER_JOURNALS"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for found in journals.rglob("*.json"):
            try:
                if json.loads(found.read_text())["chaosrunner"].get("guard"):
                    return
            except (ValueError, KeyError, OSError):
                pass
        time.sleep(0.1)
    raise AssertionError("the guard never started sampling")


@pytest.mark.slow
def test_fails_closed_when_prometheus_is_killed_mid_run(fresh_estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(tmp_path, fresh_estate, fault={"match": {"target": TARGET}, "error_ratio": 0.0},
                      slo_guard={"slos": ["pinboard-availability"], "unavailable_after": 3})
    code, out, err = run_killing_prometheus(path, fresh_estate)
    assert code == 3, out + err
    j = journal(json.loads(out.strip().splitlines()[-1]))
    reason = j["chaosrunner"]["abort"]["reason"]
    assert "fail closed" in reason and "unreachable" in reason
    assert [r["status"] for r in j["rollbacks"]] == ["succeeded"]
    assert any(e["kind"] == "reset" for e in service_events(fresh_estate))


def run_killing_prometheus(path: Path, estate: ServiceEstate) -> tuple[int, str, str]:
    """`chaosrunner run PATH --json`; Prometheus is killed once the guard samples; the run must end in 30 s."""
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(path), "--json"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        _wait_for_guard_samples(30)
        estate.prometheus.kill()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, out, err


def service_events(estate: ServiceEstate) -> list[dict[str, Any]]:
    return list(service_state(estate)["events"])


@pytest.mark.slow
def test_a_recovery_nobody_can_see_fails_the_run_without_waiting_out_the_deadline(
    fresh_estate: ServiceEstate, tmp_path: Path
) -> None:
    """Prometheus dies during a method shorter than the guard's patience (8 polls of 500 ms): the method
    passes, then the recovery watch cannot see anything. It used to wait the whole 60 s deadline and say
    "did not recover"; it now gives up after the same 8 polls and says recovery could not be confirmed."""
    path = experiment(tmp_path, fresh_estate, fault={"match": {"target": TARGET}, "error_ratio": 0.0}, pause_s=2.5,
                      slo_guard={"slos": ["pinboard-availability"], "unavailable_after": 8})
    code, out, err = run_killing_prometheus(path, fresh_estate)  # the run must end within 30 s: half the deadline
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and result["verdict"] == "failed", out + err
    why = "recovery could not be confirmed: recovery unknown: the SLI source failed"
    assert result["reason"].startswith(why), result
    j = journal(result)
    assert j["chaosrunner"]["abort"] is None  # the method passed: the guard never had to abort
    assert j["chaosrunner"]["guard"]["recovery"]["unknown"] is True
    assert [r["status"] for r in j["rollbacks"]] == ["succeeded"]


@pytest.mark.slow
def test_the_guard_watches_the_hypothesis_after_the_method_while_the_fault_is_live(
    estate: ServiceEstate, tmp_path: Path
) -> None:
    """The method injects and ends at once; the fault stays until the rollbacks, and the steady-state
    hypothesis after the method takes 8 s. A guard stopped at the method's end saw nothing (passed,
    the clients' errors unrecorded); it must abort during the hypothesis and roll back."""
    path = experiment(tmp_path, estate, pause_s=0, slo_guard={"slos": ["pinboard-availability"],
                                                             "abort_on": {"burn_rate": 14.4, "consecutive": 2}})
    doc = yaml.safe_load(path.read_text())
    doc["steady-state-hypothesis"] = {"title": "a slow check", "probes": [{
        "type": "probe", "name": "slow-check", "tolerance": 0,
        "provider": {"type": "process", "path": sys.executable, "arguments": "-c 'import time; time.sleep(8)'"},
    }]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, result = run(path)
    j = journal(result)
    cr = j["chaosrunner"]
    assert code == 3 and cr["verdict"] == "aborted", cr["reason"]
    assert "burn rate" in cr["abort"]["reason"]
    assert [r["status"] for r in j["rollbacks"]] == ["succeeded"]
    assert healthy(estate)
