"""Scale-out on a real PostgreSQL: two daemons share the job store, one leads; kill -9 the leader and
the standby takes over within 10 s; every fire ran exactly once."""

from __future__ import annotations

import time
from collections import Counter

import psycopg
import pytest

from chaosrunner.sandbox.postgres import PostgresCluster
from tests.schedule.conftest import wait_for
from tests.schedule.test_daemon import ALWAYS_OPEN, DaemonProcess, method_runs, wait_children_gone

TAKEOVER_LIMIT_S = 10.0


def fire_rows(cluster: PostgresCluster) -> list[tuple[str, str, str, int | None]]:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        return list(conn.execute("SELECT scheduled_at, owner, outcome, exit_code FROM chaosrunner_fires "
                                 "ORDER BY scheduled_at").fetchall())


def leading(d: DaemonProcess) -> bool:
    return "leading since" in d.log()


@pytest.mark.slow
def test_two_daemons_one_leader_takeover_and_exactly_once(tmp_path, write_calendar, postgres) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    cal = write_calendar({**ALWAYS_OPEN, "defaults": {"misfire": "run_once", "misfire_grace": "10m"}, "entries": [
        {"name": "e", "every": "2s", "configuration": {"marker": str(marker), "label": "e"}}]})
    store = f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/postgres"
    with DaemonProcess(tmp_path, cal, "daemon-a", store=store) as a:
        wait_for(lambda: leading(a), 30, "daemon A to lead")
        with DaemonProcess(tmp_path, cal, "daemon-b", store=store) as b:
            wait_for(lambda: "standing by" in b.log(), 30, "daemon B to stand by")
            wait_for(lambda: len(method_runs(marker)) >= 2, 40, "two runs under A")
            assert not leading(b), b.log()
            owners = {row[1] for row in fire_rows(postgres)}
            assert owners and all(o.endswith(f":{a.mp.pid}") for o in owners), owners

            a.kill9()
            killed = time.monotonic()
            wait_for(lambda: leading(b), TAKEOVER_LIMIT_S + 5, "daemon B to take over", poll=0.02)
            takeover_s = time.monotonic() - killed
            assert takeover_s <= TAKEOVER_LIMIT_S, takeover_s
            before = set(method_runs(marker))
            wait_for(lambda: len(set(method_runs(marker)) - before) >= 2, 40, "two runs under B")
    wait_children_gone(marker)

    runs = method_runs(marker)
    assert len(runs) == len(set(runs)), Counter(runs).most_common(3)  # no fire ran twice
    rows = fire_rows(postgres)
    claimed = {r[0]: r for r in rows}
    assert set(runs) <= set(claimed)  # every run was claimed in the shared ledger before it started
    # outcome None: A was killed -9 while that child ran (the child still finished, once).
    assert all(claimed[r][2] in ("ran", None) for r in runs)
    owners_by_time = [r[1].rsplit(":", 1)[1] for r in rows]
    b_pid = str(b.mp.pid)
    first_b = owners_by_time.index(b_pid)
    assert set(owners_by_time[:first_b]) == {str(a.mp.pid)} and set(owners_by_time[first_b:]) == {b_pid}


def advisory_holders(cluster: PostgresCluster) -> list[int]:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")]


@pytest.mark.slow
def test_leader_that_loses_its_lock_session_steps_down(tmp_path, write_calendar, postgres) -> None:  # noqa: ANN001
    cal = write_calendar({**ALWAYS_OPEN, "entries": [{"name": "e", "cron": "0 0 1 1 *"}]})
    store = f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/postgres"
    with DaemonProcess(tmp_path, cal, "daemon-a", store=store) as a:
        wait_for(lambda: leading(a), 30, "daemon A to lead")
        with DaemonProcess(tmp_path, cal, "daemon-b", store=store) as b:
            wait_for(lambda: "standing by" in b.log(), 30, "daemon B to stand by")
            (holder,) = wait_for(lambda: advisory_holders(postgres), 10, "one advisory lock")
            with psycopg.connect(postgres.dsn, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
            wait_for(lambda: "lost leadership" in a.log(), 10, "daemon A to step down")
            # Someone leads again (B, or A after re-election) - never both.
            wait_for(lambda: len(advisory_holders(postgres)) == 1, 10, "a new leader")
            wait_for(lambda: a.log().count("leading since") + b.log().count("leading since") == 2, 15,
                     "the new leader to start scheduling")
            assert len(advisory_holders(postgres)) == 1
