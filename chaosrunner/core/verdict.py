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


def _failed_activity(runs: list[dict]) -> dict | None:
    """The first run entry that failed. Besides chaoslib's ``status: failed``, a process *action* that
    exited non-zero and an http *action* answered with 4xx/5xx count as failed: Chaos Toolkit only
    records them, chaosrunner does not call such a run passed."""
    for run in runs:
        if run.get("status") == "failed":
            return run
        activity = run.get("activity") or {}
        if activity.get("type") != "action":
            continue
        ptype = (activity.get("provider") or {}).get("type")
        output = run.get("output")
        if isinstance(output, dict) and isinstance(output.get("status"), int):
            if ptype == "process" and output["status"] != 0:
                return run
            if ptype == "http" and output["status"] >= 400:
                return run
    return None


def _describe(run: dict) -> str:
    name = (run.get("activity") or {}).get("name", "?")
    exc = run.get("exception")
    if exc:
        return f"'{name}' failed: {str(exc[-1] if isinstance(exc, list) else exc).strip()}"
    output = run.get("output")
    if isinstance(output, dict) and "status" in output:
        return f"'{name}' failed with status {output['status']}"
    return f"'{name}' failed"


def decide(
    journal: dict,
    *,
    abort_reason: str | None,
    open_faults: int = 0,
    recovery_problem: str | None = None,
) -> tuple[Verdict, str]:
    """The verdict of a finished run, from the Chaos Toolkit journal and what chaosrunner saw.

    Order matters: a fault possibly still in place outranks everything, then an abort, then an
    unhealthy start, a failed activity, a deviation, and a system that did not recover.
    """
    rollbacks = journal.get("rollbacks") or []
    bad_rollback = _failed_activity(rollbacks) or next((r for r in rollbacks if "status" not in r), None)
    if bad_rollback is not None or open_faults:
        what = _describe(bad_rollback) if bad_rollback else f"{open_faults} fault(s) still open in the ledger"
        return Verdict.ROLLBACK_FAILED, what
    if abort_reason:
        return Verdict.ABORTED, abort_reason
    before = (journal.get("steady_states") or {}).get("before")
    if before is not None and before.get("steady_state_met") is False:
        return Verdict.FAILED, "steady state not met before the method: the system was unhealthy, method skipped"
    failed = _failed_activity(journal.get("run") or [])
    if failed is not None:
        return Verdict.FAILED, f"activity {_describe(failed)}"
    if journal.get("status") in ("aborted", "failed", "interrupted"):
        return Verdict.FAILED, f"Chaos Toolkit reported status {journal.get('status')}"
    if journal.get("deviated"):
        return Verdict.DEVIATED, "steady state deviated after the method: a weakness was found"
    if recovery_problem:
        return Verdict.FAILED, recovery_problem
    return Verdict.PASSED, "steady state held, every activity succeeded, rollbacks succeeded"
