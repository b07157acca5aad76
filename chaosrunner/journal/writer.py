"""Writing one run's journal: incrementally, atomically, with secrets redacted.

The journal is rewritten (temp file + fsync + rename, see :mod:`chaosrunner.core.storage`) after every
activity start and end, so a ``kill -9`` at any moment leaves valid JSON on disk that lists the
activities done so far, marked ``chaosrunner.complete: false``.
"""

from __future__ import annotations

import logging
import math
import re
import secrets as _random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosrunner.core.storage import atomic_write_json, journal_dir
from chaosrunner.core.verdict import Verdict, exit_code

FORMAT = 1
REDACTED = "***"
RUN_ID_RE = re.compile(r"^(\d{8}T\d{6}Z)-([a-z0-9][a-z0-9-]{0,63})-([0-9a-f]{6})$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def new_run_id(title: str, when: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<slug>-<6 hex>``; the slug comes from the experiment title or file name."""
    when = when or datetime.now(UTC)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "experiment"
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{slug}-{_random.token_hex(3)}"


def journal_path(run_id: str, root: Path | None = None) -> Path:
    """Where a run's journal lives: ``<root>/YYYY/MM/DD/<run_id>.json``. Refuses malformed ids."""
    m = RUN_ID_RE.match(run_id)
    if not m:
        raise ValueError(f"not a run id: {run_id!r}")
    day = m.group(1)
    return (root or journal_dir()) / day[0:4] / day[4:6] / day[6:8] / f"{run_id}.json"


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
        self.section: dict[str, Any] = {
            "format": FORMAT,
            "run_id": run_id,
            "complete": False,
            "verdict": "running",
            "reason": None,
            "exit_code": None,
            "started_at": now_iso(),
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
        return redact({**(self.ctk or {}), "chaosrunner": self.section}, self._secrets)

    def flush(self, durable: bool = False) -> None:
        """Rewrite the journal atomically. Intermediate writes skip fsync: a crash of the runner still
        leaves the last complete version (rename is atomic); the final write is ``durable``."""
        with self.lock:
            atomic_write_json(self.path, self.document(), durable=durable)

    def finish(self, verdict: Verdict, reason: str) -> None:
        self.section.update(
            verdict=verdict.value,
            reason=reason,
            exit_code=int(exit_code(verdict)),
            ended_at=now_iso(),
            complete=True,
        )
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
    writer.ctk = {
        "experiment": {"title": name},
        "status": "skipped",
        "start": writer.section["started_at"],
        "end": writer.section["started_at"],
        "duration": 0.0,
        "deviated": False,
        "steady_states": {"before": None, "after": None, "during": []},
        "run": [],
        "rollbacks": [],
    }
    writer.section.update(
        trigger=trigger,
        calendar_entry=calendar_entry,
        experiment_path=str(experiment_path),
        experiment_title=name,
        preflight={"allowed": False, "checks": checks or []},
    )
    writer.finish(Verdict.REFUSED, reason)
    return writer.path
