"""State, ledger, heartbeats, locks, watchdog logs and journals are owner-only: 0700 dirs, 0600 files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chaosrunner.core import storage
from chaosrunner.faults.heartbeat import Heartbeat
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.recovery import mark_journal
from chaosrunner.faults.undo import revert_open
from chaosrunner.safety.locks import TargetLocks


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


@pytest.mark.slow
def test_secret_values_never_reach_the_ledger_or_state(state: Path, tmp_path: Path) -> None:
    """A real run with an env secret and an env-declared configuration value: neither value is written
    anywhere under the state dir (ledger entries, watchdog log) nor in the journal store."""
    import subprocess
    import sys

    import yaml

    from tests.safety.harness import child_env

    secret, config_secret = "s3cret-Token-9f8e7d", "db-Password-1a2b3c"
    doc = {
        "title": "secrets",
        "description": "a run whose rollback needs a secret",
        "configuration": {"db_password": {"type": "env", "key": "SAFETY_DB_PASSWORD"}, "log": str(tmp_path / "log")},
        "secrets": {"proxy": {"token": {"type": "env", "key": "SAFETY_TOKEN"}}},
        "method": [
            {
                "type": "action",
                "name": "note",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "append_line",
                    "arguments": {"path": "${log}"},
                },
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "record",
                "provider": {
                    "type": "python",
                    "module": "chaos_undo_marks",
                    "func": "record_configuration",
                    "secrets": ["proxy"],
                    "arguments": {"path": str(tmp_path / "seen.json")},
                },
            }
        ],
    }
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {**child_env(), "SAFETY_TOKEN": secret, "SAFETY_DB_PASSWORD": config_secret}
    out = subprocess.run(
        [sys.executable, "-m", "chaosrunner", "run", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert secret in (tmp_path / "seen.json").read_text()  # the rollback did get the secret
    entries = list((state / "ledger").rglob("*.json"))
    assert entries, "the run-level ledger entry was recorded"
    assert any("SAFETY_TOKEN" in p.read_text() for p in entries)
    written = [f for root in (state, tmp_path / "journals") for f in root.rglob("*") if f.is_file()]
    assert any(f.suffix == ".json" and "journals" in f.parts for f in written)
    for p in written:
        text = p.read_text(errors="replace")
        assert secret not in text and config_secret not in text, p
