"""Shared fixtures for the calendar/scheduler tests: private state dirs and calendar files."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
MARK_EXPERIMENT = FIXTURES / "mark.yaml"


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every test gets its own CHAOSRUNNER_HOME and CHAOSRUNNER_JOURNALS (never the repo's)."""
    home, journals = tmp_path / "home", tmp_path / "journals"
    home.mkdir()
    journals.mkdir()
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(home))
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(journals))
    return {"home": home, "journals": journals}


@pytest.fixture
def write_calendar(tmp_path: Path) -> Callable[..., Path]:
    """Write a calendar dict to ``tmp_path/<name>.yaml``; experiments default to the marker fixture."""

    def write(data: dict[str, Any], name: str = "calendar") -> Path:
        doc = json.loads(json.dumps(data, default=str))
        for e in doc.get("entries", []):
            e.setdefault("experiment", str(MARK_EXPERIMENT))
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail after ``timeout`` seconds (never sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def journals(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("*.json")) if not p.name.startswith(".")]


PYTHON = sys.executable
