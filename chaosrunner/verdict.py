"""Verdicts and exit codes: the one place that maps what happened to how the process ends.

The verdict is computed from what happened during a run, never from Chaos Toolkit's ``status``
alone (``chaos run`` says "completed" even when an action failed).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Verdict(StrEnum):
    PASSED = "passed"  # every activity succeeded, steady state held before and after, rollbacks ok
    DEVIATED = "deviated"  # the steady state did not hold after the method: a weakness was found
    FAILED = "failed"  # an activity failed, the system was unhealthy before, or it did not recover
    ABORTED = "aborted"  # interrupted (guard, kill switch, signal) and rolled back
    REFUSED = "refused"  # preflight said no: nothing was injected
    ROLLBACK_FAILED = "rollback-failed"  # a rollback failed: a fault may still be in place
    INVALID = "invalid"  # bad input: nothing was executed


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    INVALID_INPUT = 2
    ABORTED = 3
    REFUSED = 4
    ROLLBACK_FAILED = 5


EXIT_CODES: dict[Verdict, ExitCode] = {
    Verdict.PASSED: ExitCode.OK,
    Verdict.DEVIATED: ExitCode.FAILED,
    Verdict.FAILED: ExitCode.FAILED,
    Verdict.ABORTED: ExitCode.ABORTED,
    Verdict.REFUSED: ExitCode.REFUSED,
    Verdict.ROLLBACK_FAILED: ExitCode.ROLLBACK_FAILED,
    Verdict.INVALID: ExitCode.INVALID_INPUT,
}

EXIT_CODES_HELP = (
    "Exit codes: 0 passed · 1 deviated or failed · 2 invalid input · 3 aborted (rolled back) · "
    "4 refused by preflight · 5 rollback failed / fault still in place."
)


def exit_code(verdict: Verdict) -> ExitCode:
    return EXIT_CODES[verdict]
