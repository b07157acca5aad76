"""A process that takes target locks like a run would: exit 4 (refused) when any key is taken.

Usage: python lock_holder.py RUN_ID READY_FILE hold|try KEY...
``hold``: acquire, write READY_FILE, keep the locks until killed. ``try``: acquire, report, exit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from chaosrunner.safety.locks import TargetLocks


def main() -> int:
    run_id, ready, mode, *keys = sys.argv[1:]
    locks = TargetLocks()
    if not locks.acquire(run_id, keys):
        holders = {k: locks.holder(k) for k in keys}
        Path(ready).write_text(json.dumps({"acquired": False, "holders": holders}))
        return 4
    Path(ready).write_text(json.dumps({"acquired": True, "held": locks.held}))
    if mode == "try":
        locks.release()
        return 0
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
