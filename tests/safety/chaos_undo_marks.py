"""Undo activities for the safety tests: each leaves evidence on disk that a test can poll for.

Imported by the ledger in-process and by the watchdog subprocess (tests put this directory on PYTHONPATH).
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def delete_file(path: str) -> str:
    """Revert a "fault" that is the existence of ``path``."""
    Path(path).unlink(missing_ok=True)
    return "deleted"


def append_line(path: str, text: str = "undone") -> None:
    """Leave a line per call, so a test can count how many times an undo ran."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def fail(message: str = "driver API unreachable") -> None:
    raise RuntimeError(message)


def hang(seconds: float = 3600.0) -> None:
    """A hung driver API (Toxiproxy/Prometheus that never answers)."""
    time.sleep(seconds)


def record_configuration(path: str, configuration: dict | None = None, secrets: dict | None = None) -> None:
    """Write what chaoslib handed the activity (used to check configuration/secret resolution)."""
    import json

    Path(path).write_text(json.dumps({"configuration": configuration, "secrets": secrets}, default=str))
