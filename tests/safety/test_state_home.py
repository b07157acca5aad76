"""One state home per host: commands started from different directories share one kill switch, one set of
target locks and one ledger; state an older version left in ./.chaosrunner is reported and migrated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrunner.core import config
from chaosrunner.core.storage import journal_dir, state_dir
from chaosrunner.faults.ledger import Ledger
from tests.safety.harness import HERE, REPO, held_fault, wait_for


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A host whose state home comes from its config file (no $CHAOSRUNNER_HOME), and two working dirs."""
    home = tmp_path / "home"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"state": str(home)}))
    monkeypatch.delenv("CHAOSRUNNER_HOME")
    monkeypatch.delenv("CHAOSRUNNER_JOURNALS")
    monkeypatch.setenv("CHAOSRUNNER_CONFIG", str(cfg))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    return {"home": home, "a": a, "b": b, "tmp": tmp_path}


def cli(cwd: Path, *args: str, wait: bool = True, timeout: float = 90) -> Any:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "chaosrunner", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def experiment(where: Path, fault: Path, ready: Path, target: str = "t1") -> Path:
    doc = {
        **held_fault(fault, ready, 60, title="home"),
        "extensions": [{"name": "chaosrunner",
                        "targets": {"inventory": "static", "select": {"id": target}, "pick": 1,
                                    "static": [{"id": target, "service": "svc", "zone": "z1", "region": "r1"}]},
                        "blast_radius": {"services": ["svc"], "max_targets": 1}}],
    }
    path = where / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_state_home_is_never_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOSRUNNER_HOME")
    monkeypatch.delenv("CHAOSRUNNER_JOURNALS")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert state_dir() == Path("/var/lib/chaosrunner")
    assert journal_dir() == Path("/var/lib/chaosrunner/journals")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "chaosrunner"
    monkeypatch.setenv("CHAOSRUNNER_HOME", "relative/home")
    assert state_dir() == tmp_path / "relative" / "home"  # an explicit choice, made absolute once
    assert config.state_home_setting().source == "$CHAOSRUNNER_HOME"


def test_a_bad_config_file_names_the_file_and_key(host: dict[str, Any]) -> None:
    cfg = Path(os.environ["CHAOSRUNNER_CONFIG"])
    cfg.write_text("state: /x\nstat: /y\n")
    out = cli(host["a"], "status")
    assert out.returncode == 2 and f"{cfg}: stat: Extra inputs are not permitted" in out.stderr


@pytest.mark.slow
def test_halt_in_one_directory_aborts_a_run_started_in_another_and_refuses_the_next(host: dict[str, Any]) -> None:
    fault, ready = host["tmp"] / "fault", host["tmp"] / "ready"
    run = cli(host["b"], "run", str(experiment(host["b"], fault, ready)), "--json", wait=False)
    try:
        wait_for(ready.exists, 30, "the method under way")
        halted = time.monotonic()
        assert cli(host["a"], "halt", "--reason", "incident 1234").returncode == 0
        out, err = run.communicate(timeout=60)
        result = json.loads(out)
        assert run.returncode == 3 and "kill switch engaged: incident 1234" in result["reason"], err
        assert time.monotonic() - halted < 5
        assert result["state_home"] == str(host["home"])
        assert not fault.exists()
        journal = json.loads(Path(result["journal"]).read_text())
        assert journal["chaosrunner"]["abort"]["rollback_completed_at"]
        assert Path(result["journal"]).is_relative_to(host["home"] / "journals")
        nxt = cli(host["a"], "run", str(experiment(host["a"], fault, ready)), "--json")
        assert nxt.returncode == 4 and "halted: incident 1234" in json.loads(nxt.stdout)["reason"]
        listed = cli(host["a"], "journal", "list", "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) >= 2  # from any directory
    finally:
        run.kill()


@pytest.mark.slow
def test_overlapping_targets_are_refused_across_directories(host: dict[str, Any]) -> None:
    fault, ready = host["tmp"] / "fault", host["tmp"] / "ready"
    first = cli(host["a"], "run", str(experiment(host["a"], fault, ready)), "--json", wait=False)
    try:
        wait_for(ready.exists, 30, "the first run under way")
        second = cli(host["b"], "run", str(experiment(host["b"], host["tmp"] / "f2", host["tmp"] / "r2")), "--json")
        assert second.returncode == 4 and "lock" in json.loads(second.stdout)["reason"], second.stdout
        report = json.loads(cli(host["b"], "status", "--json").stdout)
        assert [lock["key"] for lock in report["locks"]] == ["static:t1"]
        assert len(report["runs"]) == 1 and report["runs"][0]["alive"]
        assert sorted(f["fault"] for f in report["open_faults"]) == ["experiment", "file-exists"]
    finally:
        first.kill()
        first.wait(10)


@pytest.mark.slow
def test_recover_from_any_directory_reverts_a_crashed_run(host: dict[str, Any]) -> None:
    import psutil

    fault, ready = host["tmp"] / "fault", host["tmp"] / "ready"
    run = cli(host["a"], "run", str(experiment(host["a"], fault, ready)), wait=False)
    wait_for(ready.exists, 30, "the method under way")
    for child in psutil.Process(run.pid).children(recursive=True):
        child.kill()
    watchdogs = [p for p in psutil.process_iter(["cmdline"])
                 if "chaosrunner.faults.watchdog" in " ".join(p.info["cmdline"] or []) and str(run.pid) in
                 " ".join(p.info["cmdline"] or [])]
    for w in watchdogs:
        w.kill()
    run.kill()
    run.wait(10)
    assert fault.exists()
    out = cli(host["b"], "recover", "--json")
    assert out.returncode == 0, out.stderr
    assert not fault.exists() and not Ledger(host["home"]).open_entries()
    assert json.loads(out.stdout)["state_home"] == str(host["home"])


def test_state_left_in_the_current_directory_is_reported_and_migrated(host: dict[str, Any]) -> None:
    old = host["a"] / ".chaosrunner"
    fault = host["tmp"] / "old-fault"
    fault.write_text("x")
    Ledger(old).record("20260101T000000Z-old-run-abcdef", "file-exists", str(fault),
                       {"type": "python", "module": "chaos_undo_marks", "func": "delete_file",
                        "arguments": {"path": str(fault)}}, pid=999999)
    listed = cli(host["a"], "status")
    assert "1 open fault(s)" in listed.stderr and "chaosrunner state migrate" in listed.stderr
    moved = cli(host["a"], "state", "migrate", "--json")
    assert moved.returncode == 0, moved.stderr
    assert not old.exists() and len(json.loads(moved.stdout)["moved"]) >= 2
    assert cli(host["a"], "status").stderr == ""
    assert cli(host["b"], "recover").returncode == 0
    assert not fault.exists()
