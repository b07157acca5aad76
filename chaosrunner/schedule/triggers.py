"""When an entry fires: APScheduler triggers built from calendar entries, made DST-safe.

APScheduler 3's ``CronTrigger`` fires a wall-clock time that occurs twice on the autumn DST change
(01:30 EDT and 01:30 EST) *twice*, and returns a non-existent local time on the spring change
(02:30 on the day clocks jump from 02:00 to 03:00). :class:`WallClockCronTrigger` fixes both:

* autumn (repeated hour): fires once, at the first occurrence (``fold=0``);
* spring (skipped hour): fires at the same elapsed instant the wall clock would have shown, i.e.
  02:30 → 03:30 new time (the run is not lost; the window check still applies).

The same triggers drive the daemon, ``schedule next`` and the benchmark, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from chaosrunner.schedule.calendar import WEEKDAYS, Calendar, Entry

CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_dow(field: str) -> str:
    """A standard crontab weekday field (0 or 7 = Sunday, names allowed) → APScheduler's, which
    numbers Monday 0: APScheduler 3's ``CronTrigger.from_crontab`` passes the numbers through
    unchanged, so ``1`` would silently mean Tuesday. We expand to day names instead."""
    if field == "*":
        return "*"
    days: set[int] = set()
    names = {n: i for i, n in enumerate(CRON_DAY_NAMES)}

    def num(tok: str) -> int:
        tok = tok.strip().lower()[:3]
        if tok in names:
            return names[tok]
        v = int(tok)
        if not 0 <= v <= 7:
            raise ValueError(f"weekday {v} is out of range 0-7")
        return v % 7 if v != 7 else 7

    for part in field.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step < 1:
            raise ValueError("step must be at least 1")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = num(a), num(b)
            if lo > hi:
                raise ValueError(f"weekday range {rng} runs backwards")
        else:
            lo = hi = num(rng)
            if step_s:
                hi = 6
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(CRON_DAY_NAMES[d] for d in sorted(days))


def crontab_trigger(expr: str, zone: tzinfo | str) -> CronTrigger:
    """A ``CronTrigger`` from a standard 5-field crontab line (``0 10 * * 1`` = Mondays 10:00)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("must be a 5-field crontab expression (minute hour day month weekday)")
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_dow(dow),
                           timezone=zone)
    except ValueError as e:
        raise ValueError(f"invalid crontab expression: {e}") from None


class WallClockCronTrigger(BaseTrigger):
    """A cron trigger in a zone that fires each wall-clock time at most once (see module doc)."""

    def __init__(self, cron: CronTrigger) -> None:
        self.cron = cron

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        zone = self.cron.timezone
        probe = now
        if previous_fire_time is not None and previous_fire_time >= probe:
            probe = previous_fire_time + timedelta(microseconds=1)
        for _ in range(8):
            nxt = self.cron.get_next_fire_time(None, probe)
            if nxt is None:
                return None
            # Normalise: a non-existent wall time becomes the real instant it denotes.
            real = nxt.astimezone(UTC).astimezone(zone)
            first = real.replace(fold=0)
            if real.fold == 1 and first.utcoffset() != real.utcoffset():
                # The second occurrence of a repeated wall time: it already fired at fold=0. Probe
                # again from the first minute after the repeated hour (APScheduler would otherwise
                # keep answering the same fold=1 time).
                probe = real
                while probe.fold == 1 and probe.replace(fold=0).utcoffset() != probe.utcoffset():
                    probe = (probe.astimezone(UTC) + timedelta(minutes=1)).astimezone(zone)
                continue
            if previous_fire_time is not None and real <= previous_fire_time:
                probe = real + timedelta(seconds=1)
                continue
            return real
        return None

    def __getstate__(self) -> dict[str, object]:
        return {"version": 1, "cron": self.cron}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.cron = state["cron"]  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"wallclock-{self.cron}"


def trigger_for(calendar: Calendar, entry: Entry, *, start: datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a fixed-time entry (``at``, ``cron``, ``every``). Monkey entries
    get a daily planning trigger at the start of business hours (the kills are then planned)."""
    zone = calendar.zone
    if entry.kind == "at":
        assert entry.at is not None and entry.days is not None
        dow = ",".join(entry.days)
        return WallClockCronTrigger(CronTrigger(day_of_week=dow, hour=entry.at.hour, minute=entry.at.minute,
                                                second=0, timezone=zone))
    if entry.kind == "cron":
        assert entry.cron is not None
        return WallClockCronTrigger(crontab_trigger(entry.cron, zone))
    if entry.kind == "every":
        assert entry.every is not None
        return IntervalTrigger(seconds=entry.every, start_date=start, timezone=zone)
    days = entry.days or calendar.work_days
    bh = calendar.business_hours.start
    return WallClockCronTrigger(CronTrigger(day_of_week=",".join(d for d in WEEKDAYS if d in days),
                                            hour=bh.hour, minute=bh.minute, second=0, timezone=zone))


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


def as_zone(dt: datetime, zone: tzinfo) -> datetime:
    return dt.astimezone(zone)
