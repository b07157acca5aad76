"""Reading the journal store: find, load, validate, summarise and list journals.

Journals are untrusted input (a facilitator may be handed one from another team), so loading is
strict about *shape* and lenient about *absence*: every field of the ``chaosrunner`` section may be
missing or ``null`` (a plain ``chaos run`` journal has no section at all; a ``kill -9`` leaves one
without an end), but a field that is present must have the documented type. Anything else is an
:class:`~chaosrunner.core.validation.InvalidInput` naming the file and the key path — never a traceback.

Listing 10,000 journals must take well under 2 s, so summaries are cached in a small index file
``<journals>/.index-v1.json`` keyed by the journal's relative path, size and mtime. Only journals that
are new or changed since the last listing are parsed; the index is rewritten atomically when it
changed and silently skipped when the store is read-only. Deleting the index is always safe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from chaosrunner.core.storage import atomic_write_bytes, journal_dir
from chaosrunner.core.units import parse_duration
from chaosrunner.core.validation import InvalidInput, key_path, validate_model
from chaosrunner.journal.writer import RUN_ID_RE
from chaosrunner.journal.writer import journal_path as _journal_path

INDEX_NAME = ".index-v1.json"
INDEX_VERSION = 3
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
VERDICTS = ("passed", "deviated", "failed", "aborted", "refused", "rollback-failed", "running")


def _iso_time(value: str) -> str:
    try:
        parse_time(value)
    except ValueError:
        raise ValueError("not an ISO-8601 time") from None
    return value


def _known_verdict(value: str) -> str:
    if value not in VERDICTS:
        raise ValueError(f"unknown verdict (expected one of: {', '.join(VERDICTS)})")
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]
VerdictName = Annotated[str, AfterValidator(_known_verdict)]


class _Lenient(BaseModel):
    """Unknown keys are kept (newer writers may add fields); known keys must have their type."""

    model_config = ConfigDict(extra="allow", defer_build=True)  # build schemas on first use: fast CLI start


class SloReading(_Lenient):
    sli: float | None = None  # the SLI as a ratio (error ratio or share of slow requests)
    burn_rate: float | None = None  # multiple of the sustainable burn (1.0 = spends the budget exactly)
    scope: str | None = None  # "in" (declared blast radius) or "out" (outside it)


class GuardSample(_Lenient):
    t: IsoTime | None = None
    elapsed_s: float | None = None
    slos: dict[str, SloReading | None] = {}
    budget_spent: float | None = None  # ratio of the monthly budget spent by this run so far


class GuardDecision(_Lenient):
    t: IsoTime | None = None
    action: str | None = None
    reason: str | None = None


class Budget(_Lenient):
    before: float | None = None
    after: float | None = None
    spent: float | None = None
    allowance: float | None = None


class Guard(_Lenient):
    samples: list[GuardSample] = []
    decisions: list[GuardDecision] = []
    budget: Budget | None = None


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
    name: str | None = None
    phase: str | None = None
    type: str | None = None
    provider: str | None = None
    status: str | None = None
    start: IsoTime | None = None
    end: IsoTime | None = None
    duration: float | None = None
    error: str | None = None


class Abort(_Lenient):
    reason: str | None = None
    decided_at: IsoTime | None = None
    rollback_completed_at: IsoTime | None = None


class LedgerEntry(_Lenient):
    id: str | None = None
    fault: str | None = None
    target: str | None = None
    recorded_at: IsoTime | None = None
    outcome: str | None = None
    closed_at: IsoTime | None = None
    detail: str | None = None


class Timings(_Lenient):
    time_to_detect_s: float | None = None
    time_to_abort_s: float | None = None
    time_to_rollback_s: float | None = None
    time_to_recover_s: float | None = None
    data_lost_s: float | None = None  # RPO where it applies


def _run_id(value: str) -> str:
    if not RUN_ID_RE.match(value):
        raise ValueError("not a run id (YYYYMMDDTHHMMSSZ-slug-6hex): journals name report files after it")
    return value


RunId = Annotated[str, AfterValidator(_run_id)]


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
    recovered_by: str | None = None


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


class _Head(BaseModel):
    """Summary-only view: validates just the fields a listing needs and skips the rest while parsing.

    Parsing with :meth:`~pydantic.BaseModel.model_validate_json` and ``extra="ignore"`` never builds
    Python objects for guard samples or experiment bodies — that halves the cost of a cold listing.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)


class _HeadActivity(_Head):
    name: str | None = None
    status: str | None = None
    error: str | None = None


class _HeadGuard(_Head):
    samples: list[Any] = []
    budget: Budget | None = None


class _HeadSection(_Head):
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
    targets: list[Any] = []
    activities: list[_HeadActivity] = []
    guard: _HeadGuard | None = None
    abort: dict[str, Any] | None = None
    timings: Timings | None = None
    figures: dict[str, Any] | None = None


class _HeadRun(_Head):
    activity: dict[str, Any] | None = None
    status: str | None = None
    output: Any = None
    exception: list[str] | str | None = None


class JournalHead(_Head):
    experiment: dict[str, Any] | None = None
    status: str | None = None
    start: IsoTime | None = None
    end: IsoTime | None = None
    duration: float | None = None
    deviated: bool | None = None
    steady_states: dict[str, Any] | None = None
    run: list[_HeadRun | None] = []
    rollbacks: list[_HeadRun | None] = []
    chaosrunner: _HeadSection | None = None


def load_summary(path: str | Path) -> JournalSummary:
    """The summary of one journal, validating only what the summary uses (see :class:`_Head`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InvalidInput(p, [("", f"cannot read: {e.strerror or e}")]) from None
    try:
        head = JournalHead.model_validate_json(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if not data.strip() or any(err["type"].startswith("json_") or not err["loc"] for err in errors):
            parse_journal(data, p)  # raises the same clear message `show` gives
        raise InvalidInput(p, [(key_path(err["loc"]), _msg(err["msg"])) for err in errors]) from None
    if head.chaosrunner is None and head.experiment is None and head.status is None and not head.run:
        parse_journal(data, p)  # not a journal (or not an object): same message as `show`
    return summarize(head, p)  # type: ignore[arg-type]


def _msg(msg: str) -> str:
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


@dataclass
class LoadedJournal:
    """A validated journal and where it came from; ``raw`` is the document as parsed."""

    path: Path
    journal: Journal
    raw: dict[str, Any]

    @property
    def summary(self) -> JournalSummary:
        return summarize(self.journal, self.path)


@dataclass
class JournalSummary:
    """What a listing, a trend and a game-day summary table need from one journal (JSON-ready).

    Times are ISO-8601 strings, durations seconds, ratios ratios (0.01 = 1 %).
    """

    run_id: str
    path: str
    kind: str  # "chaosrunner" or "chaostoolkit" (plain `chaos run` journal, no chaosrunner section)
    experiment: str  # the key trends group by: experiment path if known, else title
    title: str
    verdict: str
    complete: bool
    trigger: str | None
    calendar_entry: str | None
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    reason: str | None
    aborted: bool
    targets: int
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    rto_s: float | None
    budget_spent: float | None
    budget_allowance: float | None
    recovery_deadline_s: float | None
    samples: int
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Flat, JSON-ready (every field is a scalar); much cheaper than ``dataclasses.asdict``."""
        d = self.__dict__
        return {f: d[f] for f in _JSON_FIELDS}


_JSON_FIELDS = [f for f in JournalSummary.__dataclass_fields__ if f != "extra"]


def parse_time(value: str) -> datetime:
    """ISO-8601 → aware UTC datetime (naive times are taken as UTC); ValueError if unparseable."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def try_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def is_run_id(value: str) -> bool:
    return bool(RUN_ID_RE.match(value))


def load_journal(path: str | Path) -> LoadedJournal:
    """Read and validate one journal file. Raises InvalidInput (file + key path) on any problem."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_JOURNAL_BYTES:
            raise InvalidInput(p, [("", f"journal is larger than {MAX_JOURNAL_BYTES // (1024 * 1024)} MiB")])
        data = p.read_bytes()
    except InvalidInput:
        raise
    except FileNotFoundError:
        raise InvalidInput(p, [("", "no such journal file")]) from None
    except IsADirectoryError:
        raise InvalidInput(p, [("", "is a directory, not a journal file")]) from None
    except OSError as e:
        raise InvalidInput(p, [("", f"cannot read: {e.strerror or e}")]) from None
    return parse_journal(data, p)


def parse_journal(data: bytes | str, path: Path) -> LoadedJournal:
    """Parse journal bytes (already read) — the pure half of :func:`load_journal`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidInput(path, [("", "not UTF-8 text")]) from None
    if not text.strip():
        raise InvalidInput(path, [("", "empty file (not a journal)")])
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(path, [("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]) from None
    except (RecursionError, ValueError) as e:
        raise InvalidInput(path, [("", f"cannot parse JSON: {type(e).__name__}")]) from None
    if not isinstance(raw, dict):
        raise InvalidInput(path, [("", f"a journal is a JSON object, not {_json_type(raw)}")])
    if not any(k in raw for k in ("experiment", "chaosrunner", "run", "status")):
        raise InvalidInput(path, [("", "not a journal: none of experiment, run, status, chaosrunner")])
    try:
        journal = validate_model(Journal, raw, path)
    except RecursionError:
        raise InvalidInput(path, [("", "nested too deeply")]) from None
    return LoadedJournal(path=path, journal=journal, raw=raw)


def _json_type(v: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(v), "null"
    )


# ---------------------------------------------------------------------------------------------
# Summaries (pure)


def ctk_verdict(j: Journal) -> str:
    """Our verdict for a plain Chaos Toolkit journal, from what happened, not from ``status`` alone."""
    status = (j.status or "").lower()
    if not status and not j.end:
        return "running"
    if status in ("interrupted", "aborted"):
        return "aborted"
    if any(r is not None and r.status == "failed" for r in j.rollbacks):
        return "rollback-failed"
    if j.deviated:
        return "deviated"
    if status == "failed":
        return "failed"
    if any(r is not None and (r.status == "failed" or _process_failed(r)) for r in j.run):
        return "failed"
    before = (j.steady_states or {}).get("before")
    if isinstance(before, dict) and before.get("steady_state_met") is False:
        return "failed"
    if status == "skipped":
        return "refused"
    if status == "completed":
        return "passed"
    return "running" if not j.end else "failed"


def _process_failed(r: Any) -> bool:
    """A ``process`` activity whose command exited non-zero: Chaos Toolkit logs a warning and calls it
    "succeeded"; we call it failed (the same rule the runner applies)."""
    provider = (r.activity or {}).get("provider")
    out = r.output if hasattr(r, "output") else None
    if not (isinstance(provider, dict) and provider.get("type") == "process" and isinstance(out, dict)):
        return False
    status = out.get("status")
    return isinstance(status, int) and not isinstance(status, bool) and status != 0


def experiment_title(j: Journal) -> str:
    s = j.chaosrunner
    if s is not None and s.experiment_title:
        return s.experiment_title
    exp = j.experiment or {}
    title = exp.get("title")
    return title if isinstance(title, str) and title else "(untitled experiment)"


def extension_block(j: Journal) -> dict[str, Any]:
    """The experiment's ``extensions: [{name: chaosrunner, ...}]`` block, or {} when absent/garbled."""
    exts = (j.experiment or {}).get("extensions")
    if isinstance(exts, list):
        for e in exts:
            if isinstance(e, dict) and e.get("name") == "chaosrunner":
                return e
    return {}


def recovery_deadline_s(j: Journal) -> float | None:
    guard = extension_block(j).get("slo_guard")
    if isinstance(guard, dict) and "recovery_deadline" in guard:
        try:
            return parse_duration(guard["recovery_deadline"])
        except ValueError:
            return None
    return None


def rto_s(j: Journal) -> float | None:
    """RTO: a measured ``figures.rto_s`` when an activity reported one, else time to recover."""
    s = j.chaosrunner
    if s is None:
        return None
    fig = (s.figures or {}).get("rto_s")
    if isinstance(fig, int | float) and not isinstance(fig, bool):
        return float(fig)
    return s.timings.time_to_recover_s if s.timings else None


def activity_errors(j: Journal) -> list[tuple[str, str]]:
    """(activity name, error text) for every failed activity, ours first, else Chaos Toolkit's."""
    out: list[tuple[str, str]] = []
    s = j.chaosrunner
    if s is not None and s.activities:
        for a in s.activities:
            if a.error or a.status == "failed":
                out.append((a.name or "(unnamed)", a.error or "failed"))
        return out
    for r in [*j.run, *j.rollbacks]:
        if r is None:
            continue
        name = (r.activity or {}).get("name")
        name = name if isinstance(name, str) else "(unnamed)"
        if r.status == "failed":
            exc = r.exception
            text = "".join(exc) if isinstance(exc, list) else (exc or "failed")
            out.append((name, text.strip()))
        elif _process_failed(r):
            stderr = r.output.get("stderr")
            detail = f": {stderr.strip()[:2000]}" if isinstance(stderr, str) and stderr.strip() else ""
            out.append((name, f"process exited with status {r.output['status']}{detail}"))
    return out


def summarize(j: Journal, path: Path) -> JournalSummary:
    """One journal → one summary row. Pure; handles plain Chaos Toolkit journals and incomplete ones."""
    s = j.chaosrunner
    title = experiment_title(j)
    if s is None:
        run_id = path.stem
        start, end = j.start, j.end
        started = try_time(start)
        ended = try_time(end)
        duration = (
            j.duration if j.duration is not None else ((ended - started).total_seconds() if started and ended else None)
        )
        return JournalSummary(
            run_id=run_id,
            path=str(path),
            kind="chaostoolkit",
            experiment=title,
            title=title,
            verdict=ctk_verdict(j),
            complete=bool(j.end),
            trigger=None,
            calendar_entry=None,
            started_at=start,
            ended_at=end,
            duration_s=duration,
            reason=None,
            aborted=(j.status or "") in ("interrupted", "aborted"),
            targets=0,
            time_to_detect_s=None,
            time_to_recover_s=None,
            rto_s=None,
            budget_spent=None,
            budget_allowance=None,
            recovery_deadline_s=recovery_deadline_s(j),
            samples=0,
            errors=len(activity_errors(j)),
        )
    started_s = s.started_at or j.start
    ended_s = s.ended_at or (j.end if s.complete else None)
    started = try_time(started_s)
    ended = try_time(ended_s)
    duration = (ended - started).total_seconds() if started and ended else None
    budget = s.guard.budget if s.guard else None
    timings = s.timings or Timings()
    verdict = s.verdict or ("running" if not s.complete else ctk_verdict(j))
    return JournalSummary(
        run_id=s.run_id or path.stem,
        path=str(path),
        kind="chaosrunner",
        experiment=s.experiment_path or title,
        title=title,
        verdict=verdict,
        complete=bool(s.complete),
        trigger=s.trigger,
        calendar_entry=s.calendar_entry,
        started_at=started_s,
        ended_at=ended_s,
        duration_s=duration,
        reason=s.reason,
        aborted=s.abort is not None or verdict == "aborted",
        targets=len(s.targets),
        time_to_detect_s=timings.time_to_detect_s,
        time_to_recover_s=timings.time_to_recover_s,
        rto_s=rto_s(j),
        budget_spent=budget.spent if budget else None,
        budget_allowance=budget.allowance if budget else None,
        recovery_deadline_s=recovery_deadline_s(j),
        samples=len(s.guard.samples) if s.guard else 0,
        errors=len(activity_errors(j)),
    )


# ---------------------------------------------------------------------------------------------
# The store (I/O)


@dataclass
class Filters:
    """``journal list`` filters. ``since``/``until`` are aware datetimes (inclusive / exclusive)."""

    experiment: str | None = None  # substring of experiment path or title, case-insensitive
    verdict: str | None = None
    entry: str | None = None  # calendar entry name, exact
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def match(self, s: JournalSummary) -> bool:
        if self.verdict and s.verdict != self.verdict:
            return False
        if self.trigger and s.trigger != self.trigger:
            return False
        if self.entry and s.calendar_entry != self.entry:
            return False
        if self.experiment:
            needle = self.experiment.lower()
            if needle not in s.experiment.lower() and needle not in s.title.lower():
                return False
        if self.since or self.until:
            started = try_time(s.started_at)
            if started is None:
                return False
            if self.since and started < self.since:
                return False
            if self.until and started >= self.until:
                return False
        return True


@dataclass
class Listing:
    """Summaries newest first, plus the files that could not be read (each an InvalidInput)."""

    summaries: list[JournalSummary]
    problems: list[InvalidInput]


def _day_dirs(root: Path, since: datetime | None, until: datetime | None) -> Iterator[Path]:
    """The store's ``YYYY/MM/DD`` directories, pruned by date so a narrow range reads few files."""
    lo = since.date() if since else None
    hi = until.date() if until else None
    for y in _digit_dirs(root, 4):
        for m in _digit_dirs(y, 2):
            for d in _digit_dirs(m, 2):
                try:
                    day = datetime(int(y.name), int(m.name), int(d.name)).date()
                except ValueError:
                    continue
                if (lo and day < lo) or (hi and day > hi):
                    continue
                yield d


def _digit_dirs(parent: Path, width: int) -> list[Path]:
    try:
        with os.scandir(parent) as it:
            return [Path(e.path) for e in it if len(e.name) == width and e.name.isdigit() and e.is_dir()]
    except OSError:
        return []


def iter_journal_files(
    root: Path, since: datetime | None = None, until: datetime | None = None
) -> Iterator[os.DirEntry[str]]:
    """Journal files in the store (names that are run ids), as DirEntry (their stat is cheap)."""
    for d in _day_dirs(root, since, until):
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.name.endswith(".json") and is_run_id(e.name[:-5]) and e.is_file():
                yield e


_INDEXED_FIELDS = [f for f in JournalSummary.__dataclass_fields__ if f not in ("path", "extra")]
_STR_FIELDS = ("run_id", "kind", "experiment", "title", "verdict")
_SCALARS = (str, int, float, bool, type(None))


class SummaryIndex:
    """The cache of summaries ``<root>/.index-v1.json``.

    ``{"version": 3, "fields": [...], "entries": {relpath: [mtime_ns, size, [values in field order]]}}``,
    written compact: a positional row is a third of the size of a dict, and loading 10,000 of them is
    what a warm listing costs. A version or field-list mismatch discards the index (it is only a cache).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / INDEX_NAME
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            doc = json.loads(self.path.read_bytes())
            if (
                isinstance(doc, dict)
                and doc.get("version") == INDEX_VERSION
                and doc.get("fields") == _INDEXED_FIELDS
                and isinstance(doc.get("entries"), dict)
            ):
                self.entries = doc["entries"]
        except (OSError, ValueError):
            self.entries = {}

    def get(self, rel: str, mtime_ns: int, size: int, path: str) -> JournalSummary | None:
        hit = self.entries.get(rel)
        if not (isinstance(hit, list) and len(hit) == 3 and hit[0] == mtime_ns and hit[1] == size):
            return None
        values = hit[2]
        if not isinstance(values, list) or len(values) != len(_INDEXED_FIELDS):
            return None
        row = dict(zip(_INDEXED_FIELDS, values, strict=True))
        if not all(type(row[k]) is str for k in _STR_FIELDS) or not all(type(v) in _SCALARS for v in values):
            return None  # a tampered or foreign cache row: re-read the journal instead
        # Skip the dataclass __init__ (it dominates a warm listing of 10,000 rows): the row is checked.
        summary = object.__new__(JournalSummary)
        summary.__dict__.update(row)
        summary.path = path
        summary.extra = {}
        return summary

    def put(self, rel: str, mtime_ns: int, size: int, summary: JournalSummary) -> None:
        self.entries[rel] = [mtime_ns, size, [getattr(summary, f) for f in _INDEXED_FIELDS]]
        self.dirty = True

    def prune(self, seen: set[str]) -> None:
        stale = [k for k in self.entries if k not in seen]
        for k in stale:
            del self.entries[k]
        self.dirty = self.dirty or bool(stale)

    def save(self) -> None:
        if not self.dirty:
            return
        doc = {"version": INDEX_VERSION, "fields": _INDEXED_FIELDS, "entries": self.entries}
        try:
            atomic_write_bytes(self.path, json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())
        except (OSError, ValueError):
            pass  # read-only store (or a value JSON cannot hold): listing still works, just uncached
        self.dirty = False


PARALLEL_FROM = 256  # uncached journals from which parsing is spread over a process pool


def _summary_or_problem(path: str) -> tuple[JournalSummary | None, tuple[str, list[tuple[str, str]]] | None]:
    """Picklable result for the pool (InvalidInput itself does not survive pickling)."""
    try:
        return load_summary(path), None
    except InvalidInput as bad:
        return None, (bad.file, bad.problems)


def _summarize_many(paths: list[str]) -> list[tuple[JournalSummary | None, tuple[str, list[tuple[str, str]]] | None]]:
    """Parse uncached journals; on a cold store of thousands, use every core (parsing is CPU-bound)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return [_summary_or_problem(p) for p in paths]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            return list(pool.map(_summary_or_problem, paths, chunksize=max(16, len(paths) // (workers * 8))))
    except (OSError, RuntimeError):
        return [_summary_or_problem(p) for p in paths]


def list_journals(root: Path | None = None, filters: Filters | None = None, *, use_index: bool = True) -> Listing:
    """Every journal in the store matching ``filters``, newest first. Never raises for a bad file."""
    root = root or journal_dir()
    filters = filters or Filters()
    index = SummaryIndex(root) if use_index else None
    full_scan = filters.since is None and filters.until is None
    prefix = len(str(root).rstrip("/")) + 1
    seen: set[str] = set()
    found: list[JournalSummary] = []
    misses: list[tuple[str, str, int, int]] = []
    for e in iter_journal_files(root, filters.since, filters.until):
        st = e.stat()
        rel = e.path[prefix:]
        seen.add(rel)
        summary = index.get(rel, st.st_mtime_ns, st.st_size, e.path) if index else None
        if summary is None:
            misses.append((rel, e.path, st.st_mtime_ns, st.st_size))
        else:
            found.append(summary)
    problems: list[InvalidInput] = []
    for (rel, path, mtime_ns, size), (summary, bad) in zip(
        misses, _summarize_many([m[1] for m in misses]), strict=True
    ):
        if summary is None:
            assert bad is not None
            problems.append(InvalidInput(bad[0], bad[1]))
            continue
        summary.path = path
        if index:
            index.put(rel, mtime_ns, size, summary)
        found.append(summary)
    if index:
        if full_scan:
            index.prune(seen)
        index.save()
    out = [s for s in found if filters.match(s)]
    out.sort(key=lambda s: (s.started_at or "", s.run_id), reverse=True)
    return Listing(out, problems)


def find_journal(ident: str, root: Path | None = None, *, allow_files: bool = False) -> Path:
    """Resolve ``ident`` to a journal file: a run id in the store or ``latest``.

    A run id is checked against the strict run-id pattern *before* any path is built from it, so
    ``../../etc/passwd`` can never escape the store. Only with ``allow_files`` (the CLI, where the user
    names a file explicitly) is an existing file whose name ends in ``.json`` accepted too — that is how
    plain ``chaos run`` journals are read. Raises InvalidInput with a clear message otherwise.
    """
    root = root or journal_dir()
    if ident == "latest":
        listing = list_journals(root)
        if not listing.summaries:
            raise InvalidInput(root, [("", "the journal store is empty")])
        return Path(listing.summaries[0].path)
    if is_run_id(ident):
        p = _journal_path(ident, root)
        if p.is_file():
            return p
        for e in iter_journal_files(root):  # filed under another day (clock skew): still findable
            if e.name == f"{ident}.json":
                return Path(e.path)
        raise InvalidInput(root, [("", f"no journal with run id {ident}")])
    candidate = Path(ident)
    if allow_files and ident.endswith(".json") and candidate.is_file():
        return candidate
    wanted = "a run id (YYYYMMDDTHHMMSSZ-<slug>-<6 hex>) or 'latest'"
    if allow_files:
        wanted += " or an existing *.json journal file"
    raise InvalidInput(ident, [("", f"not {wanted}")])
