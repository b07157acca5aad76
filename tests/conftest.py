"""Suite-wide fixtures: every test gets its own chaosrunner state and journal store; ``postgres`` is a real
PostgreSQL 15 of the test's own (the scheduler's job store, the fleet's state)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrunner.core.ports import free_port
from chaosrunner.sandbox.postgres import PostgresCluster, pg_base_dir


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "chaosrunner-home"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(home))
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(tmp_path / "journals"))
    monkeypatch.setenv("CHAOSRUNNER_CONFIG", str(tmp_path / "no-config.yaml"))  # never the developer's own
    return home


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(pg_base_dir(tmp_path), "pg", port=free_port())
    try:
        cluster.init_primary()
        cluster.start(timeout_s=30)
        yield cluster
    finally:
        cluster.destroy()
