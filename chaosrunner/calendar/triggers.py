"""When each calendar entry fires: the APScheduler trigger for an entry (its cron line, or its day and
time in business hours) and the fire times of a calendar over a span, all evaluated on the wall clock
by :mod:`chaosrunner.calendar.cron`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from chaosrunner.calendar.cron import CronSchedule, WallClockCronTrigger, crontab_trigger
from chaosrunner.calendar.model import Calendar
from chaosrunner.calendar.parts import WEEKDAYS, Entry


def trigger_for(calendar: Calendar, entry: Entry, *, start: datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a fixed-time entry (``at``, ``cron``, ``every``). Monkey entries
    get a daily planning trigger at the start of business hours (the kills are then planned)."""
    zone = calendar.zone
    if entry.kind == "at":
        assert entry.at is not None and entry.days is not None
        return WallClockCronTrigger(CronSchedule.weekly(entry.days, entry.at.hour, entry.at.minute), zone)
    if entry.kind == "cron":
        assert entry.cron is not None
        return crontab_trigger(entry.cron, zone)
    if entry.kind == "every":
        assert entry.every is not None
        if start is not None:  # first fire on a whole second: readable fire times and ledger keys
            start = start.replace(microsecond=0) + timedelta(seconds=1)
        return IntervalTrigger(seconds=entry.every, start_date=start, timezone=zone)
    days = entry.days or calendar.work_days
    bh = calendar.business_hours.start
    return WallClockCronTrigger(CronSchedule.weekly([d for d in WEEKDAYS if d in days], bh.hour, bh.minute), zone)


@dataclass(frozen=True)
class Fire:
    entry: str
    at: datetime  # tz-aware, in the calendar's zone
    ok: bool  # would the window check let it run?
    detail: str


def iter_fires(calendar: Calendar, entry: Entry, start: datetime, end: datetime,
               trigger: BaseTrigger | None = None) -> Iterator[datetime]:
    """Trigger fire times in ``[start, end)`` (tz-aware), before any window check."""
    trig = trigger or trigger_for(calendar, entry, start=start)
    prev: datetime | None = None
    now = start
    while True:
        nxt = trig.get_next_fire_time(prev, now)
        if nxt is None or nxt >= end:
            return
        yield nxt
        prev = nxt
        now = nxt + timedelta(microseconds=1)


def next_fires(calendar: Calendar, start: datetime, end: datetime, *,
               entries: list[Entry] | None = None) -> list[Fire]:
    """Every fire of every enabled entry in ``[start, end)`` with the window verdict, sorted by time."""
    out: list[Fire] = []
    for e in entries if entries is not None else calendar.entries:
        if not e.enabled:
            continue
        for at in iter_fires(calendar, e, start, end):
            chk = calendar.check(e, at)
            out.append(Fire(e.name, at.astimezone(calendar.zone), chk.ok, chk.detail))
    out.sort(key=lambda f: (f.at, f.entry))
    return out
