"""Run one command and write its own peak RSS and CPU time as JSON: ``measure_child.py OUT AS_BYTES CMD…``.

Why a launcher: Linux keeps a process's peak RSS across ``exec`` and counts the pages a ``fork`` copied
from its parent, so a child forked straight from a pytest worker reports the *worker's* peak (245 MB
after a few hundred tests), not its own. Forked from this small launcher instead, the command's
``wait4`` rusage is its own. ``AS_BYTES`` caps the command's address space (a regression that starts
expanding an alias bomb fails fast instead of taking the machine's memory).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys


def main() -> int:
    out, limit, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen(cmd, preexec_fn=cap)  # stdio, cwd, env and session are the launcher's
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"returncode": code, "max_rss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
