"""Writing one run's journal: incrementally, atomically, with secrets redacted.

The journal is rewritten (temp file + fsync + rename, see :mod:`chaosrunner.core.storage`) after every
activity start and end, so a ``kill -9`` at any moment leaves valid JSON on disk that lists the
activities done so far, marked ``chaosrunner.complete: false``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaosrunner.core.ids import new_run_id, now_iso
from chaosrunner.core.storage import atomic_write_json
from chaosrunner.core.verdict import Verdict
from chaosrunner.journal.layout import journal_path
from chaosrunner.journal.schema import SECTION, final_fields, new_section, readable_ctk, refusal_ctk

REDACTED = "***"


def redact(value: Any, secret_values: Iterable[str]) -> Any:
    """Replace every occurrence of a secret value (also inside longer strings) by ``***``; NaN → None."""
    needles = sorted({s for s in secret_values if isinstance(s, str) and len(s) >= 3}, key=len, reverse=True)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            for n in needles:
                if n in v:
                    v = v.replace(n, REDACTED)
            return v
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {walk(k) if isinstance(k, str) else str(k): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        if v is None or isinstance(v, bool | int | float):
            return v
        return walk(str(v))

    return walk(value)


def secret_values(secrets: Any) -> list[str]:
    """Every leaf string of a loaded Chaos Toolkit ``secrets`` mapping."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif isinstance(v, str | int | float) and not isinstance(v, bool):
            out.append(str(v))

    walk(secrets)
    return out


class JournalWriter:
    """Owns one run's journal document; ``flush()`` writes it atomically.

    ``ctk`` is the Chaos Toolkit journal dict (chaoslib mutates it while running); ``section`` is the
    ``chaosrunner`` section. Secret values registered with :meth:`add_secrets` are redacted on every
    write, everywhere in the document.
    """

    def __init__(self, run_id: str, root: Path | None = None) -> None:
        self.run_id = run_id
        self.path = journal_path(run_id, root)
        self._secrets: set[str] = set()
        self.lock = threading.RLock()  # the guard's sampler thread appends samples while the main thread writes
        self.ctk: dict[str, Any] = {}
        self.section: dict[str, Any] = new_section(run_id, now_iso())

    def add_secrets(self, values: Iterable[str]) -> None:
        self._secrets.update(v for v in values if isinstance(v, str))

    def redact(self, value: Any) -> Any:
        return redact(value, self._secrets)

    def log_filter(self) -> logging.Filter:
        """A filter that redacts this run's secrets from log records (attach it to log handlers)."""
        return _RedactingFilter(self._secrets)

    def document(self) -> dict[str, Any]:
        """A redacted copy of the journal (``redact`` builds new containers: chaoslib's live dicts are
        never shared with the file writer)."""
        return redact({**readable_ctk(self.ctk or {}), SECTION: self.section}, self._secrets)

    def flush(self, durable: bool = False) -> None:
        """Rewrite the journal atomically. Intermediate writes skip fsync: a crash of the runner still
        leaves the last complete version (rename is atomic); the final write is ``durable``."""
        with self.lock:
            atomic_write_json(self.path, self.document(), durable=durable)

    def finish(self, verdict: Verdict, reason: str) -> None:
        """Record the verdict and ``reason`` (one sentence), mark the journal complete, write it durably."""
        self.section.update(final_fields(verdict, reason, now_iso()))
        self.flush(durable=True)


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: set[str]) -> None:
        super().__init__()
        self._secrets = secrets  # shared with the writer: secrets loaded later are redacted too

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = redact(record.getMessage(), self._secrets)
            record.args = None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
                record.exc_text = redact(text, self._secrets)
            elif record.exc_text:
                record.exc_text = redact(record.exc_text, self._secrets)
            if record.stack_info:
                record.stack_info = redact(record.stack_info, self._secrets)
        return True


def record_refusal(
    experiment_path: str,
    trigger: str,
    calendar_entry: str | None,
    reason: str,
    checks: list[dict[str, Any]] | None = None,
    title: str | None = None,
    root: Path | None = None,
) -> Path:
    """Write a complete journal for a run that never started (refused or skipped); returns its path.

    Used by the runner's preflight and by the scheduler when a calendar run is skipped, so every
    decision not to run leaves a record a facilitator can find.
    """
    name = title or Path(experiment_path).stem
    writer = JournalWriter(new_run_id(name), root)
    writer.ctk = refusal_ctk(name, writer.section["started_at"])
    writer.section.update(
        trigger=trigger,
        calendar_entry=calendar_entry,
        experiment_path=str(experiment_path),
        experiment_title=name,
        preflight={"allowed": False, "checks": checks or []},
    )
    writer.finish(Verdict.REFUSED, reason)
    return writer.path
