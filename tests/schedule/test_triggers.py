"""The crontab evaluator against APScheduler's CronTrigger (where their semantics agree) and cron(5)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosrunner.calendar.cron import CRON_DAY_NAMES, CronSchedule, crontab_trigger

NAMES = {str(i): n for i, n in enumerate(CRON_DAY_NAMES)}


def fires(trigger, start: datetime, n: int) -> list[datetime]:  # noqa: ANN001
    out, prev, now = [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        if nxt is None:
            break
        out.append(nxt.astimezone(UTC))
        prev, now = nxt, nxt + timedelta(microseconds=1)
    return out


field = st.sampled_from
minute = st.one_of(field(["*", "0", "15", "*/7", "5-10", "0,30", "45-59/5"]))
hour = field(["*", "9", "9-17", "*/3", "0,12", "23"])
dom = field(["*", "1", "15", "1-7", "*/10", "28-31"])
month = field(["*", "1", "6-8", "*/4", "dec", "feb"])
dow = field(["*", "1", "0", "1-5", "6,0", "mon-fri", "*/2"])


@settings(max_examples=60, deadline=None)
@given(minute, hour, dom, month, dow, st.integers(0, 364))
def test_agrees_with_apscheduler_in_utc_when_one_day_field_is_a_star(m, h, d, mo, w, offset) -> None:  # noqa: ANN001
    if not d.startswith("*") and not w.startswith("*"):
        d = "*"  # the OR rule differs on purpose (tested below)
    ours = crontab_trigger(f"{m} {h} {d} {mo} {w}", "UTC")
    # APScheduler numbers weekdays from Monday: hand it names.
    aps_dow = "*" if w == "*" else ",".join(
        sorted({CRON_DAY_NAMES[int(x) % 7] if x.isdigit() else x for x in
                _expand_names(w)}, key=CRON_DAY_NAMES.index))
    theirs = CronTrigger(minute=m, hour=h, day=d, month=mo, day_of_week=aps_dow, timezone="UTC")
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=offset, minutes=offset * 7)
    assert fires(ours, start, 20) == fires(theirs, start, 20)


def _expand_names(w: str) -> list[str]:
    sched = CronSchedule.parse(f"* * * * {w}")
    return [CRON_DAY_NAMES[d] for d in sorted(sched.dows)]


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # cron(5): "0 10 13 * 5" fires on the 13th AND on every Friday.
    got = fires(crontab_trigger("0 10 13 * 5", "UTC"), datetime(2026, 3, 1, tzinfo=UTC), 6)
    assert [d.strftime("%a %d") for d in got] == ["Fri 06", "Fri 13", "Fri 20", "Fri 27", "Fri 03", "Fri 10"]
    got = fires(crontab_trigger("0 10 1 * 3", "UTC"), datetime(2026, 4, 1, tzinfo=UTC), 3)
    assert [d.strftime("%a %d") for d in got] == ["Wed 01", "Wed 08", "Wed 15"]
    got = fires(crontab_trigger("0 10 13 * 5", "UTC"), datetime(2026, 6, 1, tzinfo=UTC), 5)
    assert "Sat 13" in [d.strftime("%a %d") for d in got]


def test_rare_schedules_and_bad_expressions() -> None:
    got = fires(crontab_trigger("0 0 29 2 *", "UTC"), datetime(2026, 1, 1, tzinfo=UTC), 2)
    assert [d.year for d in got] == [2028, 2032]
    assert fires(crontab_trigger("0 0 31 2 *", "UTC"), datetime(2026, 1, 1, tzinfo=UTC), 1) == []
    for bad in ("60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "* * * * fun",
                "5-1 * * * *", "*/0 * * * *", "* * * *"):
        with pytest.raises(ValueError):
            CronSchedule.parse(bad)


def test_trigger_survives_the_job_store_pickle() -> None:
    trig = crontab_trigger("30 2 * * 1-5", ZoneInfo("Europe/Berlin"))
    back = pickle.loads(pickle.dumps(trig))
    start = datetime(2026, 3, 27, tzinfo=UTC)
    assert fires(back, start, 5) == fires(trig, start, 5)
