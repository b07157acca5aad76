"""Where journals live in the store: ``<root>/YYYY/MM/DD/<run_id>.json``, the day taken from the run id.

Writers (the runner, refusals, the watchdog's recovery record) and readers (listing, ``find``) all go
through this module, so the layout is decided once. Filing by the run id's own stamp (UTC) means the
path is known from the id alone, without a lookup, and a date range reads only its day directories.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from chaosrunner.core.ids import is_run_id, run_id_stamp
from chaosrunner.core.storage import journal_dir

SUFFIX = ".json"


def journal_path(run_id: str, root: Path | None = None) -> Path:
    """Where ``run_id``'s journal lives (whether or not it exists). ValueError for a malformed id, so a
    path is never built from anything but a strict run id. ``root`` defaults to the configured store."""
    stamp = run_id_stamp(run_id)
    return (root or journal_dir()) / stamp[0:4] / stamp[4:6] / stamp[6:8] / f"{run_id}{SUFFIX}"


def existing_journal_path(run_id: str, root: Path | None = None) -> Path | None:
    """:func:`journal_path` if that file exists, else None (also for a malformed id)."""
    try:
        path = journal_path(run_id, root)
    except ValueError:
        return None
    return path if path.is_file() else None


def iter_journal_files(
    root: Path, since: datetime | None = None, until: datetime | None = None
) -> Iterator[os.DirEntry[str]]:
    """Journal files in the store (names that are run ids), as DirEntry (their stat is cheap).

    ``since``/``until`` (aware datetimes) prune whole day directories outside the range; both ends are
    inclusive at day granularity — the caller filters exact times.
    """
    for d in _day_dirs(root, since.date() if since else None, until.date() if until else None):
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.name.endswith(SUFFIX) and is_run_id(e.name[: -len(SUFFIX)]) and e.is_file():
                yield e


def _day_dirs(root: Path, lo: date | None, hi: date | None) -> Iterator[Path]:
    for y in _digit_dirs(root, 4):
        for m in _digit_dirs(y, 2):
            for d in _digit_dirs(m, 2):
                try:
                    day = date(int(y.name), int(m.name), int(d.name))
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
