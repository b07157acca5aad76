"""The run a process works for, as seen by code the runner does not call directly.

Chaos Toolkit loads drivers by name and calls them with the experiment's arguments, so a driver cannot
be handed the run id as a parameter; process providers run in child processes. The runner therefore
exports its context once, as two documented environment variables, and this module is the only
place that writes or reads them:

* ``CHAOSRUNNER_RUN_ID`` — the run whose ledger a fault is recorded under (``adhoc`` outside a run);
* ``CHAOSRUNNER_RUNNER_PID`` — the process that owns the run's faults (a fault recorded by a child
  process is still the runner's: when the runner is gone, the fault is an orphan).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

RUN_ID_ENV = "CHAOSRUNNER_RUN_ID"
RUNNER_PID_ENV = "CHAOSRUNNER_RUNNER_PID"
ADHOC_RUN_ID = "adhoc"


@dataclass(frozen=True)
class RunContext:
    run_id: str
    runner_pid: int


def export(context: RunContext) -> None:
    """Make ``context`` the context of this process and of every child it starts from now on."""
    os.environ[RUN_ID_ENV] = context.run_id
    os.environ[RUNNER_PID_ENV] = str(context.runner_pid)


def current() -> RunContext:
    """The exported context, or an ad-hoc one owned by this process (a driver called outside a run)."""
    pid = os.environ.get(RUNNER_PID_ENV, "")
    return RunContext(
        run_id=os.environ.get(RUN_ID_ENV) or ADHOC_RUN_ID,
        runner_pid=int(pid) if pid.isdigit() else os.getpid(),
    )
