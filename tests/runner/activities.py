"""Python activities the runner tests use (importable by `chaos run` and `chaosrunner run` alike:
the tests put this directory on PYTHONPATH). Each leaves a trace in a file so tests can see what ran."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def mark(path: str, text: Any = "x") -> Any:
    """Append ``text`` (JSON when it is not a string) and a newline to ``path``; returns ``text``."""
    with open(path, "a") as f:
        f.write((text if isinstance(text, str) else json.dumps(text)) + "\n")
    return text


def hang(seconds: float = 3600.0) -> None:
    """Block like a stuck client call would (sleeps in small steps, as real I/O loops do)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def fail(message: str = "injected failure") -> None:
    raise RuntimeError(message)


def file_exists(path: str) -> bool:
    return Path(path).exists()


def measure(value: float) -> dict:
    """A probe that reports a measured figure to the chaosrunner journal."""
    return {"chaosrunner_figures": {"measured": value}}
