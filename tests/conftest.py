"""Suite-wide fixtures: every test gets its own chaosrunner state and journal store."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "chaosrunner-home"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(home))
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(tmp_path / "journals"))
    monkeypatch.setenv("CHAOSRUNNER_CONFIG", str(tmp_path / "no-config.yaml"))  # never the developer's own
    return home
