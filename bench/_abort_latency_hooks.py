"""Probe and control used by the *peer* contenders of bench/abort_latency.py (leading underscore: not a
benchmark itself). Runs inside `chaos run` processes (PYTHONPATH = repository root).

* ``error_ratio(prometheus_url, query)`` — the same in-scope error ratio the chaosrunner guard reads
  (2 s timeout); every reading is appended to ``$BENCH_EVENTS`` as ``{"at", "kind": "probe", "value"}``.
* a Chaos Toolkit control whose ``configure_control`` wraps ``chaosaddons.controls.safeguards``'s
  ``exit_gracefully`` so the moment the safeguard decides to interrupt is logged (``kind: "decision"``).
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.parse
import urllib.request
from typing import Any


def _log(event: dict[str, Any]) -> None:
    path = os.environ.get("BENCH_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


def error_ratio(prometheus_url: str, query: str) -> float:
    qs = urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{qs}", timeout=2) as r:
        result = json.loads(r.read())["data"]["result"]
    value = float(result[0]["value"][1]) if result else math.nan
    if not math.isfinite(value):
        value = 1.0  # no data: treat as failing (the same fail-closed stance as the guard)
    _log({"at": time.time(), "kind": "probe", "value": value})
    return value


def configure_control(**_: Any) -> None:
    from chaosaddons.controls import safeguards

    original = safeguards.exit_gracefully

    def logged_exit() -> None:
        _log({"at": time.time(), "kind": "decision"})
        original()

    safeguards.exit_gracefully = logged_exit
