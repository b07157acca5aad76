"""Reading the journal store: find, load, validate and list journals (the schema is :mod:`.schema`).

Loading never tracebacks on a bad file: every problem is an
:class:`~chaosrunner.core.validation.InvalidInput` naming the file and the key path. ``show`` and
``report`` validate the full :class:`~chaosrunner.journal.schema.Journal`; listing validates only its
head (:data:`~chaosrunner.journal.schema.JournalHead`) and caches summaries in the
:class:`~chaosrunner.journal.index.SummaryIndex`, so 10,000 journals list in well under 2 s.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaosrunner.core.ids import RUN_ID_FORMAT, is_run_id, try_time
from chaosrunner.core.storage import journal_dir
from chaosrunner.core.validation import JOURNAL_LIMITS, InvalidInput, key_path, parse_json_document, validate_model
from chaosrunner.journal.index import SummaryIndex
from chaosrunner.journal.layout import existing_journal_path, iter_journal_files
from chaosrunner.journal.schema import SECTION, Journal, JournalHead
from chaosrunner.journal.summary import JournalSummary, summarize

MAX_JOURNAL_BYTES = 64 * 1024 * 1024
PARALLEL_FROM = 256  # uncached journals from which parsing is spread over a process pool


@dataclass
class LoadedJournal:
    """A validated journal and where it came from; ``raw`` is the document as parsed."""

    path: Path
    journal: Journal
    raw: dict[str, Any]

    @property
    def summary(self) -> JournalSummary:
        return summarize(self.journal, self.path)


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
    raw = parse_json_document(text, path, JOURNAL_LIMITS)  # bounded: size, depth, finite numbers
    if not isinstance(raw, dict):
        raise InvalidInput(path, [("", f"a journal is a JSON object, not {_json_type(raw)}")])
    if not any(k in raw for k in ("experiment", SECTION, "run", "status")):
        raise InvalidInput(path, [("", f"not a journal: none of experiment, run, status, {SECTION}")])
    try:
        journal = validate_model(Journal, raw, path)
    except RecursionError:
        raise InvalidInput(path, [("", "nested too deeply")]) from None
    return LoadedJournal(path=path, journal=journal, raw=raw)


def _json_type(v: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(v), "null"
    )


def load_summary(path: str | Path) -> JournalSummary:
    """The summary of one journal, validating only what the summary uses (the head model)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InvalidInput(p, [("", f"cannot read: {e.strerror or e}")]) from None
    try:
        head: Any = JournalHead.model_validate_json(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if not data.strip() or any(err["type"].startswith("json_") or not err["loc"] for err in errors):
            parse_journal(data, p)  # raises the same clear message `show` gives
        raise InvalidInput(p, [(key_path(err["loc"]), _msg(err["msg"])) for err in errors]) from None
    if head.chaosrunner is None and head.experiment is None and head.status is None and not head.run:
        parse_journal(data, p)  # not a journal (or not an object): same message as `show`
    return summarize(head, p)  # the head has every Journal field summarize reads (tests/review/test_contracts.py)


def _msg(msg: str) -> str:
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


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
    # Imported here: ~30 ms (python -X importtime) that every CLI start would pay and only a cold
    # listing of PARALLEL_FROM+ journals needs.
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


_SHORT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{3,}")
_ELIDED_ID = re.compile(r"[0-9A-Za-z-]+…[0-9A-Za-z-]+")  # as a narrow `journal list` prints it


def _by_short_id(ident: str, root: Path) -> Path:
    """The one journal whose run id starts or ends with ``ident`` (``20261201T1837``, ``1f17bd``), as git
    takes a short hash, or both (``20261201T183732Z…1f17bd``, a narrow listing's form). Only file names are
    compared: no path is ever built from ``ident``."""
    head, _, tail = ident.partition("…")

    def matches(rid: str) -> bool:
        if tail:
            return rid.startswith(head) and rid.endswith(tail)
        return rid.startswith(ident) or rid.endswith(ident)

    found = [e for e in iter_journal_files(root) if e.name.endswith(".json") and matches(e.name[:-5])]
    if len(found) == 1:
        return Path(found[0].path)
    if not found:
        raise InvalidInput(root, [("", f"no journal whose run id starts or ends with {ident}")])
    names = sorted(e.name[:-5] for e in found)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise InvalidInput(root, [("", f"{ident} matches {len(names)} runs: {shown}; give more of the run id")])


def find_journal(ident: str, root: Path | None = None, *, allow_files: bool = False) -> Path:
    """Resolve ``ident`` to a journal file: a run id in the store, a unique start or end of one, or ``latest``.

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
        p = existing_journal_path(ident, root)
        if p is not None:
            return p
        for e in iter_journal_files(root):  # filed under another day (clock skew): still findable
            if e.name == f"{ident}.json":
                return Path(e.path)
        raise InvalidInput(root, [("", f"no journal with run id {ident}")])
    candidate = Path(ident)
    if allow_files and ident.endswith(".json") and candidate.is_file():
        return candidate
    if _SHORT_ID.fullmatch(ident) or _ELIDED_ID.fullmatch(ident):
        return _by_short_id(ident, root)
    wanted = f"a run id ({RUN_ID_FORMAT}), a unique start or end of one, or 'latest'"
    if allow_files:
        wanted += " or an existing *.json journal file"
    raise InvalidInput(ident, [("", f"not {wanted}")])
