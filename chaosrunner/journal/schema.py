"""The journal schema: a Chaos Toolkit journal plus the ``chaosrunner`` section (docs/journal.md).

One module describes the document every writer writes and every reader reads: the typed models
(:class:`Journal` and its parts) that ``show``/``report`` validate against, the cheap *head* models
that listing validates against (derived from the full ones, below), and the skeletons the writer
starts from (:func:`new_section`, :func:`refusal_ctk`, :func:`final_fields`).

Journals are untrusted input (a facilitator may be handed one from another team), so the models are
strict about *shape* and lenient about *absence*: every field may be missing or ``null`` (a plain
``chaos run`` journal has no section at all; a ``kill -9`` leaves one without an end), but a field
that is present must have the documented type. Unknown keys are kept: newer writers may add fields.

Units: times are ISO-8601 strings (:mod:`chaosrunner.core.ids`), ``*_s`` and ``duration`` are seconds,
SLIs, budgets and allowances are ratios (0.01 = 1 %), burn rates multiples of the sustainable burn.
"""

from __future__ import annotations

import operator
import platform
from collections.abc import Iterable, Mapping
from functools import cache, reduce
from importlib.metadata import PackageNotFoundError, version
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from chaosrunner.core.ids import RUN_ID_FORMAT, is_run_id, parse_time
from chaosrunner.core.validation import Model
from chaosrunner.core.verdict import ORDER, Verdict, exit_code

FORMAT = 1  # chaosrunner.format: bumped when a reader could misread an older section
SECTION = "chaosrunner"  # the key of chaosrunner's section in a Chaos Toolkit journal

RUN_LEVEL_FAULT = "experiment"
TRIGGERS = ("cli", "schedule", "gameday")  # what starts a run (`run --trigger`, journal filters)
"""The ledger entry the runner opens for the whole run ('replay its rollbacks'): in ``chaosrunner.ledger``
it is not an injection of its own."""


def _iso_time(value: str) -> str:
    try:
        parse_time(value)
    except ValueError:
        raise ValueError("not an ISO-8601 time") from None
    return value


def _known_verdict(value: str) -> str:
    if value not in ORDER:
        raise ValueError(f"unknown verdict (expected one of: {', '.join(ORDER)})")
    return value


def _run_id(value: str) -> str:
    if not is_run_id(value):
        raise ValueError(f"not a run id ({RUN_ID_FORMAT}): journals name report files after it")
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]
VerdictName = Annotated[str, AfterValidator(_known_verdict)]
RunId = Annotated[str, AfterValidator(_run_id)]


class _Lenient(Model):
    """Unknown keys are kept (newer writers may add fields); known keys must have their type."""

    model_config = ConfigDict(extra="allow")


class SloReading(_Lenient):
    sli: float | None = None  # the SLI as a ratio (error ratio or share of slow requests)
    burn_rate: float | None = None  # multiple of the sustainable burn (1.0 = spends the budget exactly)
    scope: str | None = None  # "in" (declared blast radius) or "out" (outside it)


class GuardSample(_Lenient):
    t: IsoTime | None = None
    elapsed_s: float | None = None  # since the guard started (= method start)
    slos: dict[str, SloReading | None] = {}
    budget_spent: float | None = None  # ratio of the monthly budget spent by this run so far


class GuardDecision(_Lenient):
    t: IsoTime | None = None
    action: str | None = None
    reason: str | None = None


class Budget(_Lenient):
    before: float | None = None  # ratios of the monthly error budget
    after: float | None = None
    spent: float | None = None
    allowance: float | None = None


class Guard(_Lenient):
    started_at: IsoTime | None = None  # when sampling started (= method start)
    samples: list[GuardSample] = []
    decisions: list[GuardDecision] = []
    budget: Budget | None = None
    recovery: dict[str, Any] | None = None  # the recovery watch: {"recovered", "seconds", "reason", ...}


class Check(_Lenient):
    name: str | None = None
    ok: bool | None = None
    detail: str | None = None
    numbers: dict[str, Any] | None = None


class Preflight(_Lenient):
    allowed: bool | None = None
    checks: list[Check] = []


class Touched(_Lenient):
    targets: int | None = None
    zones: list[str] = []
    regions: list[str] = []
    services: list[str] = []


class BlastRadius(_Lenient):
    declared: dict[str, Any] | None = None
    touched: Touched | None = None


class Activity(_Lenient):
    """chaosrunner's record of one activity, written when it starts and again when it ends."""

    name: str | None = None
    phase: str | None = None  # steady-state-before | method | steady-state-after | rollback
    type: str | None = None  # action | probe
    provider: str | None = None  # python | process | http
    status: str | None = None  # running | succeeded | failed | interrupted
    start: IsoTime | None = None
    end: IsoTime | None = None
    duration: float | None = None
    error: str | None = None
    timeout_s: float | None = None


class Abort(_Lenient):
    reason: str | None = None
    decided_at: IsoTime | None = None
    rollback_completed_at: IsoTime | None = None


class LedgerEntry(_Lenient):
    id: str | None = None
    fault: str | None = None
    target: str | None = None
    recorded_at: IsoTime | None = None
    expires_at: IsoTime | None = None
    outcome: str | None = None  # None while open; undone | expired | undo-failed
    closed_at: IsoTime | None = None
    detail: str | None = None


class Timings(_Lenient):
    time_to_detect_s: float | None = None
    time_to_abort_s: float | None = None
    time_to_rollback_s: float | None = None
    time_to_recover_s: float | None = None
    data_lost_s: float | None = None  # RPO where it applies


class Section(_Lenient):
    """The ``chaosrunner`` section (docs/journal.md documents every field)."""

    format: int | None = None
    run_id: RunId | None = None
    complete: bool | None = None
    trigger: str | None = None
    calendar_entry: str | None = None
    experiment_path: str | None = None
    experiment_title: str | None = None
    started_at: IsoTime | None = None
    ended_at: IsoTime | None = None
    verdict: VerdictName | None = None
    reason: str | None = None
    exit_code: int | None = None
    preflight: Preflight | None = None
    targets: list[dict[str, Any]] = []
    blast_radius: BlastRadius | None = None
    activities: list[Activity] = []
    guard: Guard | None = None
    abort: Abort | None = None
    ledger: list[LedgerEntry] = []
    timings: Timings | None = None
    figures: dict[str, Any] | None = None
    recovered_by: str | None = None  # "watchdog" or a command that reverted faults the runner left


class CtkRun(_Lenient):
    """One entry of Chaos Toolkit's ``run`` / ``rollbacks`` lists."""

    activity: dict[str, Any] | None = None
    status: str | None = None
    start: IsoTime | None = None
    end: IsoTime | None = None
    duration: float | None = None
    output: Any = None
    exception: list[str] | str | None = None


class Journal(_Lenient):
    """A Chaos Toolkit journal plus the optional ``chaosrunner`` section."""

    chaoslib_version: str | None = Field(default=None, alias="chaoslib-version")
    platform: str | None = None
    node: str | None = None
    experiment: dict[str, Any] | None = None
    status: str | None = None
    start: IsoTime | None = None
    end: IsoTime | None = None
    duration: float | None = None
    deviated: bool | None = None
    steady_states: dict[str, Any] | None = None
    run: list[CtkRun | None] = []
    rollbacks: list[CtkRun | None] = []
    chaosrunner: Section | None = None


# ---------------------------------------------------------------------------------------------
# Head models: what a listing validates


class _Head(Model):
    """Summary-only view: validates just the fields a listing needs and skips the rest while parsing.

    Parsing with :meth:`~pydantic.BaseModel.model_validate_json` and ``extra="ignore"`` never builds
    Python objects for guard samples or experiment bodies — that halves the cost of a cold listing.
    """

    model_config = ConfigDict(extra="ignore")


def swap_models(annotation: Any, heads: Mapping[Any, Any]) -> Any:
    """``annotation`` with every model in ``heads`` replaced by its head (``list[Activity] | None`` →
    ``list[ActivityHead] | None``). Scalars and ``Annotated`` validators are kept as they are."""
    if isinstance(annotation, type) and annotation in heads:
        return heads[annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or origin is Annotated:
        return annotation
    swapped = tuple(swap_models(a, heads) for a in args)
    if swapped == args:
        return annotation
    if origin in (Union, UnionType):
        return reduce(operator.or_, swapped)
    return origin[swapped]


def head_of(model: type[BaseModel], fields: Iterable[str], heads: Mapping[Any, Any]) -> type[_Head]:
    """The head of ``model``: only ``fields``, each with the full model's type (after
    :func:`swap_models`) and default — so the head cannot drift from the schema it summarises."""
    hints = get_type_hints(model, include_extras=True)
    spec: dict[str, Any] = {
        name: (swap_models(hints[name], heads), model.model_fields[name].default) for name in fields
    }
    return create_model(f"{model.__name__}Head", __base__=_Head, __module__=__name__, **spec)


HEADS: dict[Any, Any] = {GuardSample: Any}  # guard samples are counted by a listing, never validated
HEADS[Activity] = head_of(
    Activity, ("name", "phase", "type", "provider", "status", "start", "end", "duration", "error"), HEADS
)
HEADS[Guard] = head_of(Guard, ("samples", "budget", "recovery"), HEADS)
HEADS[CtkRun] = head_of(CtkRun, ("activity", "status", "start", "end", "duration", "output", "exception"), HEADS)
HEADS[Section] = head_of(
    Section,
    (
        "run_id",
        "complete",
        "trigger",
        "calendar_entry",
        "experiment_path",
        "experiment_title",
        "started_at",
        "ended_at",
        "verdict",
        "reason",
        "targets",
        "activities",
        "guard",
        "abort",
        "ledger",
        "timings",
        "figures",
    ),
    HEADS,
)
JournalHead = head_of(
    Journal,
    ("experiment", "status", "start", "end", "duration", "deviated", "steady_states", "run", "rollbacks", SECTION),
    HEADS,
)


# ---------------------------------------------------------------------------------------------
# What writers start from


def new_section(run_id: str, started_at: str) -> dict[str, Any]:
    """The ``chaosrunner`` section of a run that has just been created: not complete, verdict
    ``running``, every field present (``null`` or empty) so readers see the documented keys."""
    return {
        "format": FORMAT,
        "run_id": run_id,
        "complete": False,
        "verdict": Verdict.RUNNING.value,
        "reason": None,
        "exit_code": None,
        "started_at": started_at,
        "ended_at": None,
        "preflight": None,
        "targets": [],
        "blast_radius": None,
        "activities": [],
        "guard": None,
        "abort": None,
        "ledger": [],
        "timings": {
            "time_to_detect_s": None,
            "time_to_abort_s": None,
            "time_to_rollback_s": None,
            "time_to_recover_s": None,
        },
        "figures": {},
        "recovered_by": None,
    }


def final_fields(verdict: Verdict, reason: str, ended_at: str) -> dict[str, Any]:
    """What the section says once a run has its verdict (merge it into the section)."""
    return {
        "verdict": verdict.value,
        "reason": reason,
        "exit_code": int(exit_code(verdict)),
        "ended_at": ended_at,
        "complete": True,
    }


@cache
def ctk_origin() -> dict[str, str]:
    """The keys ``chaos run`` opens every journal with: ``chaoslib-version``, ``platform``, ``node``
    (tools such as chaostoolkit-reporting read them from every journal)."""
    try:
        lib = version("chaostoolkit-lib")
    except PackageNotFoundError:
        lib = "unknown"
    return {"chaoslib-version": lib, "platform": platform.platform(), "node": platform.node()}


def refusal_ctk(title: str, at: str, experiment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Chaos Toolkit part of a journal for a run that never started: status ``skipped``, nothing run,
    zero duration — what ``chaos run`` tools expect to find, with nothing in it to misread. ``experiment``
    (the document, when it was loaded) is recorded as ``chaos run`` records it."""
    return {
        **ctk_origin(),
        "experiment": dict(experiment) if experiment is not None else {"title": title},
        "status": "skipped",
        "start": at,
        "end": at,
        "duration": 0.0,
        "deviated": False,
        "steady_states": {"before": None, "after": None, "during": []},
        "run": [],
        "rollbacks": [],
    }


CTK_STATUSES = ("completed", "failed", "aborted", "interrupted", "skipped")


def close_ctk(
    ctk: Mapping[str, Any] | None,
    *,
    experiment: Mapping[str, Any],
    status: str,
    start: str,
    end: str,
    duration_s: float,
) -> dict[str, Any]:
    """The Chaos Toolkit part of a journal whose run chaoslib did not finish (a crash, an abort before
    chaoslib handled it, an unexpected error): every key ``chaos run`` writes is present, what chaoslib
    already recorded is kept, and ``status`` (one of :data:`CTK_STATUSES`), ``end`` and ``duration``
    (seconds) are filled where chaoslib left them out."""
    out = {**ctk_origin(), **(ctk or {})}
    out.setdefault("experiment", dict(experiment))
    out.setdefault("start", start)
    if out.get("status") not in CTK_STATUSES:
        out["status"] = status
    if not out.get("end"):
        out["end"] = end
    if not isinstance(out.get("duration"), int | float):
        out["duration"] = duration_s
    out.setdefault("deviated", False)
    out.setdefault("steady_states", {"before": None, "after": None, "during": []})
    out.setdefault("run", [])
    out.setdefault("rollbacks", [])
    return out


def close_cut_entries(ctk: Mapping[str, Any], why: str) -> dict[str, Any]:
    """``ctk`` with every activity that an abort, a signal or a crash cut short given a status.

    chaoslib appends an activity's entry before running it and sets ``status`` only when the provider
    returns or raises ``ActivityFailed``; an interruption leaves ``start``/``end`` without ``status``.
    A finished journal says what happened to each activity — and tools that read journals, such as
    chaostoolkit-reporting, require it — so a cut entry is recorded as chaoslib records a failure:
    ``status: failed`` with an ``exception`` naming the cut. Entries a control appended that are not
    activities are left as they are."""
    out = dict(ctk)
    for key in ("run", "rollbacks"):
        entries = out.get(key)
        if not isinstance(entries, list):
            continue
        out[key] = [
            {**e, "status": "failed", "exception": [f"chaosrunner: cut short before it finished ({why})"]}
            if isinstance(e, Mapping) and isinstance(e.get("activity"), Mapping) and e.get("status") is None
            else e
            for e in entries
        ]
    return out


def readable_ctk(ctk: Mapping[str, Any]) -> dict[str, Any]:
    """``ctk`` with every ``run`` / ``rollbacks`` entry a mapping (or ``null``), as the schema requires.

    chaoslib's control hooks receive the journal and the run lists and may append to them; an entry a
    control appended that is not a mapping (a note, a string) is kept, wrapped as
    ``{"control_entry": value}``, so the journal stays readable by every reader instead of being
    skipped as malformed."""
    out = dict(ctk)
    for key in ("run", "rollbacks"):
        entries = out.get(key)
        if isinstance(entries, list) and any(e is not None and not isinstance(e, Mapping) for e in entries):
            out[key] = [e if e is None or isinstance(e, Mapping) else {"control_entry": e} for e in entries]
    return out
