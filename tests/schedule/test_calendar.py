"""Calendar logic at injected instants: windows, DST, holidays, blackouts, work weeks, freeze, validation."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chaosrunner.calendar.model import Calendar, load_calendar, window_verdict
from chaosrunner.calendar.triggers import iter_fires, next_fires
from chaosrunner.core.clock import FakeClock
from chaosrunner.core.validation import InvalidInput, validate_model
from chaosrunner.schedule.monkey import real_seconds

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
REPO = Path(__file__).resolve().parents[2]


def cal(**over: object) -> Calendar:
    data: dict[str, object] = {"timezone": "America/New_York",
                               "entries": [{"name": "e", "experiment": "x.yaml", "day": "tue", "at": "10:30"}]}
    data.update(over)
    return validate_model(Calendar, data, "test.yaml")


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


# --- windows --------------------------------------------------------------------------------------

def test_business_hours_start_inclusive_end_exclusive() -> None:
    c = cal(entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    assert window_verdict(c, "e", at(NY, 2026, 6, 2, 9, 0))[0]
    assert window_verdict(c, "e", at(NY, 2026, 6, 2, 16, 59))[0]
    ok, detail = window_verdict(c, "e", at(NY, 2026, 6, 2, 17, 0))
    assert not ok and "outside business hours 09:00-17:00" in detail
    assert not window_verdict(c, "e", at(NY, 2026, 6, 2, 8, 59))[0]


def test_window_is_judged_in_the_calendar_zone_not_utc() -> None:
    c = cal(timezone="America/Los_Angeles", entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    # 17:30 UTC on a Tuesday in June is 10:30 PDT: inside; 16:30 PDT is 23:30 UTC: inside too.
    assert c.check("e", datetime(2026, 6, 2, 17, 30, tzinfo=UTC)).ok
    assert c.check("e", datetime(2026, 6, 2, 23, 30, tzinfo=UTC)).ok
    # 15:00 UTC = 08:00 PDT: outside.
    assert c.check("e", datetime(2026, 6, 2, 15, 0, tzinfo=UTC)).code == "outside-hours"


def test_refuses_during_peak_hours() -> None:
    c = cal(avoid_peak=[{"start": "12:00", "end": "13:30"}],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    assert c.check("e", at(NY, 2026, 6, 2, 12, 45)).code == "peak"
    assert c.check("e", at(NY, 2026, 6, 2, 13, 30)).ok


def test_entry_day_restricts_further_than_work_days() -> None:
    c = cal()
    assert c.check("e", at(NY, 2026, 6, 2, 10, 30)).ok  # a Tuesday
    assert c.check("e", at(NY, 2026, 6, 3, 10, 30)).code == "not-entry-day"


def test_unknown_entry_and_disabled_entry_are_refused() -> None:
    c = cal(entries=[{"name": "e", "experiment": "x.yaml", "day": "tue", "at": "10:30", "enabled": False}])
    assert window_verdict(c, "nope", at(NY, 2026, 6, 2, 10, 30)) == (False, "no entry named 'nope' in the calendar")
    assert c.check("e", at(NY, 2026, 6, 2, 10, 30)).code == "disabled"


def test_restricted_window_blocks_starts_and_is_reported_for_halting() -> None:
    c = cal(restricted=[{"name": "release", "days": ["wed"], "start": "15:00", "end": "16:00", "reason": "deploys"}],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    assert c.check("e", at(NY, 2026, 6, 3, 15, 30)).code == "restricted"
    assert c.restricted_at(at(NY, 2026, 6, 3, 15, 30)).name == "release"  # type: ignore[union-attr]
    assert c.restricted_at(at(NY, 2026, 6, 3, 16, 0)) is None
    assert c.restricted_at(at(NY, 2026, 6, 2, 15, 30)) is None  # a Tuesday


def test_freeze_when_remaining_budget_below_threshold() -> None:
    c = cal(freeze={"error_budget_below": "25%"}, entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    now = at(NY, 2026, 6, 2, 10, 0)
    assert c.check("e", now, budget_remaining=0.30).ok
    chk = c.check("e", now, budget_remaining=0.10)
    assert chk.code == "freeze" and "10.0% remaining" in chk.detail


# --- non-Mon–Fri work weeks -----------------------------------------------------------------------

def test_sunday_to_thursday_work_week() -> None:
    c = cal(timezone="Asia/Jerusalem", work_days=["sun", "mon", "tue", "wed", "thu"],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "0 10 * * *"}])
    il = ZoneInfo("Asia/Jerusalem")
    assert c.check("e", at(il, 2026, 6, 7, 10, 0)).ok  # Sunday
    assert c.check("e", at(il, 2026, 6, 5, 10, 0)).code == "not-work-day"  # Friday
    runs = [f for f in next_fires(c, at(il, 2026, 6, 1), at(il, 2026, 6, 15)) if f.ok]
    assert {f.at.strftime("%a") for f in runs} == {"Sun", "Mon", "Tue", "Wed", "Thu"}
    assert len(runs) == 10


def test_six_day_week_with_saturday() -> None:
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat"],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "0 11 * * *"}])
    assert c.check("e", at(NY, 2026, 6, 6, 11, 0)).ok  # Saturday
    assert c.check("e", at(NY, 2026, 6, 7, 11, 0)).code == "not-work-day"


# --- holidays and blackouts -----------------------------------------------------------------------

def test_public_holidays_by_country_and_subdivision() -> None:
    ca = cal(holidays={"country": "US", "subdivision": "CA"})
    ny = cal(holidays={"country": "US", "subdivision": "NY"})
    chavez = at(NY, 2026, 3, 31, 10, 30)  # a Tuesday, Cesar Chavez Day in California only
    chk = ca.check("e", chavez)
    assert chk.code == "holiday" and "Cesar Chavez" in chk.detail
    assert ny.check("e", chavez).ok


def test_observed_holiday_and_thanksgiving_skip_fires() -> None:
    c = cal(holidays={"country": "US"}, entries=[{"name": "e", "experiment": "x.yaml", "cron": "0 10 * * *"}])
    assert c.check("e", at(NY, 2026, 7, 3, 10, 0)).code == "holiday"  # Independence Day (observed), a Friday
    fires = next_fires(c, at(NY, 2026, 11, 23), at(NY, 2026, 11, 28))
    assert [(f.at.day, f.ok) for f in fires] == [(23, True), (24, True), (25, True), (26, False), (27, True)]


def test_blackout_single_date_range_and_partial_day() -> None:
    c = cal(blackouts=[{"date": "2026-06-02", "reason": "launch"},
                       {"from": "2026-06-08", "to": "2026-06-10", "reason": "migration"},
                       {"from": "2026-06-16T10:00:00", "to": "2026-06-16T12:00:00", "reason": "board demo"}],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    assert c.check("e", at(NY, 2026, 6, 2, 10, 0)).detail.endswith("blackout (launch)")
    assert c.check("e", at(NY, 2026, 6, 10, 16, 59)).code == "blackout"  # 'to' date is inclusive
    assert c.check("e", at(NY, 2026, 6, 11, 9, 0)).ok
    assert c.check("e", at(NY, 2026, 6, 16, 11, 59)).code == "blackout"
    assert c.check("e", at(NY, 2026, 6, 16, 12, 0)).ok


# --- DST --------------------------------------------------------------------------------------------

def test_business_hours_follow_wall_clock_across_spring_forward() -> None:
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "0 9 * * *"}])
    fires = list(iter_fires(c, c.entry("e"), at(NY, 2026, 3, 7), at(NY, 2026, 3, 10)))
    assert [f.astimezone(UTC).hour for f in fires] == [14, 13, 13]  # 09:00 EST, then 09:00 EDT
    # 13:30 UTC is 08:30 EST on Saturday (outside) but 09:30 EDT on Sunday (inside).
    assert c.check("e", datetime(2026, 3, 7, 13, 30, tzinfo=UTC)).code == "outside-hours"
    assert c.check("e", datetime(2026, 3, 8, 13, 30, tzinfo=UTC)).ok


def test_nonexistent_wall_time_fires_once_at_the_real_instant() -> None:
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            business_hours={"start": "00:00", "end": "24:00"},
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "30 2 * * *"}])
    fires = list(iter_fires(c, c.entry("e"), at(NY, 2026, 3, 7), at(NY, 2026, 3, 10)))
    assert len(fires) == 3
    spring = fires[1]
    assert spring.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert (spring.hour, spring.minute, spring.utcoffset()) == (3, 30, timedelta(hours=-4))


def test_repeated_wall_time_fires_once_on_fall_back() -> None:
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            business_hours={"start": "00:00", "end": "24:00"},
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "*/30 1 * * *"},
                     {"name": "f", "experiment": "x.yaml", "cron": "0 2 * * *"}])
    fires = next_fires(c, at(NY, 2026, 11, 1), at(NY, 2026, 11, 2))
    assert [(f.entry, f.at.strftime("%H:%M %Z")) for f in fires] == [
        ("e", "01:00 EDT"), ("e", "01:30 EDT"), ("f", "02:00 EST")]
    # APScheduler's own CronTrigger would fire 01:00/01:30 twice (EDT and EST): ours never does.
    utc = [f.at.astimezone(UTC) for f in fires]
    assert len(set(utc)) == len(utc)


def test_fake_clock_walks_a_week_without_sleeping() -> None:
    c = cal(avoid_peak=[{"start": "12:00", "end": "13:00"}],
            entries=[{"name": "e", "experiment": "x.yaml", "cron": "* * * * *"}])
    clock = FakeClock(at(NY, 2026, 6, 1))  # Monday 00:00
    allowed_minutes = 0
    for _ in range(7 * 24 * 60):
        allowed_minutes += c.check("e", clock.now()).ok
        clock.advance(60)
    assert allowed_minutes == 5 * 7 * 60  # five days of 09:00-17:00 minus the lunch peak


def test_allowed_spans_subtract_peak_restricted_and_blackouts() -> None:
    c = cal(avoid_peak=[{"start": "12:00", "end": "13:00"}],
            restricted=[{"name": "r", "days": ["wed"], "start": "15:00", "end": "16:00"}],
            blackouts=[{"from": "2026-06-03T09:00:00", "to": "2026-06-03T10:00:00"}])
    spans = c.allowed_spans(date(2026, 6, 3))
    assert [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in spans] == [
        ("10:00", "12:00"), ("13:00", "15:00"), ("16:00", "17:00")]
    assert c.allowed_spans(date(2026, 6, 6)) == []  # Saturday


# --- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, key, problem", [
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA time zone"),
    ({"timezone": "UTC", "business_hours": {"start": "17:00", "end": "09:00"}}, "business_hours",
     "end must be after start"),
    ({"timezone": "UTC", "business_hours": {"start": "25:00", "end": "26:00"}}, "business_hours.start",
     "between 00:00 and 24:00"),
    ({"timezone": "UTC", "work_days": ["mon", "funday"]}, "work_days[1]", "Input should be"),
    ({"timezone": "UTC", "holidays": {"country": "XX"}}, "holidays", "unknown country"),
    ({"timezone": "UTC", "entries": [{"name": "e", "experiment": "x", "at": "10:00", "cron": "* * * * *"}]},
     "entries[0]", "exactly one of"),
    ({"timezone": "UTC", "entries": [{"name": "e", "experiment": "x", "cron": "61 * * * *"}]},
     "entries[0].cron", "invalid crontab"),
    ({"timezone": "UTC", "entries": [{"name": "Bad Name", "experiment": "x", "cron": "* * * * *"}]},
     "entries[0].name", "lower-case"),
    ({"timezone": "UTC", "entries": [{"name": "e", "experiment": "x", "monkey": {"min_gap": "1h"}}]},
     "entries[0].monkey", "exactly one of probability_per_hour"),
    ({"timezone": "UTC", "entries": [{"name": "e", "experiment": "x", "cron": "* * * * *"},
                                     {"name": "e", "experiment": "x", "cron": "* * * * *"}]},
     "", "used twice"),
    ({"timezone": "UTC", "blackouts": [{"from": "2026-01-02"}]}, "blackouts[0]", "'from' needs 'to'"),
    ({"timezone": "UTC", "surprise": 1}, "surprise", "Extra inputs"),
])
def test_invalid_calendars_name_file_and_key(tmp_path: Path, data: dict, key: str, problem: str) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput) as e:
        load_calendar(path, check_files=False)
    rendered = e.value.render()
    assert rendered.startswith(f"{path}: ")
    assert any(k == key and problem in m for k, m in e.value.problems), rendered


def test_missing_experiment_file_is_reported_with_its_key(write_calendar) -> None:  # noqa: ANN001
    path = write_calendar({"timezone": "UTC", "entries": [
        {"name": "e", "experiment": "nowhere.yaml", "cron": "* * * * *"}]})
    with pytest.raises(InvalidInput) as e:
        load_calendar(path)
    assert e.value.problems[0][0] == "entries[0].experiment"


def test_cli_validate_exits_2_with_file_and_key(write_calendar) -> None:  # noqa: ANN001
    path = write_calendar({"timezone": "Nowhere/Land", "entries": []})
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "validate", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{path}: timezone: unknown IANA time zone" in r.stderr


def test_weekly_calendar_is_the_pinterest_week() -> None:
    c = load_calendar(REPO / "schedules" / "weekly.yaml", check_files=False)
    by_day = {e.days[0]: e for e in c.entries if e.days}
    assert [by_day[d].name for d in ("mon", "tue", "wed", "thu", "fri")] == [
        "mon-chaos-monkey", "tue-latency", "wed-resource-starvation", "thu-database-failover",
        "fri-regional-failover"]
    assert {Path(e.experiment).name for e in c.entries} == {
        "mon-instance-kill.yaml", "tue-latency.yaml", "wed-resource-starvation.yaml",
        "thu-database-failover.yaml", "fri-regional-failover.yaml"}
    monkey = by_day["mon"].monkey
    assert monkey is not None and monkey.probability_per_hour == pytest.approx(0.001)
    # Every referenced experiment that already exists must be where the calendar says.
    for e in c.entries:
        assert c.experiment_path(e).parent == (REPO / "experiments" / "sandbox").resolve()


def test_cron_weekdays_use_standard_crontab_numbering() -> None:
    # APScheduler 3's from_crontab would read "1" as Tuesday; a calendar's "1" is Monday, as in crontab(5).
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            entries=[{"name": "m", "experiment": "x.yaml", "cron": "0 10 * * 1"},
                     {"name": "s", "experiment": "x.yaml", "cron": "0 10 * * 0,7"},
                     {"name": "w", "experiment": "x.yaml", "cron": "0 10 * * 1-5"}])
    fires = next_fires(c, at(NY, 2026, 6, 1), at(NY, 2026, 6, 8))
    days = {name: [f.at.strftime("%a") for f in fires if f.entry == name] for name in ("m", "s", "w")}
    assert days == {"m": ["Mon"], "s": ["Sun"], "w": ["Mon", "Tue", "Wed", "Thu", "Fri"]}


def test_cli_show_and_next_as_json(write_calendar) -> None:  # noqa: ANN001
    import json

    path = write_calendar({"timezone": "Europe/Berlin", "work_days": ["mon", "tue", "wed", "thu", "fri"],
                           "entries": [{"name": "tue-latency", "day": "tue", "at": "10:30"},
                                       {"name": "mon-monkey", "day": "mon",
                                        "monkey": {"probability_per_hour": 0.001}}]})
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "show", str(path), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = {row["entry"]: row for row in json.loads(r.stdout)["entries"]}
    assert rows["tue-latency"]["when"] == "at 10:30" and rows["tue-latency"]["next_calendar"].startswith("Tue ")
    assert "10:30" in rows["tue-latency"]["next_calendar"]
    assert rows["mon-monkey"]["when"].startswith("monkey 0.10%/instance/h")
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "next", str(path), "--days", "14", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    fires = json.loads(r.stdout)
    tue = [f for f in fires if f["entry"] == "tue-latency"]
    assert len(tue) == 2 and all(datetime.fromisoformat(f["at"]).strftime("%a %H:%M") == "Tue 10:30" for f in tue)


def test_allowed_time_is_23_or_25_real_hours_on_dst_days() -> None:
    c = cal(work_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            business_hours={"start": "00:00", "end": "24:00"})

    def hours(d: date) -> float:
        return sum(real_seconds(s, e) for s, e in c.allowed_spans(d)) / 3600

    assert hours(date(2026, 3, 8)) == 23 and hours(date(2026, 11, 1)) == 25 and hours(date(2026, 6, 1)) == 24


def test_cli_validate_also_validates_the_experiments(write_calendar, tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad-experiment.yaml"
    bad.write_text("title: x\nmethod: 3\n")
    path = write_calendar({"timezone": "UTC", "entries": [{"name": "e", "cron": "* * * * *", "experiment": str(bad)},
                                                         {"name": "ok", "cron": "* * * * *"}]})
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "validate", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{path}: entries[0].experiment: {bad}: method:" in r.stderr
    assert "entries[1]" not in r.stderr  # the fixture experiment is valid
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "validate", "--no-experiments", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
