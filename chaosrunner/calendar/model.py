"""The experiment calendar as a whole (its parts are in :mod:`chaosrunner.calendar.parts`), loading it, and
the pure "may this entry run now?" logic.

Everything here is pure (no I/O beyond loading the file and the ``holidays`` tables): it is handed a
time and answers, so it is tested at any instant - DST transitions, holidays, blackouts - without
sleeping. The daemon (``daemon.py``), ``schedule next`` and the runner's preflight all call
:func:`window_verdict` / :meth:`Calendar.check`, so there is one place that decides.

Times in the file are *local wall-clock* times in the calendar's IANA zone (``09:00`` is nine in
the morning in ``America/Los_Angeles`` whether PST or PDT applies). Windows never cross midnight.
See ``docs/calendar.md`` for the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from chaosrunner.calendar.parts import (
    END_OF_DAY,
    WEEKDAYS,
    WORK_WEEK,
    Blackout,
    Defaults,
    Entry,
    Freeze,
    HolidaySpec,
    Restricted,
    StrictPart,
    TimeRange,
    Weekday,
)
from chaosrunner.core.validation import InvalidInput, load_document, validate_model


class Calendar(StrictPart):
    """A validated calendar. ``path`` (private) is the file it came from: experiments resolve from it."""

    version: Literal[1] = 1
    name: str = "calendar"
    timezone: str
    work_days: list[Weekday] = Field(default_factory=lambda: list(WORK_WEEK))
    business_hours: TimeRange = Field(default_factory=lambda: TimeRange(start=time(9), end=time(17)))
    avoid_peak: list[TimeRange] = Field(default_factory=list)
    holidays: HolidaySpec | None = None
    blackouts: list[Blackout] = Field(default_factory=list)
    freeze: Freeze | None = None
    restricted: list[Restricted] = Field(default_factory=list)
    defaults: Defaults = Field(default_factory=Defaults)
    entries: list[Entry] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. 'Europe/Berlin')") from None
        return v

    @field_validator("work_days")
    @classmethod
    def _work_days(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one work day")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Calendar:
        seen: set[str] = set()
        for e in self.entries:
            if e.name in seen:
                raise ValueError(f"entry name {e.name!r} is used twice")
            seen.add(e.name)
        return self

    # --- accessors -------------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def path(self) -> Path | None:
        return self._path

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def experiment_path(self, entry: Entry) -> Path:
        """The entry's experiment file, relative to the calendar's directory."""
        p = Path(entry.experiment)
        if not p.is_absolute() and self._path is not None:
            p = self._path.parent / p
        return p.resolve()

    def entry_timeout(self, entry: Entry) -> float:
        return entry.timeout if entry.timeout is not None else self.defaults.timeout

    def entry_misfire(self, entry: Entry) -> str:
        return entry.misfire or self.defaults.misfire

    def fingerprint(self, entry: Entry) -> str:
        """Changes when anything that decides *when* the entry fires changes (the daemon re-adds it)."""
        return f"{self.timezone}|{entry.kind}|{entry.days}|{entry.at}|{entry.cron}|{entry.every}"

    # --- the decision ------------------------------------------------------------------------------
    def holiday_name(self, d: date) -> str | None:
        if self.holidays is None:
            return None
        return _holiday_table(self.holidays.country, self.holidays.subdivision, d.year).get(d)

    def restricted_at(self, now: datetime) -> Restricted | None:
        """The restricted window in force at ``now`` (tz-aware), if any."""
        local = now.astimezone(self.zone)
        for r in self.restricted:
            if r.active(local):
                return r
        return None

    def check(self, entry: Entry | str, now: datetime, *,
              budget_remaining: float | None = None) -> WindowCheck:
        """May ``entry`` start at ``now``? Checks, in order: enabled, work day (calendar ∩ entry days),
        public holiday, blackout, business hours, peak hours, restricted windows, and - only when a
        remaining-budget ratio is supplied - the error-budget freeze. Pure; ``now`` must be tz-aware."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if isinstance(entry, str):
            try:
                entry = self.entry(entry)
            except KeyError:
                return WindowCheck(False, "unknown-entry", f"no entry named {entry!r} in the calendar")
        local = now.astimezone(self.zone)
        stamp = _Stamp(local, self.timezone)
        if not entry.enabled:
            return WindowCheck(False, "disabled", f"entry {entry.name} is disabled")
        day = WEEKDAYS[local.weekday()]
        if day not in self.work_days:
            return WindowCheck(False, "not-work-day", f"{stamp}: {day} is not a work day")
        if entry.days is not None and day not in entry.days:
            days = ", ".join(entry.days)
            return WindowCheck(False, "not-entry-day", f"{stamp}: entry {entry.name} runs on {days}")
        if (h := self.holiday_name(local.date())) is not None:
            return WindowCheck(False, "holiday", f"{stamp}: public holiday ({h})")
        naive = local.replace(tzinfo=None)
        for b in self.blackouts:
            if b.covers(naive):
                return WindowCheck(False, "blackout", f"{stamp}: blackout ({b.reason})")
        bh = self.business_hours
        if not bh.contains(local.time()):
            return WindowCheck(False, "outside-hours",
                               f"{stamp}: outside business hours {bh.start:%H:%M}-{hhmm(bh.end)}")
        for p in self.avoid_peak:
            if p.contains(local.time()):
                return WindowCheck(False, "peak", f"{stamp}: peak hours {p.start:%H:%M}-{hhmm(p.end)}")
        if (r := self.restricted_at(now)) is not None:
            why = r.reason or "no runs"
            return WindowCheck(False, "restricted", f"{stamp}: restricted window {r.name} ({why})")
        if self.freeze is not None and budget_remaining is not None:
            if budget_remaining < self.freeze.error_budget_below:
                return WindowCheck(False, "freeze", f"error budget freeze: {budget_remaining:.1%} remaining, "
                                   f"below {self.freeze.error_budget_below:.1%}")
        return WindowCheck(True, "ok", f"{stamp}: inside the window of {entry.name}")

    def allowed_spans(self, d: date) -> list[tuple[datetime, datetime]]:
        """The local-time spans of ``d`` in which runs may start (work day, not holiday, business
        hours minus peak minus restricted minus blackouts), as tz-aware datetimes. Used by the monkey
        planner and ``schedule show``; exact to the minute."""
        day = WEEKDAYS[d.weekday()]
        if day not in self.work_days or self.holiday_name(d) is not None:
            return []
        zone = self.zone
        cuts: list[tuple[datetime, datetime]] = []
        bh = self.business_hours
        spans = [(_wall(d, bh.start), _wall(d, bh.end))]
        restricted = [TimeRange(start=r.start, end=r.end) for r in self.restricted if day in r.days]
        for p in [*self.avoid_peak, *restricted]:
            cuts.append((_wall(d, p.start), _wall(d, p.end)))
        for b in self.blackouts:
            cuts.append((b._start(), b._end()))
        for cs, ce in cuts:
            out = []
            for s, e in spans:
                if ce <= s or cs >= e:
                    out.append((s, e))
                    continue
                if s < cs:
                    out.append((s, cs))
                if ce < e:
                    out.append((ce, e))
            spans = out
        result = []
        for s, e in spans:
            # Wall times inside a DST gap do not exist: normalise through UTC.
            start = s.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
            end = e.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
            if end > start:
                result.append((start, end))
        return result


class _Stamp:
    """Formats the local time only when a message is built (checks run ~50k times a year per 1k entries)."""

    __slots__ = ("local", "zone")

    def __init__(self, local: datetime, zone: str) -> None:
        self.local, self.zone = local, zone

    def __format__(self, spec: str) -> str:
        return f"{self.local:%a %Y-%m-%d %H:%M} {self.zone}"


@dataclass(frozen=True)
class WindowCheck:
    ok: bool
    code: str  # ok | unknown-entry | disabled | not-work-day | not-entry-day | holiday | blackout | ...
    detail: str


def _wall(d: date, t: time) -> datetime:
    """Naive local datetime of ``t`` on ``d``; 24:00 is the next midnight."""
    if t == END_OF_DAY:
        return datetime.combine(d + timedelta(days=1), time(0))
    return datetime.combine(d, t)


def hhmm(t: time) -> str:
    return "24:00" if t == END_OF_DAY else f"{t:%H:%M}"


@lru_cache(maxsize=256)
def _holiday_table(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    import holidays

    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year).items())


def load_calendar(path: str | Path, *, check_files: bool = True) -> Calendar:
    """Load and validate a calendar file; ``InvalidInput`` names the file and key of every problem.
    With ``check_files``, every entry's experiment file must exist."""
    p = Path(path)
    data = load_document(p)
    if not isinstance(data, dict):
        raise InvalidInput(p, [("", "a calendar is a mapping (timezone, work_days, entries, ...)")])
    cal = validate_model(Calendar, data, p)
    cal._path = p.absolute()
    if check_files:
        problems = []
        for i, e in enumerate(cal.entries):
            exp = cal.experiment_path(e)
            if not exp.is_file():
                problems.append((f"entries[{i}].experiment", f"no such file: {exp}"))
        if problems:
            raise InvalidInput(p, problems)
    return cal


def window_verdict(calendar: Calendar, entry_name: str, now: datetime) -> tuple[bool, str]:
    """The preflight's calendar check: may ``entry_name`` start at ``now``? → ``(ok, detail)``.

    Does not read the error budget (the preflight has its own budget gate); the daemon checks the
    freeze separately through :meth:`Calendar.check` with ``budget_remaining``."""
    c = calendar.check(entry_name, now)
    return c.ok, c.detail
