"""The building blocks of a calendar file: clock times and day ranges, holidays, blackouts, the error-budget
freeze, restricted windows, Chaos Monkey settings, defaults and entries — each a pydantic model that
validates its own part of the file (see :mod:`chaosrunner.calendar.model` for the calendar as a whole).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from chaosrunner.calendar.cron import crontab_trigger
from chaosrunner.core.units import Duration, Ratio
from chaosrunner.core.validation import Model

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


ALL_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


WORK_WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")


END_OF_DAY = time(23, 59, 59, 999999)


def parse_clock_time(value: Any) -> time:
    """``"09:00"`` → ``time(9, 0)``; ``"24:00"`` means end of day. YAML may hand us minutes as int."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        # YAML 1.1 reads an unquoted 09:30 as sexagesimal 570 (minutes).
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError("must be a time of day such as '09:00' (24-hour, local to the calendar's zone)")
    hh, mm = (int(x) for x in value.strip().split(":"))
    if (hh, mm) == (24, 0):
        return END_OF_DAY
    if hh > 23 or mm > 59:
        raise ValueError("must be a time of day between 00:00 and 24:00")
    return time(hh, mm)


class StrictPart(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TimeRange(StrictPart):
    """A daily window ``[start, end)`` in local wall-clock time; ``end`` may be ``24:00``."""

    start: time
    end: time

    _parse = field_validator("start", "end", mode="before")(parse_clock_time)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError("end must be after start (windows do not cross midnight)")
        return self

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end or (self.end == END_OF_DAY and t >= self.start)

    def hours(self) -> float:
        end = 24 * 3600 if self.end == END_OF_DAY else self.end.hour * 3600 + self.end.minute * 60
        return (end - (self.start.hour * 3600 + self.start.minute * 60)) / 3600.0


class HolidaySpec(StrictPart):
    """Public holidays from the ``holidays`` library: ISO country code, optional subdivision."""

    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> HolidaySpec:
        import holidays

        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, years=2000)
        except NotImplementedError as e:
            raise ValueError(f"unknown country or subdivision for the holidays library: {e}") from None
        return self


class Blackout(StrictPart):
    """No runs on ``date``, or from ``from`` to ``to`` (dates inclusive, or local datetimes)."""

    date_: date | None = Field(default=None, alias="date")
    from_: date | datetime | None = Field(default=None, alias="from")
    to: date | datetime | None = None
    reason: str = "blackout"

    @model_validator(mode="after")
    def _shape(self) -> Blackout:
        if (self.date_ is None) == (self.from_ is None):
            raise ValueError("give either 'date' or 'from' + 'to'")
        if self.from_ is not None:
            if self.to is None:
                raise ValueError("'from' needs 'to'")
            if self._start() >= self._end():
                raise ValueError("'to' must be after 'from'")
        return self

    def _start(self) -> datetime:
        d = self.date_ if self.date_ is not None else self.from_
        if isinstance(d, datetime):
            return d.replace(tzinfo=None)
        assert d is not None
        return datetime.combine(d, time(0))

    def _end(self) -> datetime:
        d = self.date_ if self.date_ is not None else self.to
        if isinstance(d, datetime):
            return d.replace(tzinfo=None)
        assert d is not None
        return datetime.combine(d + timedelta(days=1), time(0))

    def covers(self, local_naive: datetime) -> bool:
        return self._start() <= local_naive < self._end()


class Freeze(StrictPart):
    """Freeze the calendar while the remaining error budget (ratio of the period's budget) is low."""

    error_budget_below: Ratio
    slos: list[str] = Field(default_factory=list)


class Restricted(StrictPart):
    """A window in which nothing may run; a run in flight when it begins is halted (abort + rollback)."""

    name: str
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    start: time
    end: time
    reason: str = ""

    _parse = field_validator("start", "end", mode="before")(parse_clock_time)

    @model_validator(mode="after")
    def _ordered(self) -> Restricted:
        if self.end <= self.start:
            raise ValueError("end must be after start (windows do not cross midnight)")
        return self

    def active(self, local: datetime) -> bool:
        if WEEKDAYS[local.weekday()] not in self.days:
            return False
        t = local.time()
        return self.start <= t < self.end or (self.end == END_OF_DAY and t >= self.start)


class Monkey(StrictPart):
    """Chaos Monkey mode: kills at random instants inside the window instead of a fixed time.

    Rate: ``probability_per_hour`` (per eligible instance per window hour; the seed practice is
    0.1 %) or ``mean_time_between_kills``. ``min_gap`` is the least time between two kills.
    Eligibility: instances whose labels equal ``eligible`` (e.g. ``tier: non-critical``), limited
    to ``zones`` zone(s) per day (one AZ at most, by default).
    """

    probability_per_hour: Ratio | None = None
    mean_time_between_kills: Duration | None = None
    min_gap: Duration = 0.0
    eligible: dict[str, str] = Field(default_factory=lambda: {"tier": "non-critical"})
    zones: int = Field(default=1, ge=1)
    seed: int | None = None

    @model_validator(mode="after")
    def _rate(self) -> Monkey:
        if (self.probability_per_hour is None) == (self.mean_time_between_kills is None):
            raise ValueError("give exactly one of probability_per_hour or mean_time_between_kills")
        if self.probability_per_hour == 0:
            raise ValueError("probability_per_hour must be above 0")
        if self.mean_time_between_kills is not None and self.min_gap >= self.mean_time_between_kills:
            raise ValueError("min_gap must be shorter than mean_time_between_kills")
        if not self.eligible:
            raise ValueError("eligible must select something (an empty selector matches every instance)")
        return self


class Defaults(StrictPart):
    """Per-run policy. ``misfire``: what to do with a fire missed while no daemon was running."""

    timeout: Duration = 1800.0  # hard timeout of one run, seconds
    term_grace: Duration = 60.0  # SIGTERM → SIGKILL grace, so rollbacks can run
    misfire: Literal["run_once", "skip"] = "run_once"
    misfire_grace: Duration = 900.0  # a missed fire younger than this runs once (run_once)


class Entry(StrictPart):
    """One calendar line: when (day(s)+at, cron, every, or monkey) → experiment + overrides."""

    name: str
    experiment: str
    description: str = ""
    days: list[Weekday] | None = None
    day: Weekday | None = None
    at: time | None = None
    cron: str | None = None
    every: Duration | None = None
    monkey: Monkey | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)
    timeout: Duration | None = None
    misfire: Literal["run_once", "skip"] | None = None
    enabled: bool = True

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, v: Any) -> time | None:
        return None if v is None else parse_clock_time(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("must be lower-case letters, digits and '-', at most 52 characters")
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v

        try:
            crontab_trigger(v, "UTC")
        except ValueError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("configuration")
    @classmethod
    def _vars(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
                raise ValueError(f"{key!r}: configuration keys are identifiers")
            if isinstance(value, dict | list):
                raise ValueError(f"{key}: overrides are scalars (passed as --var {key}=VALUE)")
        return v

    @model_validator(mode="after")
    def _when(self) -> Entry:
        if self.day is not None:
            if self.days is not None:
                raise ValueError("give 'day' or 'days', not both")
            self.days = [self.day]
            self.day = None
        kinds = [k for k, v in (("at", self.at), ("cron", self.cron), ("every", self.every),
                                ("monkey", self.monkey)) if v is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'at' (with day/days), 'cron', 'every' or 'monkey'")
        if self.cron is not None and self.days is not None:
            raise ValueError("a cron entry carries its weekdays in the expression; drop 'day'/'days'")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be at least 1s")
        return self

    @property
    def kind(self) -> str:
        return "at" if self.at else "cron" if self.cron else "every" if self.every else "monkey"
