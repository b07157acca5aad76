"""A sandbox state exactly as ``sandbox up`` writes it, without bringing anything up (for tests that read one)."""

from __future__ import annotations

from pathlib import Path

from chaosrunner.sandbox.estate import PRIMARY, STANDBY, SandboxOptions, describe
from chaosrunner.sandbox.postgres import PostgresCluster
from chaosrunner.sandbox.state import SandboxState
from chaosrunner.sandbox.topology import allocate_ports

BASE_PORT = 20000


def written_state(root: Path) -> SandboxState:
    """The state of an estate under ``root`` on ports 20000…, completed as ``up`` completes it."""
    ports = allocate_ports(BASE_PORT)
    pg = root / "pg"
    state = describe(SandboxOptions(root=root, base_port=BASE_PORT), ports,
                     PostgresCluster(pg, PRIMARY, ports.pg_primary), PostgresCluster(pg, STANDBY, ports.pg_standby),
                     "builtin")
    state.created_at = 1_790_000_000.0
    state.supervisor.pid = 4242
    state.up_timings = {"postgres_s": 3.1, "total_s": 9.5}
    return state
