"""Run ids and timestamps: the one spelling of each, so every writer and reader agrees.

Run id: ``YYYYMMDDTHHMMSSZ-<slug>-<6 hex>``, e.g. ``20261201T103000Z-tuesday-latency-3fa2c1``. The
stamp is the UTC second the run was created (journals are filed by it), the slug comes from the
experiment title, the 6 hex digits make two runs in the same second distinct. The pattern is strict
on purpose: a run id names files and directories, so ``../`` or ``/`` can never get through it.

Time: ISO-8601 in UTC with microseconds and an explicit offset, ``2026-12-01T10:30:00.123456+00:00``
(what :meth:`datetime.isoformat` gives for an aware UTC time, and what Chaos Toolkit writes).
:func:`parse_time` also reads the other spellings found in existing journals: a ``Z`` suffix,
whole seconds, other offsets, and naive times (Chaos Toolkit's older journals), taken as UTC.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

RUN_ID_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<slug>[a-z0-9][a-z0-9-]{0,63})-(?P<nonce>[0-9a-f]{6})$")
RUN_ID_FORMAT = "YYYYMMDDTHHMMSSZ-<slug>-<6 hex>"  # what error messages tell a user to type


def new_run_id(title: str, when: datetime | None = None) -> str:
    """A fresh run id for an experiment called ``title`` created at ``when`` (default: now; naive = UTC)."""
    when = when or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "experiment"
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{slug}-{secrets.token_hex(3)}"


def is_run_id(value: str) -> bool:
    return bool(RUN_ID_RE.match(value))


def run_id_stamp(run_id: str) -> str:
    """The ``YYYYMMDDTHHMMSSZ`` part of a run id (its creation second, UTC); ValueError if malformed.

    Returned as text, not parsed: a run id like ``20261399T…`` matches the pattern and must still
    name a file (the store files it as written), so no calendar check happens here.
    """
    m = RUN_ID_RE.match(run_id)
    if not m:
        raise ValueError(f"not a run id ({RUN_ID_FORMAT}): {run_id!r}")
    return m.group("stamp")


def format_time(t: datetime) -> str:
    """An aware datetime → the one journal spelling (UTC, microseconds, ``+00:00``). Naive = UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def now_iso() -> str:
    """Now, spelled by :func:`format_time`."""
    return format_time(datetime.now(UTC))


def parse_time(value: str) -> datetime:
    """Any ISO-8601 spelling found in journals → aware UTC datetime; ValueError if unparseable."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def plus_seconds(t: datetime, seconds: float) -> datetime | None:
    """``t`` moved by ``seconds``, or None when that leaves the calendar (journals are untrusted: a
    duration of 8,000 years is valid JSON)."""
    try:
        return t + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def try_time(value: str | None) -> datetime | None:
    """:func:`parse_time`, or None for an absent or unparseable value (journals are untrusted)."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
