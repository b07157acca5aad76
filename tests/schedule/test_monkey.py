"""Chaos Monkey mode simulated over a year of work days on a 1,000-instance inventory."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from chaosrunner.calendar.model import Calendar
from chaosrunner.core.validation import validate_model
from chaosrunner.schedule.monkey import Instance, kill_offsets, plan_day, real_seconds

ZONES = ["us-east-a", "us-east-b", "us-west-a", "us-west-b"]


def inventory(n: int = 1000) -> list[Instance]:
    """1,000 instances over four zones; every fifth is critical (never eligible)."""
    return [Instance(f"i-{i:04d}", ZONES[i % 4], {"tier": "critical" if i % 5 == 0 else "non-critical"})
            for i in range(n)]


def monkey_calendar(monkey: dict) -> Calendar:
    return validate_model(Calendar, {
        "timezone": "America/Los_Angeles",
        "business_hours": {"start": "09:00", "end": "17:00"},
        "avoid_peak": [{"start": "12:00", "end": "13:30"}],
        "holidays": {"country": "US", "subdivision": "CA"},
        "blackouts": [{"from": "2026-12-21", "to": "2026-12-31", "reason": "year end"}],
        "restricted": [{"name": "release", "days": ["wed"], "start": "15:00", "end": "16:00"}],
        "entries": [{"name": "monkey", "experiment": "x.yaml", "monkey": monkey}],
    }, "monkey.yaml")


def simulate_year(cal: Calendar, seed: int) -> tuple[list, float]:
    """All kills of 2026 and the eligible instance-hours of allowed time."""
    inst = inventory()
    rng = random.Random(seed)
    kills, instance_hours = [], 0.0
    d = date(2026, 1, 1)
    while d.year == 2026:
        plan = plan_day(cal, "monkey", d, inst, rng)
        kills += plan.kills
        instance_hours += plan.eligible * plan.allowed_hours
        d += timedelta(days=1)
    return kills, instance_hours


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_rate_per_instance_hour_is_the_configured_rate(seed: int) -> None:
    cal = monkey_calendar({"probability_per_hour": "0.1%", "min_gap": "10m", "zones": 1})
    kills, instance_hours = simulate_year(cal, seed)
    expected = 0.001 * instance_hours
    # 95 % interval of a Poisson count (the renewal process with a min gap is *less* dispersed).
    half = 1.96 * math.sqrt(expected)
    assert expected - half <= len(kills) <= expected + half, (len(kills), expected, half)
    assert len(kills) > 200  # a year of work days really was simulated (~200 eligible, 0.2 kills/h)


def test_kills_never_outside_the_window_and_min_gap_always_respected() -> None:
    cal = monkey_calendar({"probability_per_hour": "0.1%", "min_gap": "10m", "zones": 1})
    kills, _ = simulate_year(cal, seed=11)
    assert kills
    for k in kills:
        chk = cal.check("monkey", k.at)
        assert chk.ok, (k.at, chk.detail)
    times = sorted(k.at for k in kills)
    gaps = [real_seconds(a, b) for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 600


def test_only_eligible_instances_in_one_zone_per_day() -> None:
    cal = monkey_calendar({"probability_per_hour": "1%", "min_gap": "1m", "zones": 1})
    inst = {i.id: i for i in inventory()}
    rng = random.Random(5)
    zones_seen = set()
    for offset in range(30):
        plan = plan_day(cal, "monkey", date(2026, 6, 1) + timedelta(days=offset), list(inst.values()), rng)
        day_zones = {inst[k.instance].zone for k in plan.kills}
        assert len(day_zones) <= 1
        assert all(inst[k.instance].labels["tier"] == "non-critical" for k in plan.kills)
        zones_seen |= day_zones
    assert len(zones_seen) > 1  # the zone is chosen per day, not fixed forever


def test_mean_time_between_kills_mode() -> None:
    cal = monkey_calendar({"mean_time_between_kills": "2h", "min_gap": "30m"})
    kills, _ = simulate_year(cal, seed=4)
    allowed_hours = sum(monkey_calendar({"mean_time_between_kills": "2h"}).allowed_spans(date(2026, 1, 1) +
                        timedelta(days=i)) != [] for i in range(365))
    assert allowed_hours > 200  # work days in the year
    times = sorted(k.at for k in kills)
    assert min(real_seconds(a, b) for a, b in zip(times, times[1:], strict=False)) >= 1800


def test_kill_offsets_have_the_configured_mean_gap() -> None:
    rng = random.Random(9)
    total = 3600.0 * 10_000
    offs = kill_offsets(total, mean_s=3600.0, min_gap_s=600.0, rng=rng)
    assert abs(len(offs) - 10_000) < 1.96 * math.sqrt(10_000)
    assert min(b - a for a, b in zip(offs, offs[1:], strict=False)) >= 600.0


def test_no_kills_on_holidays_weekends_or_blackouts() -> None:
    cal = monkey_calendar({"probability_per_hour": "5%"})
    inst = inventory()
    for d in (date(2026, 11, 26), date(2026, 6, 6), date(2026, 12, 22)):  # Thanksgiving, Saturday, blackout
        assert plan_day(cal, "monkey", d, inst).kills == []


def test_min_gap_longer_than_the_mean_gap_is_reported_and_still_respected() -> None:
    cal = monkey_calendar({"probability_per_hour": "5%", "min_gap": "10m"})  # ~200 eligible → mean gap 6 min
    plan = plan_day(cal, "monkey", date(2026, 6, 2), inventory(), random.Random(1))
    assert "below the configured rate" in plan.note
    times = [k.at for k in plan.kills]
    assert times and min(real_seconds(a, b) for a, b in zip(times, times[1:], strict=False)) >= 600
