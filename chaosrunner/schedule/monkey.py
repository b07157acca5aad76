"""Chaos Monkey mode: plan the day's kills at random instants inside the calendar's window.

The kill times form a *stationary renewal process* on the day's allowed time (business hours minus
peak, restricted windows and blackouts, glued end to end):

* mean gap ``mu`` = 1 / (probability_per_hour × eligible instances) hours, or
  ``mean_time_between_kills``;
* each gap = ``min_gap`` + Exponential(mean ``mu - min_gap``) — so no two kills are closer than
  ``min_gap`` and the long-run rate is exactly 1/mu (a Poisson process thinned by a dead time would
  fall short of the configured rate);
* the first kill of the day is drawn from the equilibrium (forward-recurrence) distribution, so a
  fresh start each morning does not bias the daily count.

Gaps are measured in allowed time, so wall-clock gaps are never shorter. When ``min_gap`` is not
below ``mu`` (a small inventory), gaps are exactly ``min_gap``: the achieved rate is then lower than
configured, and :class:`KillPlan` says so. Pure: the caller passes the eligible instances and an RNG.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from chaosrunner.calendar.model import Calendar
from chaosrunner.calendar.parts import WEEKDAYS, Monkey


@dataclass(frozen=True)
class Instance:
    """What the monkey needs to know about an instance (a subset of inventory.Target)."""

    id: str
    zone: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Kill:
    at: datetime  # tz-aware, calendar zone
    instance: str


@dataclass
class KillPlan:
    day: date
    zone: str | None  # the one zone chosen for the day (blast radius: one AZ)
    eligible: int
    allowed_hours: float
    mean_gap_s: float | None
    kills: list[Kill]
    note: str = ""


def eligible_instances(monkey: Monkey, instances: Sequence[Instance], rng: random.Random) -> tuple[
        list[Instance], str | None]:
    """Instances matching ``monkey.eligible`` labels, restricted to ``monkey.zones`` zone(s) chosen
    at random for the day. Returns (eligible, zones label)."""
    matching = [i for i in instances if all(i.labels.get(k) == v for k, v in monkey.eligible.items())]
    zones = sorted({i.zone for i in matching})
    if not zones:
        return [], None
    chosen = sorted(rng.sample(zones, min(monkey.zones, len(zones))))
    return [i for i in matching if i.zone in chosen], ",".join(chosen)


def mean_gap_seconds(monkey: Monkey, eligible: int) -> float | None:
    """Mean seconds between kills; None when nothing is eligible."""
    if monkey.mean_time_between_kills is not None:
        return monkey.mean_time_between_kills
    if eligible <= 0:
        return None
    assert monkey.probability_per_hour is not None
    return 3600.0 / (monkey.probability_per_hour * eligible)


def day_rng(seed: int | None, entry: str, day: date) -> random.Random:
    """A per-(entry, day) RNG: reproducible when the calendar gives a seed, random otherwise."""
    if seed is None:
        return random.Random()
    digest = hashlib.sha256(f"{seed}|{entry}|{day.isoformat()}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def kill_offsets(total_s: float, mean_s: float, min_gap_s: float, rng: random.Random) -> list[float]:
    """Kill instants as seconds of allowed time in ``[0, total_s)`` (see module doc)."""
    out: list[float] = []
    if total_s <= 0 or mean_s <= 0:
        return out
    theta = max(mean_s - min_gap_s, 0.0)
    gap_mean = min_gap_s + theta  # == max(mean_s, min_gap_s)

    def gap() -> float:
        return min_gap_s + (rng.expovariate(1.0 / theta) if theta > 0 else 0.0)

    # Equilibrium first point: P(X <= x) = (1/mean) ∫0^x P(G > u) du.
    if rng.random() < min_gap_s / gap_mean:
        t = rng.uniform(0.0, min_gap_s)
    else:
        t = min_gap_s + (rng.expovariate(1.0 / theta) if theta > 0 else 0.0)
    while t < total_s:
        out.append(t)
        t += gap()
    return out


def plan_day(calendar: Calendar, entry_name: str, day: date, instances: Sequence[Instance],
             rng: random.Random | None = None) -> KillPlan:
    """The kills of one day for a monkey entry (empty on non-work days, holidays, blackouts)."""
    entry = calendar.entry(entry_name)
    if entry.monkey is None:
        raise ValueError(f"entry {entry_name} is not a monkey entry")
    monkey = entry.monkey
    rng = rng or day_rng(monkey.seed, entry_name, day)
    if entry.days is not None and WEEKDAYS[day.weekday()] not in entry.days:
        spans: list[tuple[datetime, datetime]] = []
    else:
        spans = calendar.allowed_spans(day)
    allowed_s = sum(real_seconds(s, e) for s, e in spans)
    eligible, zone = eligible_instances(monkey, instances, rng)
    mean = mean_gap_seconds(monkey, len(eligible))
    plan = KillPlan(day, zone, len(eligible), allowed_s / 3600.0, mean, [])
    if not spans or not eligible or mean is None:
        plan.note = "no allowed time" if not spans else "no eligible instance"
        return plan
    if monkey.min_gap >= mean:
        plan.note = (f"min_gap {monkey.min_gap:.0f}s >= mean gap {mean:.0f}s: kills every min_gap, "
                     "below the configured rate")
    for off in kill_offsets(allowed_s, mean, monkey.min_gap, rng):
        plan.kills.append(Kill(_at_offset(spans, off), rng.choice(eligible).id))
    return plan


def real_seconds(start: datetime, end: datetime) -> float:
    """Elapsed seconds between two aware datetimes. Python subtracts *wall* times when both share a
    tzinfo (a DST day would count 24 h); going through UTC counts real time."""
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()


def _at_offset(spans: Sequence[tuple[datetime, datetime]], offset_s: float) -> datetime:
    """The wall-clock instant ``offset_s`` seconds into the glued allowed spans, whole seconds."""
    left = offset_s
    for s, e in spans:
        length = real_seconds(s, e)
        if left < length:
            at = s.astimezone(UTC) + timedelta(seconds=left)
            return at.replace(microsecond=0).astimezone(s.tzinfo)
        left -= length
    raise ValueError("offset beyond the allowed spans")
