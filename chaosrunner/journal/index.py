"""The listing cache ``<journals>/.index-v1.json``: journal summaries keyed by relative path, size and mtime.

Listing 10,000 journals must take well under 2 s, so only journals that are new or changed since the
last listing are parsed. The index is rewritten atomically when it changed and silently skipped when the
store is read-only. It is only a cache: deleting it is always safe, and a row that does not look
exactly right is ignored (the journal is re-read) rather than trusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaosrunner.core.storage import atomic_write_bytes
from chaosrunner.journal.summary import JournalSummary

INDEX_NAME = ".index-v1.json"
INDEX_VERSION = 4  # 4: plain Chaos Toolkit journals judged by core.verdict.decide (new verdicts and reasons)

_INDEXED_FIELDS = [f for f in JournalSummary.__dataclass_fields__ if f not in ("path", "extra")]
_STR_FIELDS = ("run_id", "kind", "experiment", "title", "verdict")
_SCALARS = (str, int, float, bool, type(None))


class SummaryIndex:
    """The cache of summaries ``<root>/.index-v1.json``.

    ``{"version": 4, "fields": [...], "entries": {relpath: [mtime_ns, size, [values in field order]]}}``,
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
