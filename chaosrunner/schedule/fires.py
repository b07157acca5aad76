"""The fire ledger: one row per (entry, scheduled time) in the job store's database, so a fire runs
exactly once even across daemon restarts, misfires and several daemons sharing one store.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

FIRES_TABLE = "chaosrunner_fires"


class FireLedger:
    """Every fire claimed once: ``INSERT`` with a primary key on ``(entry, scheduled_at)``."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

        self.engine = engine
        self.meta = MetaData()
        self.table = Table(
            FIRES_TABLE, self.meta,
            Column("entry", String(200), primary_key=True),
            Column("scheduled_at", String(40), primary_key=True),  # ISO-8601 UTC, seconds
            Column("owner", String(200), nullable=False),
            Column("claimed_at", Float, nullable=False),  # epoch seconds
            Column("outcome", String(40)),  # ran | skipped | duplicate...
            Column("exit_code", Integer),
            Column("detail", Text),
            Column("journal", Text),
        )

    def create(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        for attempt in range(5):  # two daemons may race on CREATE TABLE
            try:
                self.meta.create_all(self.engine, checkfirst=True)
                return
            except SQLAlchemyError:
                if attempt == 4:
                    raise
                time.sleep(0.2)

    def claim(self, entry: str, scheduled_at: datetime, owner: str) -> bool:
        from sqlalchemy.exc import IntegrityError

        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(
                    entry=entry, scheduled_at=fire_key(scheduled_at), owner=owner, claimed_at=time.time()))
            return True
        except IntegrityError:
            return False

    def finish(self, entry: str, scheduled_at: datetime, outcome: str, exit_code: int | None = None,
               detail: str = "", journal: str | None = None) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.entry == entry, t.c.scheduled_at == fire_key(scheduled_at)).values(
                outcome=outcome, exit_code=exit_code, detail=detail[:2000], journal=journal))

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(self.table.select().order_by(self.table.c.scheduled_at))]


def fire_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
