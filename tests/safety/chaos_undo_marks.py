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


def inject_file(path: str) -> str:
    """A fault the way a third-party driver injects it: no ledger entry, only the experiment's rollback."""
    Path(path).write_text("fault")
    return path


def inject_file_with_ledger(path: str) -> str:
    """A fault the way chaosrunner's own drivers inject it: ledger entry first, then the fault."""
    from chaosrunner.faults.ledger import record_fault

    record_fault(
        "file-exists",
        path,
        {"type": "python", "module": "chaos_undo_marks", "func": "delete_file", "arguments": {"path": path}},
    )
    Path(path).write_text("fault")
    return path


def hold(ready: str, seconds: float = 60.0) -> None:
    """Mark the moment the method is under way, then stay in it (the test kills the runner here)."""
    Path(ready).write_text(str(os.getpid()))
    time.sleep(seconds)


def timed(path: str, seconds: float = 0.5) -> None:
    """Record this undo's [start, end] (epoch seconds) so a test can see which undos overlapped."""
    import json

    start = time.time()
    time.sleep(seconds)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps([start, time.time()]) + "\n")


def busy(seconds: float, step: float = 0.05) -> None:
    """Work in Python for ``seconds`` (short sleeps): an activity that a deadline can stop between steps."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(step)


def busy_then_inject(path: str, seconds: float) -> str:
    """A background activity that injects late: works for ``seconds``, then records and injects a fault."""
    busy(seconds)
    return inject_file_with_ledger(path)


def break_store(journals: str) -> None:
    """The journal store fails mid-run: its directory is replaced by a file, so every write there fails."""
    import shutil

    shutil.rmtree(journals)
    Path(journals).write_text("not a directory any more")


def inject_with_undo(path: str, undo: dict) -> str:
    """A fault whose undo is the given activity (an http call, a process), recorded first as drivers do."""
    from chaosrunner.faults.ledger import record_fault

    record_fault("file-exists", path, undo)
    Path(path).write_text("fault")
    return path
