"""Helpers for runner tests: they run the real CLIs (`chaosrunner run`, `chaos run`) as child processes."""

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

HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra or {})
    return env


def write_experiment(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def chaosrunner(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrunner", *args],
        capture_output=True, text=True, env=child_env(env), timeout=timeout, stdin=subprocess.DEVNULL,
    )


def chaos(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "chaos"), "--no-version-check", *args],
        capture_output=True, text=True, env=child_env(env), timeout=timeout, stdin=subprocess.DEVNULL,
    )


def journals(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def only_journal(root: Path) -> dict[str, Any]:
    found = journals(root)
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def wait_for(predicate, timeout: float, what: str) -> Any:  # noqa: ANN001
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
