"""A stop signal never cuts a rollback short, however it is delivered.

Seen in CI: the scheduler, stopping, sent SIGTERM to a run's whole process group while the run was in its
rollbacks; the rollback's shell died with it (status -15), the run ended ``rollback-failed`` and the fault
stayed. A terminal's Ctrl-C (SIGINT to the foreground group) and a supervisor stopping a cgroup do the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from chaosrunner.schedule.children import ChildRun
from tests.safety.harness import wait_for

REPO = Path(__file__).resolve().parents[2]



@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_to_the_whole_group_during_rollbacks_does_not_kill_the_rollback(
    tmp_path: Path, sig: signal.Signals
) -> None:
    started, done = tmp_path / "rollback-started", tmp_path / "rollback-done"
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "title": "rollback under a group signal", "description": "x",
        "method": [{"type": "action", "name": "noop", "provider": {"type": "process", "path": "true"}}],
        "rollbacks": [{"type": "action", "name": "slow-undo", "provider": {
            "type": "process", "path": "sh",
            "arguments": ["-c", f"echo > {started}; sleep 1.5; echo > {done}"]}}],
    }))
    # its own process group, like a job a shell started in the foreground
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(exp), "--json"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        wait_for(started.exists, 60, "the rollback to start")
        os.killpg(proc.pid, sig)  # Ctrl-C / a cgroup stop: every process of the group gets it
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    result = json.loads(out.strip().splitlines()[-1])
    assert done.exists(), f"the rollback was cut short: {result}"
    assert proc.returncode != 5 and result["verdict"] != "rollback-failed", result
    journal = json.loads(Path(result["journal"]).read_text())
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]


def test_the_scheduler_signals_the_runner_not_its_group(tmp_path: Path) -> None:
    """ChildRun.terminate reaches the runner only; the group is SIGKILLed only when the grace is over."""
    marker = tmp_path / "grandchild"
    code = (f"import subprocess, signal, time\n"
            f"signal.signal(signal.SIGTERM, lambda *a: None)\n"
            f"p = subprocess.Popen(['sh', '-c', 'sleep 30'])\n"
            f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
            f"time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    child = ChildRun("e", None, [], proc, time.monotonic(), time.monotonic() + 60, 30.0)  # type: ignore[arg-type]
    try:
        wait_for(lambda: marker.exists() and marker.read_text(), 10, "the runner's own child")
        grandchild = int(marker.read_text())
        child.terminate("daemon stopping")
        time.sleep(0.3)
        assert proc.poll() is None  # the runner handled it (here: ignored it)
        # the runner's own child got nothing (a killed one lingers as a zombie: its parent does not reap it)
        assert psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE
        child.kill()
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
