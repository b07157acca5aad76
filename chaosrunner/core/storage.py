"""Where chaosrunner keeps state on disk, and how it writes it: owner-only, atomically, durably.

* ``state_dir()``: the state home (:mod:`chaosrunner.core.config`: ``$CHAOSRUNNER_HOME``, the config
  file, else ``/var/lib/chaosrunner`` for root, ``$XDG_STATE_HOME/chaosrunner`` for others) — kill
  switch, ledger, locks, run leases, heartbeats. Never the current directory.
* ``journal_dir()``: the journal store (``$CHAOSRUNNER_JOURNALS``, the config file, else
  ``<state home>/journals``).

Files are written to a temp file in the same directory, fsync'd, renamed over the target and the
directory fsync'd: a crash at any moment leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from chaosrunner.core.config import journals_setting, state_home_setting


def state_dir() -> Path:
    return Path(str(state_home_setting().value)).expanduser().absolute()


def journal_dir() -> Path:
    return Path(str(journals_setting().value)).expanduser().absolute()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; raises OSError if it cannot be written.

    Each missing parent is created 0700 too (``Path.mkdir(parents=True)`` would make them 0755).
    """
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    return path


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temp file + rename): after a crash of this process at
    any moment the file is the old or the new version, never torn. ``durable`` also fsyncs file and
    directory, so the new version survives a power loss or kernel crash too."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write_json(path: Path, data: Any, *, durable: bool = True) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, default=str, allow_nan=False).encode("utf-8"), durable=durable)
