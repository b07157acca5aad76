"""Python activities for the compatibility corpus, written against Chaos Toolkit's public python
provider contract only. Importable by `chaos run` and `chaosrunner run` alike (the tests put this
directory on PYTHONPATH). Each leaves a line in the ``trace`` file so the tests compare what ran."""

from __future__ import annotations

import json
import time
from typing import Any


def mark(trace: str, text: str) -> str:
    with open(trace, "a") as f:
        f.write(text + "\n")
    return text


def slow_mark(trace: str, text: str, seconds: float) -> str:
    """Mark after ``seconds``, slept in 0.1 s steps as Python code that polls does (a timeout raised in
    this thread lands between two steps; one long ``sleep`` in C would only see it when it returns)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.1, left))
    return mark(trace, text)


def record(trace: str, label: str, value: Any = None) -> Any:
    """Record ``value`` with its type name, so typed vars can be compared across tools."""
    shown = value.decode() if isinstance(value, bytes) else value
    mark(trace, json.dumps([label, type(value).__name__, shown]))
    return value


def record_config(trace: str, configuration: dict, secrets: dict | None = None, keys: list | None = None) -> None:
    """Record the named configuration keys (type and value) and every secret (chaoslib hands the
    provider's secret scopes merged into one mapping), as the activity sees them."""
    for key in keys or []:
        record(trace, f"config.{key}", configuration.get(key, "<absent>"))
    for key, value in sorted((secrets or {}).items()):
        record(trace, f"secret.{key}", value)


def fail(trace: str, text: str) -> None:
    mark(trace, text)
    raise RuntimeError(f"{text}: injected failure")


def number(value: float) -> float:
    return value


def text(value: str) -> str:
    return value


def payload() -> dict:
    return {"service": {"status": "up", "replicas": [1, 2, 3]}}


def tolerance_between(low: float, high: float, value: float | None = None) -> bool:
    """A probe used as a tolerance: chaoslib passes the probed value as ``value``."""
    return value is not None and low <= value <= high


def mark_true(trace: str, text: str) -> bool:
    mark(trace, text)
    return True


def remove(path: str) -> None:
    import os

    if os.path.exists(path):
        os.remove(path)
