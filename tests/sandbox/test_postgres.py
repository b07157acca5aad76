"""PostgreSQL launcher: primary, streaming standby, promotion — on real servers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrunner.core.ports import free_port, port_open
from chaosrunner.sandbox.postgres import PostgresCluster, PostgresError, pg_base_dir

pytestmark = pytest.mark.slow


@pytest.fixture()
def pg_base(tmp_path: Path) -> Iterator[Path]:
    base = pg_base_dir(tmp_path)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def pair(pg_base: Path) -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    primary = PostgresCluster(pg_base, "pg-a", free_port())
    standby = PostgresCluster(pg_base, "pg-b", free_port())
    try:
        primary.init_primary()
        primary.start()
        standby.init_standby(primary)
        standby.start()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


def test_base_dir_is_traversable_by_postgres_even_under_private_tmp(tmp_path: Path) -> None:
    base = pg_base_dir(tmp_path)
    try:
        assert base.is_dir()
        assert oct(base.stat().st_mode & 0o777) == "0o755"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_standby_streams_writes_and_promotion_makes_it_writable(pair) -> None:
    primary, standby = pair
    assert primary.in_recovery() is False
    assert standby.in_recovery() is True
    primary.execute("CREATE TABLE t (id int primary key)")
    primary.execute("INSERT INTO t VALUES (1)")
    deadline = time.monotonic() + 10
    rows: list = []
    while time.monotonic() < deadline:
        try:
            rows = standby.execute("SELECT id FROM t")
        except Exception:  # table not replayed yet
            rows = []
        if rows:
            break
        time.sleep(0.05)
    assert rows == [(1,)]
    with pytest.raises(Exception, match="read-only"):
        standby.execute("INSERT INTO t VALUES (2)")

    primary.stop(mode="immediate")
    assert not port_open(primary.port)
    seconds = standby.promote()
    assert seconds < 10
    standby.execute("INSERT INTO t VALUES (2)")
    assert standby.execute("SELECT count(*) FROM t") == [(2,)]
    assert standby.in_recovery() is False


def test_stop_is_idempotent_and_restart_keeps_data(pg_base: Path) -> None:
    pg = PostgresCluster(pg_base, "pg-solo", free_port())
    try:
        pg.init_primary()
        pg.start()
        pg.start()  # idempotent
        pg.execute("CREATE TABLE k (v text)")
        pg.stop()
        pg.stop()
        assert pg.pid() is None and not port_open(pg.port)
        pg.start()
        assert pg.execute("SELECT count(*) FROM k") == [(0,)]
    finally:
        pg.destroy()
    assert not pg.dir.exists()


def test_second_init_refuses_existing_data_dir(pg_base: Path) -> None:
    pg = PostgresCluster(pg_base, "pg-x", free_port())
    try:
        pg.init_primary()
        with pytest.raises(PostgresError, match="already exists"):
            pg.init_primary()
    finally:
        pg.destroy()
