"""Fixtures for the safety suite: private state dirs per test, and processes that are always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.safety.harness import HERE, child_env, kill_pid


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
