"""Safety by construction: the guard never turns itself off, every fault has a keeper outside the run's
processes, every run ends on record, every activity has its own deadline.

Each test is one hostile condition, run through the real `chaosrunner run` child. The "fault" is a file
whose existence is the fault (its undo deletes it), so what is left behind is read from the disk.
A stand-in Prometheus (a tiny HTTP server answering the Prometheus query API) plays a dependency that
misbehaves in a way a real Prometheus does not do on demand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from chaosrunner.core.ports import LOOPBACK
from chaosrunner.faults.ledger import Ledger
from tests.safety.harness import chaosrunner, pid_gone, wait_for

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------- a misbehaving Prometheus


class FakePrometheus:
    """Answers ``/api/v1/query`` with one healthy series (value ``answer``) until ``broken`` is set, then
    with HTTP 200 and ``"result": null`` — what a proxy or a misconfigured remote-read endpoint sends."""

    def __init__(self) -> None:
        self.broken = threading.Event()
        self.queries = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.queries += 1
                if self.path.startswith("/-/healthy"):
                    body: dict[str, Any] | str = "Prometheus is Healthy.\n"
                elif outer.broken.is_set():
                    body = {"status": "success", "data": {"resultType": "vector", "result": None}}
                else:
                    answer = "0" if "bad" in self.path else "10"
                    body = {"status": "success", "data": {"resultType": "vector",
                                                          "result": [{"metric": {}, "value": [time.time(), answer]}]}}
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    p = FakePrometheus()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """chaosrunner children (runs, reapers) and the watchdogs they spawn: all killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in procs:
            for child in _descendants(p.pid):
                _kill(child)
            _kill(p.pid)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _descendants(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _watchdog_of(state: Path) -> int | None:
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "chaosrunner.faults.watchdog" in cmd and str(state) in os.environ.get("CHAOSRUNNER_HOME", ""):
            try:
                if p.environ().get("CHAOSRUNNER_HOME") == str(state):
                    return int(p.pid)
            except psutil.Error:
                continue
    return None


# ---------------------------------------------------------------------------------------- experiments


def act(name: str, func: str, *, background: bool = False, timeout: float | None = None,
        after: float | None = None, **arguments: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "python", "module": "chaos_undo_marks", "func": func, "arguments": arguments}
    if timeout is not None:
        provider["timeout"] = timeout
    activity: dict[str, Any] = {"type": "action", "name": name, "provider": provider}
    if background:
        activity["background"] = True
    if after is not None:
        activity["pauses"] = {"after": after}
    return activity


def write(tmp_path: Path, method: list[dict[str, Any]], fault: Path, **extension: Any) -> Path:
    doc = {
        "title": "hostile conditions",
        "description": "a fault that is a file; its rollback deletes it",
        "method": method,
        "rollbacks": [act("remove-the-fault", "delete_file", path=str(fault))],
        "extensions": [{"name": "chaosrunner", **extension}],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def guarded(prometheus: FakePrometheus, tmp_path: Path) -> dict[str, Any]:
    catalog = tmp_path / "slos.yaml"
    catalog.write_text(yaml.safe_dump({"slos": [{
        "name": "svc-availability", "service": "svc", "objective": 99.9, "window": "30d",
        "sli": {"type": "error_ratio",
                "bad": 'sum(rate(bad_total{ {{selector}} }[{{window}}]))',
                "total": 'sum(rate(all_total{ {{selector}} }[{{window}}]))'},
    }]}))
    return {
        "blast_radius": {"services": ["svc"]},
        "slo_guard": {"slos": ["svc-availability"], "interval": "250ms", "baseline_window": "1s",
                      "catalog": [str(catalog)], "prometheus": prometheus.url, "out_of_scope": False,
                      "budget_gate": False},  # the guard is under test, not the (default-on) budget gate
    }


def run_json(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert out, err.decode()[-3000:]
    return dict(json.loads(out))


# ------------------------------------------------------------------------------- the guard fails closed


def test_prometheus_answering_null_when_the_guard_starts_aborts_the_run(
    state: Path, tmp_path: Path, prometheus: FakePrometheus, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    prometheus.broken.set()
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault), after=10)], fault,
                **guarded(prometheus, tmp_path))
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)
    assert proc.returncode == 3, result
    assert result["verdict"] == "aborted" and "unavailable" in result["reason"], result
    assert not fault.exists()
    assert not Ledger(state).open_entries()


def test_prometheus_answering_null_mid_run_aborts_the_run(
    state: Path, tmp_path: Path, prometheus: FakePrometheus, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault), after=20)], fault,
                **guarded(prometheus, tmp_path))
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    wait_for(fault.exists, 30, "the fault")
    seen = prometheus.queries
    wait_for(lambda: prometheus.queries >= seen + 4, 10, "the guard sampling")
    prometheus.broken.set()
    broke = time.monotonic()
    result = run_json(proc, 60)
    assert proc.returncode == 3, result
    assert "unavailable" in result["reason"] or "malformed" in result["reason"], result
    assert time.monotonic() - broke < 10  # not the 20 s pause: the guard stopped the run
    assert not fault.exists()


# -------------------------------------------------------------------- halt reaches every run, guarded or not


def test_halt_aborts_a_run_without_slo_guard_within_a_second(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("hold", "hold", ready=str(ready), seconds=60)], fault)
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    wait_for(ready.exists, 30, "the method under way")
    halted = time.monotonic()
    halt = subprocess.run([*_cli(), "halt", "--reason", "incident 1234"], env=_env(), capture_output=True, timeout=30)
    assert halt.returncode == 0, halt.stderr
    result = run_json(proc, 60)
    assert proc.returncode == 3 and "kill switch engaged: incident 1234" in result["reason"], result
    assert time.monotonic() - halted < 10
    journal = json.loads(Path(result["journal"]).read_text())
    decided = journal["chaosrunner"]["abort"]["decided_at"]
    assert decided is not None
    assert not fault.exists()


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "chaosrunner"]


def _env() -> dict[str, str]:
    from tests.safety.harness import child_env

    return child_env()


# ------------------------------------------------------------------ a keeper outside the run's processes


@pytest.mark.parametrize("order", ["together", "watchdog-then-runner"])
def test_the_reaper_reverts_when_runner_and_watchdog_both_die(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]], order: str
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("hold", "hold", ready=str(ready), seconds=60)], fault)
    reaper = chaosrunner("reaper", "--interval", "0.2", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(reaper)
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    wait_for(ready.exists, 30, "the method under way")
    watchdog = wait_for_value(lambda: _watchdog_of(state), 10, "the run's watchdog")
    if order == "together":  # a container or systemd stop: every process of the unit at once
        _kill(watchdog)
        _kill(proc.pid)
    else:
        _kill(watchdog)
        wait_for(lambda: pid_gone(watchdog), 5, "the watchdog gone")
        time.sleep(0.5)  # the runner lives on unwatched for a moment, then dies too
        _kill(proc.pid)
    proc.wait(10)
    killed = time.monotonic()
    wait_for(lambda: not fault.exists() and not Ledger(state).open_entries(), 10, "the reaper reverting the fault")
    assert time.monotonic() - killed < 10
    journal = next((tmp_path / "journals").rglob("*.json"))
    section = wait_for_value(lambda: _complete(journal), 10, "the journal marked")
    assert section["recovered_by"] == "reaper" and section["verdict"] == "aborted", section


def wait_for_value(get: Any, timeout_s: float, what: str) -> Any:
    box: list[Any] = []

    def ready() -> bool:
        value = get()
        if value:
            box.append(value)
        return bool(value)

    wait_for(ready, timeout_s, what)
    return box[-1]


def _complete(journal: Path) -> dict[str, Any] | None:
    try:
        section = json.loads(journal.read_text())["chaosrunner"]
    except (OSError, ValueError, KeyError):
        return None
    return section if section.get("complete") else None


# ------------------------------------------------------------------------------- every run ends on record


def test_a_journal_store_that_fails_mid_run_moves_the_record_next_to_the_ledger(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    journals = tmp_path / "journals"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("store-fails", "break_store", journals=str(journals)),
                           act("after", "busy", seconds=0.2)], fault)
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)  # the verdict still reaches stdout
    assert proc.returncode == 0, result
    assert result["verdict"] == "passed" and "journal store failed mid-run" in result["reason"]
    record = Path(result["journal"])
    assert record.parent == state / "fallback-journals" and record.is_file()
    section = json.loads(record.read_text())["chaosrunner"]
    assert section["complete"] and section["journal_fallback"]["from"].startswith(str(journals))
    assert [a["status"] for a in section["activities"]] == ["succeeded"] * 4
    assert not fault.exists() and not Ledger(state).open_entries()
    assert not list((state / "runs").glob("*.json"))  # the record is complete: the lease is released


def test_an_activity_deadline_holds_even_when_the_store_fails_before_it(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("store-fails", "break_store", journals=str(tmp_path / "journals")),
                           act("hangs", "hang", timeout=2, seconds=15)], fault)
    started = time.monotonic()
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)
    assert time.monotonic() - started < 12  # the 2 s deadline, not the 15 s hang
    assert proc.returncode == 1 and "timed out after 2" in result["reason"], result
    assert not fault.exists()


# ------------------------------------------------------------------------------ per-activity deadlines


def _activities(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    journal = json.loads(Path(result["journal"]).read_text())
    return {a["name"]: a for a in journal["chaosrunner"]["activities"]}


def test_a_background_activity_is_stopped_at_its_own_deadline(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("long-background", "busy", background=True, timeout=2, seconds=8),
                           act("short-foreground", "busy", seconds=0.5),
                           act("next-foreground", "busy", seconds=0.5)], fault)
    started = time.monotonic()
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)
    assert time.monotonic() - started < 7.5  # stopped at 2 s, not after 8 s
    acts = _activities(result)
    bg = acts["long-background"]
    assert bg["status"] == "failed" and "timed out after 2" in (bg["error"] or ""), bg
    assert bg["duration"] < 4
    assert acts["short-foreground"]["status"] == acts["next-foreground"]["status"] == "succeeded"
    assert proc.returncode == 1 and not fault.exists()


def test_a_background_deadline_never_fails_the_foreground_activity(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    fault = tmp_path / "fault"
    exp = write(tmp_path, [act("inject", "inject_file_with_ledger", path=str(fault)),
                           act("background", "busy", background=True, timeout=1, seconds=6),
                           {"type": "action", "name": "foreground-process",
                            "provider": {"type": "process", "path": "/bin/sleep", "arguments": "3"}}], fault)
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)
    acts = _activities(result)
    assert acts["foreground-process"]["status"] == "succeeded", acts["foreground-process"]
    assert acts["background"]["status"] == "failed" and "timed out after 1" in acts["background"]["error"]
    assert not fault.exists()


def test_rollbacks_start_only_after_a_late_background_activity_and_revert_what_it_injected(
    state: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    late = tmp_path / "late-fault"
    exp = write(tmp_path, [act("late-injector", "busy_then_inject", background=True, path=str(late), seconds=1.5),
                           act("quick", "busy", seconds=0.1)], tmp_path / "unused")
    proc = chaosrunner("run", str(exp), "--json")
    children.append(proc)
    result = run_json(proc, 60)
    acts = _activities(result)
    rollback = acts["remove-the-fault"]
    assert rollback["start"] >= acts["late-injector"]["end"], (rollback, acts["late-injector"])
    assert not late.exists()  # chaosrunner's sweep reverted what the late activity recorded
    assert not Ledger(state).open_entries()
    journal = json.loads(Path(result["journal"]).read_text())
    assert [e["outcome"] for e in journal["chaosrunner"]["ledger"] if e["fault"] == "file-exists"] == ["undone"]
