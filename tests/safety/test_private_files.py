"""State, ledger, heartbeats, locks, watchdog logs and journals are owner-only: 0700 dirs, 0600 files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chaosrunner import storage
from chaosrunner.ledger import Ledger, revert_open
from chaosrunner.locks import TargetLocks
from chaosrunner.watchdog import Heartbeat, mark_journal


def modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = stat.S_IMODE(p.stat().st_mode)
    return out


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)  # the usual umask: private modes must not depend on it
    try:
        yield
    finally:
        os.umask(old)


def test_everything_under_state_and_journals_is_owner_only(state: Path, tmp_path: Path, usual_umask) -> None:
    ledger = Ledger(state)
    eid = ledger.record("run-1", "f", "t", None, expires_at=0)
    Heartbeat("run-1", state).start().stop(done=True)
    TargetLocks(state).acquire("run-1", ["k"])
    journal = storage.journal_dir() / "2026" / "11" / "22" / "run-1.json"
    mark_journal(journal, ledger, "run-1", revert_open(ledger), "watchdog")
    assert ledger.get(eid) is not None
    for root in (state, storage.journal_dir()):
        found = modes(root)
        assert len(found) > 3
        bad = {k: oct(v) for k, v in found.items() if v not in (0o700, 0o600)}
        assert bad == {}, f"not owner-only under {root}: {bad}"
        dirs = [k for k in found if (root / k).is_dir()]
        assert all(found[d] == 0o700 for d in dirs)


def test_ensure_private_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError):
        storage.ensure_private_dir(tmp_path / "f")
    with pytest.raises(OSError):
        storage.ensure_private_dir(tmp_path / "f" / "sub")
