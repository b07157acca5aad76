"""A stand-in for the runner: spawns the watchdog, beats, records and "injects" faults, then waits.

Each fault is a file it creates after recording a ledger entry whose undo deletes it (the file's
existence *is* the fault). Usage:
    python fake_runner.py RUN_ID JOURNAL READY_FILE MODE FAULT_FILE...
MODE: ``hold`` (wait to be killed), ``finish`` (undo its own faults, stop cleanly),
``fail-undo`` (the last fault's undo fails), ``no-watchdog`` (hold, without a watchdog).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from chaosrunner.core import storage
from chaosrunner.faults.heartbeat import Heartbeat, spawn_watchdog
from chaosrunner.faults.ledger import close_fault, record_fault


def main() -> int:
    run_id, journal, ready, mode, *faults = sys.argv[1:]
    os.environ["CHAOSRUNNER_RUN_ID"] = run_id
    storage.atomic_write_json(
        Path(journal),
        {
            "status": "running",
            "chaosrunner": {
                "format": 1,
                "run_id": run_id,
                "complete": False,
                "verdict": "running",
                "ledger": [],
            },
        },
    )
    watchdog_pid = None
    if mode != "no-watchdog":
        watchdog_pid = spawn_watchdog(run_id, os.getpid(), journal)
    beat = Heartbeat(run_id).start()
    ids = []
    for i, path in enumerate(faults):
        undo = {
            "type": "python",
            "module": "chaos_undo_marks",
            "func": "delete_file",
            "arguments": {"path": path},
        }
        if mode == "fail-undo" and i == len(faults) - 1:
            undo = {"type": "python", "module": "chaos_undo_marks", "func": "fail", "arguments": {}}
        ids.append(record_fault("file-exists", path, undo))
        Path(path).write_text("fault")  # inject only after the entry is durable
    Path(ready).write_text(json.dumps({"pid": os.getpid(), "watchdog_pid": watchdog_pid, "entries": ids}))
    if mode == "finish":
        for entry_id, path in zip(ids, faults, strict=True):
            Path(path).unlink()
            close_fault(entry_id)
        beat.stop(done=True)
        return 0
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
