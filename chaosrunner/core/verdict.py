"""Verdicts: every verdict string, what it means to a human, its display order and exit code, and the
one function that decides it. Nothing else in chaosrunner spells a verdict.

The verdict is computed from what happened during a run, never from Chaos Toolkit's ``status``
alone (``chaos run`` says "completed" even when an action failed). :func:`decide` judges chaosrunner's
own runs *and* plain ``chaos run`` journals by the same rules, so a journal gets the same verdict
whichever tool wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any


class Verdict(StrEnum):
    PASSED = "passed"  # every activity succeeded, steady state held before and after, rollbacks ok
    DEVIATED = "deviated"  # the steady state did not hold after the method: a weakness was found
    FAILED = "failed"  # an activity failed, the system was unhealthy before, or it did not recover
    ABORTED = "aborted"  # stopped by the safety net (guard, kill switch, max_duration, deadline) and rolled back
    INTERRUPTED = "interrupted"  # stopped by an operator (Ctrl-C, SIGTERM) and rolled back: no finding either way
    REFUSED = "refused"  # preflight said no: nothing was injected
    ROLLBACK_FAILED = "rollback-failed"  # a rollback failed: a fault may still be in place
    INVALID = "invalid"  # bad input: nothing was executed
    RUNNING = "running"  # not finished yet, or never finished (runner killed): not a final verdict


ORDER: tuple[Verdict, ...] = (
    Verdict.PASSED,
    Verdict.DEVIATED,
    Verdict.FAILED,
    Verdict.ABORTED,
    Verdict.ROLLBACK_FAILED,
    Verdict.INTERRUPTED,
    Verdict.REFUSED,
    Verdict.INVALID,
    Verdict.RUNNING,
)
"""Display order (tables, trend cells): outcomes about the system first, then runs that say nothing."""

CHOICES = "|".join(ORDER)  # for command-line help: passed|deviated|...|running

TEXT: dict[str, str] = {
    Verdict.PASSED: "Passed — the system withstood the fault",
    Verdict.DEVIATED: "Deviated — the steady state did not hold after the fault: a weakness was found",
    Verdict.FAILED: "Failed — an activity failed, the system was unhealthy before, or it did not recover",
    Verdict.ABORTED: "Aborted — the safety net stopped the run and rolled it back",
    Verdict.INTERRUPTED: "Interrupted — an operator stopped the run; rolled back; says nothing about the system",
    Verdict.REFUSED: "Refused — preflight said no; nothing was injected",
    Verdict.ROLLBACK_FAILED: "Rollback failed — a fault may still be in place",
    Verdict.INVALID: "Invalid — bad input (e.g. a missing file); nothing was executed",
    Verdict.RUNNING: "Incomplete — the run never finished (runner killed or crashed)",
}


def text(verdict: str) -> str:
    """The sentence a report's banner shows for ``verdict`` (an unknown string is shown as is)."""
    return TEXT.get(verdict, verdict)


def label(verdict: str, *, complete: bool) -> str:
    """The one word a listing or banner shows: the verdict, or ``incomplete`` for a journal still marked
    ``running`` and not complete (a run in progress, or one whose runner was killed)."""
    return "incomplete" if verdict == Verdict.RUNNING and not complete else verdict


def display_rank(verdict: str) -> int:
    """Sort key for :data:`ORDER`; unknown strings sort last."""
    return _RANK.get(verdict, len(ORDER))


_RANK: dict[str, int] = {v: i for i, v in enumerate(ORDER)}


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
    Verdict.INTERRUPTED: ExitCode.ABORTED,  # stopped and rolled back, like an abort: same exit code
    Verdict.REFUSED: ExitCode.REFUSED,
    Verdict.ROLLBACK_FAILED: ExitCode.ROLLBACK_FAILED,
    Verdict.INVALID: ExitCode.INVALID_INPUT,
}
"""Every final verdict's exit code (``running`` is not final and has none)."""

VERDICT_BY_EXIT: dict[int, Verdict] = {
    ExitCode.OK: Verdict.PASSED,
    ExitCode.FAILED: Verdict.FAILED,  # deviated or failed: a child's exit code cannot tell them apart
    ExitCode.INVALID_INPUT: Verdict.INVALID,
    ExitCode.ABORTED: Verdict.ABORTED,
    ExitCode.REFUSED: Verdict.REFUSED,
    ExitCode.ROLLBACK_FAILED: Verdict.ROLLBACK_FAILED,
}
"""A ``chaosrunner run`` child's verdict as its parent sees it, from the exit code alone."""

EXIT_CODES_HELP = (
    "Exit codes: 0 passed · 1 deviated or failed · 2 invalid input · 3 aborted or interrupted (rolled back) · "
    "4 refused by preflight · 5 rollback failed / fault still in place."
)


def exit_code(verdict: Verdict) -> ExitCode:
    """The process exit code of a final verdict; KeyError for ``running``."""
    return EXIT_CODES[verdict]


def activity_failed(run: Mapping[str, Any]) -> bool:
    """Whether one entry of a journal's ``run`` / ``rollbacks`` list failed.

    Besides chaoslib's ``status: failed``, a *process action* that exited non-zero and an *http
    action* answered with a status >= 400 count as failed: Chaos Toolkit only records their output
    and calls them "succeeded". Probes are judged by their tolerance (chaoslib's job), not here.
    """
    if run.get("status") == "failed":
        return True
    activity = run.get("activity")
    if not isinstance(activity, Mapping) or activity.get("type") != "action":
        return False
    provider = activity.get("provider")
    ptype = provider.get("type") if isinstance(provider, Mapping) else None
    output = run.get("output")
    status = output.get("status") if isinstance(output, Mapping) else None
    if not isinstance(status, int) or isinstance(status, bool):
        return False
    return (ptype == "process" and status != 0) or (ptype == "http" and status >= 400)


def describe_failure(run: Mapping[str, Any]) -> str:
    """``'name' failed: <last exception line>`` (or ``... with status N``) for a failed entry."""
    activity = run.get("activity")
    name = activity.get("name", "?") if isinstance(activity, Mapping) else "?"
    exc = run.get("exception")
    if exc:
        return f"'{name}' failed: {str(exc[-1] if isinstance(exc, list) else exc).strip()}"
    output = run.get("output")
    if isinstance(output, Mapping) and "status" in output:
        return f"'{name}' failed with status {output['status']}"
    return f"'{name}' failed"


def _entries(journal: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = journal.get(key)
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def decide(
    journal: Mapping[str, Any],
    *,
    abort_reason: str | None = None,
    by_operator: bool = False,
    open_faults: int = 0,
    recovery_problem: str | None = None,
) -> tuple[Verdict, str]:
    """The verdict of a run and one sentence saying why, from its Chaos Toolkit journal (a plain dict:
    ``status``, ``end``, ``deviated``, ``steady_states``, ``run``, ``rollbacks``) plus what only
    chaosrunner knows: the abort reason, the ledger's still-open faults, a failed recovery.

    A plain ``chaos run`` journal is judged with the defaults. The first rule that applies wins:

    1. ``running``: no ``status`` and no ``end`` — the run has not finished (or never will).
    2. ``rollback-failed``: a rollback failed (see :func:`activity_failed`) or has no status (it was cut
       short), or faults are still open in the ledger — a fault may still be in place, which outranks
       everything.
    3. ``interrupted``: an operator stopped the run (``by_operator``: Ctrl-C, SIGTERM from a daemon's
       stop) — the rollbacks ran; it is not a finding about the system, so it is not scored.
       ``aborted``: chaosrunner aborted the run, or Chaos Toolkit's status is ``interrupted`` (a signal,
       Ctrl-C or a control stopped it; the rollbacks ran, rule 2 found them fine).
    4. ``failed``: the steady state did not hold *before* the method (the system was unhealthy), an
       activity of the method failed, or Chaos Toolkit's status is ``failed`` or ``aborted`` (chaoslib's
       "aborted" is an unexpected error in the method, not an operator's stop).
    5. ``deviated``: the steady state did not hold after the method — a weakness was found.
    6. ``failed``: the system did not recover (``recovery_problem``).
    7. ``refused``: status ``skipped`` — nothing was executed.
    8. ``failed``: any status but ``completed`` (unknown statuses fail closed).
    9. ``passed``.
    """
    raw_status = journal.get("status")
    status = raw_status.lower() if isinstance(raw_status, str) else ""
    if not status and not journal.get("end"):
        return Verdict.RUNNING, "the run has not finished (no status, no end)"
    rollbacks = _entries(journal, "rollbacks")
    bad_rollback = next((r for r in rollbacks if activity_failed(r) or r.get("status") is None), None)
    if bad_rollback is not None or open_faults:
        what = (
            f"rollback {describe_failure(bad_rollback)}"
            if bad_rollback
            else f"{open_faults} fault(s) still open in the ledger"
        )
        return Verdict.ROLLBACK_FAILED, what
    if abort_reason and by_operator:
        return Verdict.INTERRUPTED, f"interrupted by an operator ({abort_reason}); rolled back"
    if abort_reason:
        return Verdict.ABORTED, abort_reason
    if status == "interrupted":
        return Verdict.ABORTED, "Chaos Toolkit reported status interrupted: the run was stopped and rolled back"
    steady = journal.get("steady_states")
    before = steady.get("before") if isinstance(steady, Mapping) else None
    if isinstance(before, Mapping) and before.get("steady_state_met") is False:
        return Verdict.FAILED, "steady state not met before the method: the system was unhealthy, method skipped"
    failed = next((r for r in _entries(journal, "run") if activity_failed(r)), None)
    if failed is not None:
        return Verdict.FAILED, f"activity {describe_failure(failed)}"
    if status in ("aborted", "failed"):
        return Verdict.FAILED, f"Chaos Toolkit reported status {status}"
    if journal.get("deviated"):
        return Verdict.DEVIATED, "steady state deviated after the method: a weakness was found"
    if recovery_problem:
        return Verdict.FAILED, recovery_problem
    if status == "skipped":
        return Verdict.REFUSED, "Chaos Toolkit reported status skipped: nothing was executed"
    if status != "completed":
        return Verdict.FAILED, f"Chaos Toolkit reported status {status or '(none)'}"
    return Verdict.PASSED, "steady state held, every activity succeeded, rollbacks succeeded"
