"""Fixtures for the safety suite: private state dirs per test, and processes that are always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CHAOSRUNNER_HOME and CHAOSRUNNER_JOURNALS for this test; returns the state dir."""
    home = tmp_path / "state"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(home))
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(tmp_path / "journals"))
    monkeypatch.delenv("CHAOSRUNNER_RUN_ID", raising=False)
    monkeypatch.delenv("CHAOSRUNNER_RUNNER_PID", raising=False)
    monkeypatch.syspath_prepend(str(HERE))
    return home


def child_env() -> dict[str, str]:
    """The environment for child processes: this test's state dirs, and the undo module importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


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


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start python children in their own session; every one (and its group) is killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **kw: object) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, *args], env=child_env(), start_new_session=True, stdin=subprocess.DEVNULL, **kw
        )  # type: ignore[call-overload]
        procs.append(p)
        return p

    try:
        yield start
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def reap() -> Iterator[list[int]]:
    """Pids a test learns about (watchdogs spawned by a child); each is SIGKILLed at teardown if alive."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        for pid in pids:
            kill_pid(pid)
