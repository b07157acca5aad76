"""Process helpers for the safety suite: child environment, chaosrunner children, polling with a
deadline, pid checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def child_env() -> dict[str, str]:
    """The environment for child processes: this test's state dirs, and the undo module importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def chaosrunner(*args: str, **kw: Any) -> subprocess.Popen:
    """``chaosrunner ARGS`` as a child in its own session (so a test can kill it like a crash would),
    with this test's environment; stdout/stderr piped unless the caller says otherwise."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "chaosrunner", *args],
        env=child_env(),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.05) -> float:
    """Poll ``condition`` until truthy; returns the seconds it took, fails the test after ``timeout_s``."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].startswith("Z")
    except OSError:
        return True


def kill_pid(pid: int | None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def held_fault(fault: Path, ready: Path, hold_s: float, title: str = "held fault") -> dict[str, Any]:
    """An experiment that injects a file fault (ledger entry first), writes ``ready`` and holds for ``hold_s``;
    its rollback deletes the file. Add ``extensions`` as a test needs them."""
    return {
        "title": title,
        "description": "d",
        "method": [
            {"type": "action", "name": "inject", "provider": {
                "type": "python", "module": "chaos_undo_marks", "func": "inject_file_with_ledger",
                "arguments": {"path": str(fault)}}},
            {"type": "action", "name": "hold", "provider": {
                "type": "python", "module": "chaos_undo_marks", "func": "hold",
                "arguments": {"ready": str(ready), "seconds": hold_s}}},
        ],
        "rollbacks": [{"type": "action", "name": "undo", "provider": {
            "type": "python", "module": "chaos_undo_marks", "func": "delete_file", "arguments": {"path": str(fault)}}}],
    }
