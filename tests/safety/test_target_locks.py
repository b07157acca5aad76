"""Target locks across real processes: overlapping runs are refused, a dead holder frees its targets."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from chaosrunner.safety.locks import TargetLocks, lock_file_name
from tests.safety.harness import wait_for

HOLDER = str(Path(__file__).parent / "lock_holder.py")


def try_lock(spawn, tmp_path: Path, run_id: str, *keys: str) -> tuple[int, dict]:
    ready = tmp_path / f"{run_id}.try.json"
    p = spawn(HOLDER, run_id, str(ready), "try", *keys)
    code = p.wait(timeout=30)
    return code, json.loads(ready.read_text())


@pytest.mark.slow
def test_second_run_on_an_overlapping_target_is_refused_until_the_first_dies(state, tmp_path, spawn) -> None:
    ready = tmp_path / "first.json"
    first = spawn(HOLDER, "run-a", str(ready), "hold", "sandbox:pinboard-1", "sandbox:pinboard-2")
    wait_for(lambda: ready.exists(), 20, "the first run to take its locks")
    code, out = try_lock(spawn, tmp_path, "run-b", "sandbox:pinboard-2", "sandbox:pinboard-3")
    assert code == 4 and out["acquired"] is False
    assert out["holders"]["sandbox:pinboard-2"]["run_id"] == "run-a"
    assert out["holders"]["sandbox:pinboard-3"] is None  # all-or-nothing: nothing kept by the refused run
    code, _ = try_lock(spawn, tmp_path, "run-c", "sandbox:pinboard-3")
    assert code == 0  # disjoint targets run side by side
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    code, out = try_lock(spawn, tmp_path, "run-b", "sandbox:pinboard-2", "sandbox:pinboard-3")
    assert code == 0 and out["acquired"] is True  # the kernel released the dead run's locks


def test_locks_conflict_within_one_process_and_release(state: Path) -> None:
    a, b = TargetLocks(state), TargetLocks(state)
    assert a.acquire("run-a", ["k1", "k2"])
    assert not b.acquire("run-b", ["k2"])
    assert a.holder("k1") == {"run_id": "run-a", "pid": os.getpid(), "key": "k1"}
    a.release(["k2"])
    assert b.acquire("run-b", ["k2"]) and a.held == ["k1"]
    with a:
        pass
    assert a.held == [] and a.holder("k1") is None


def test_lock_files_are_private_and_keys_never_become_paths(state: Path) -> None:
    locks = TargetLocks(state)
    assert locks.acquire("run-a", ["../../etc/passwd", "a/b"])
    names = sorted(p.name for p in (state / "locks").iterdir())
    assert names == sorted([lock_file_name("../../etc/passwd"), lock_file_name("a/b")])
    assert stat.S_IMODE((state / "locks").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (state / "locks").iterdir())
    locks.release()


def locked_experiment(tmp_path: Path, ready: Path) -> Path:
    import yaml

    doc = {
        "title": "hold a target",
        "description": "takes the lock on one static target and stays in its method",
        "method": [
            {
                "type": "action",
                "name": "hold",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "hold",
                    "arguments": {"ready": str(ready), "seconds": 60},
                },
            }
        ],
        "extensions": [
            {
                "name": "chaosrunner",
                "targets": {
                    "inventory": "static",
                    "select": {"service": "pinboard"},
                    "pick": 1,
                    "static": [
                        {
                            "id": "pinboard-us-east-a-1",
                            "service": "pinboard",
                            "region": "us-east",
                            "zone": "us-east-a",
                            "tier": "non-critical",
                        }
                    ],
                },
                "blast_radius": {"services": ["pinboard"], "max_targets": 1, "zones": 1},
            }
        ],
    }
    path = tmp_path / "hold.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.slow
def test_two_concurrent_chaosrunner_runs_on_the_same_target(state, tmp_path, spawn, reap) -> None:
    import subprocess
    import sys

    from tests.safety.harness import child_env

    ready = tmp_path / "first-in-method"
    path = locked_experiment(tmp_path, ready)
    first = spawn("-m", "chaosrunner", "run", str(path), "--json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready.exists() or first.poll() is not None, 60, "the first run to be in its method")
        assert first.poll() is None
        second = subprocess.run(
            [sys.executable, "-m", "chaosrunner", "run", str(path), "--json"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 4, (second.stdout, second.stderr)
        result = json.loads(second.stdout)
        assert result["verdict"] == "refused" and "pinboard-us-east-a-1" in result["reason"]
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=5)
        import psutil

        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if "chaosrunner.faults.watchdog" in cmd and str(state) in cmd:
                reap.append(p.pid)
