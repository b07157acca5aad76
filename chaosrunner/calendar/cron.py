"""When an entry fires: crontab schedules evaluated on the wall clock, DST-safe, for APScheduler.

Why not APScheduler 3's ``CronTrigger``? Measured here, it (a) fires a wall-clock time that occurs
twice on the autumn DST change *twice* (01:30 EDT and 01:30 EST), (b) returns a non-existent local
time on the spring change, (c) reads crontab weekday numbers Monday-first (``from_crontab("0 10 * *
1")`` fires on Tuesdays), (d) ANDs day-of-month with day-of-week where cron(5) ORs them, and (e) takes
about a millisecond per weekly fire. :class:`CronSchedule` is a small crontab(5) evaluator with
Vixie semantics, and :class:`WallClockCronTrigger` exposes it to APScheduler:

* autumn (repeated hour): fires once, at the first occurrence (``fold=0``);
* spring (skipped hour): fires at the instant the wall clock would have shown, i.e. 02:30 → 03:30
  new time (the run is not lost; the window check still applies);
* day-of-month and day-of-week both restricted (neither starts with ``*``): either may match.

The same triggers drive the daemon, ``schedule next``, the export validation and the benchmark."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


SEARCH_DAYS = 366 * 8  # "0 0 29 2 1" style schedules can be years apart


def _expand(field: str, lo: int, hi: int, names: dict[str, int] | None = None, what: str = "value") -> set[int]:
    """One crontab field → the set of values (``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n``, lists)."""
    out: set[int] = set()

    def num(tok: str) -> int:
        t = tok.strip().lower()
        if names and t[:3] in names and t.isalpha():
            return names[t[:3]]
        if not t.isdigit():
            raise ValueError(f"{what} {tok!r} is not a number")
        v = int(t)
        if not lo <= v <= hi:
            raise ValueError(f"{what} {v} is out of range {lo}-{hi}")
        return v

    for part in field.split(","):
        rng, slash, step_s = part.partition("/")
        if slash and not step_s.isdigit():
            raise ValueError(f"bad step in {part!r}")
        step = int(step_s) if slash else 1
        if step < 1:
            raise ValueError(f"step must be at least 1 in {part!r}")
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, y = rng.split("-", 1)
            a, b = num(x), num(y)
            if a > b:
                raise ValueError(f"{what} range {rng} runs backwards")
        else:
            a = num(rng)
            b = hi if slash else a
        out.update(range(a, b + 1, step))
    if not out:
        raise ValueError(f"empty {what} field")
    return out


@dataclass(frozen=True)
class CronSchedule:
    """A parsed 5-field crontab(5) expression (minute hour day-of-month month day-of-week)."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]  # 0 = Sunday
    dom_star: bool
    dow_star: bool

    @classmethod
    def parse(cls, expr: str) -> CronSchedule:
        fields = expr.split()
        if len(fields) != 5:
            raise ValueError("must be a 5-field crontab expression (minute hour day month weekday)")
        m, h, dom, mon, dow = fields
        try:
            dows = {d % 7 for d in _expand(dow, 0, 7, {n: i for i, n in enumerate(CRON_DAY_NAMES)}, "weekday")}
            return cls(expr, tuple(sorted(_expand(m, 0, 59, what="minute"))),
                       tuple(sorted(_expand(h, 0, 23, what="hour"))), frozenset(_expand(dom, 1, 31, what="day")),
                       frozenset(_expand(mon, 1, 12, {n: i + 1 for i, n in enumerate(MONTH_NAMES)}, "month")),
                       frozenset(dows), dom.startswith("*"), dow.startswith("*"))
        except ValueError as e:
            raise ValueError(f"invalid crontab expression: {e}") from None

    @classmethod
    def weekly(cls, days: Sequence[str], hour: int, minute: int) -> CronSchedule:
        dows = ",".join(str(CRON_DAY_NAMES.index(d)) for d in days)
        return cls.parse(f"{minute} {hour} * * {dows}")

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom_ok = d.day in self.doms
        dow_ok = d.isoweekday() % 7 in self.dows
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, now: datetime, zone: tzinfo, previous: datetime | None = None) -> datetime | None:
        """The first fire at or after ``now`` (and after ``previous``), tz-aware in ``zone``."""
        floor = now if previous is None or previous < now else previous + timedelta(microseconds=1)
        local = floor.astimezone(zone)
        d = local.date()
        for i in range(SEARCH_DAYS):
            if self.day_matches(d):
                # On the first day, start two hours early: a DST gap moves wall times forward.
                hours = self.hours[bisect.bisect_left(self.hours, local.hour - 2):] if i == 0 else self.hours
                for h in hours:
                    for m in self.minutes:
                        t = datetime(d.year, d.month, d.day, h, m, tzinfo=zone).astimezone(UTC).astimezone(zone)
                        if t >= floor:
                            return t
            d += timedelta(days=1)
        return None


def crontab_trigger(expr: str, zone: tzinfo | str) -> WallClockCronTrigger:
    """A DST-safe APScheduler trigger from a standard 5-field crontab line (``0 10 * * 1`` = Mondays)."""
    return WallClockCronTrigger(CronSchedule.parse(expr), zone)


class WallClockCronTrigger(BaseTrigger):
    """APScheduler trigger over a :class:`CronSchedule` in an IANA zone (see module doc)."""

    def __init__(self, schedule: CronSchedule, zone: tzinfo | str) -> None:
        self.schedule = schedule
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        return self.schedule.next_after(now, self.zone, previous_fire_time)

    def __getstate__(self) -> dict[str, object]:
        return {"version": 2, "expr": self.schedule.expr, "zone": str(self.zone)}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.schedule = CronSchedule.parse(str(state["expr"]))
        self.zone = ZoneInfo(str(state["zone"]))

    def __str__(self) -> str:
        return f"cron[{self.schedule.expr} {self.zone}]"
