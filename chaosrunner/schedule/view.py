"""What ``schedule show`` displays: one row per entry (pure; the CLI renders it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chaosrunner.calendar.model import Calendar, hhmm
from chaosrunner.calendar.parts import WEEKDAYS, Entry
from chaosrunner.calendar.triggers import iter_fires

LOOKAHEAD = timedelta(days=400)


def describe_when(entry: Entry) -> str:
    if entry.kind == "at":
        assert entry.at is not None
        return f"at {entry.at:%H:%M}"
    if entry.kind == "cron":
        return f"cron {entry.cron}"
    if entry.kind == "every":
        return f"every {entry.every:g}s"
    m = entry.monkey
    assert m is not None
    rate = (f"{m.probability_per_hour:.2%}/instance/h" if m.probability_per_hour is not None
            else f"MTBK {m.mean_time_between_kills:g}s")
    return f"monkey {rate}, min gap {m.min_gap:g}s"


def describe_window(cal: Calendar) -> str:
    bh = cal.business_hours
    text = f"{bh.start:%H:%M}-{hhmm(bh.end)}"
    if cal.avoid_peak:
        text += " minus peak " + ", ".join(f"{p.start:%H:%M}-{hhmm(p.end)}" for p in cal.avoid_peak)
    return text


def next_run(cal: Calendar, entry: Entry, now: datetime) -> datetime | None:
    """The next fire the window lets run (skips holidays, blackouts...), within ~13 months."""
    if entry.kind == "monkey":
        for i in range(400):
            d = now.astimezone(cal.zone).date() + timedelta(days=i)
            if entry.days is not None and WEEKDAYS[d.weekday()] not in entry.days:
                continue
            for s, e in cal.allowed_spans(d):
                if e > now:
                    return max(s, now)
        return None
    for at in iter_fires(cal, entry, now, now + LOOKAHEAD):
        if cal.check(entry, at).ok:
            return at
    return None


def week_rows(cal: Calendar, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    rows = []
    order = {d: i for i, d in enumerate(WEEKDAYS)}
    for e in sorted(cal.entries, key=lambda x: min((order[d] for d in (x.days or cal.work_days)), default=9)):
        nxt = next_run(cal, e, now) if e.enabled else None
        rows.append({
            "entry": e.name,
            "days": ",".join(e.days) if e.days else ("(cron)" if e.kind == "cron" else ",".join(cal.work_days)),
            "when": describe_when(e),
            "window": describe_window(cal),
            "experiment": e.experiment,
            "enabled": e.enabled,
            "next_calendar": nxt.astimezone(cal.zone).strftime("%a %Y-%m-%d %H:%M %Z") if nxt else None,
            "next_local": nxt.astimezone().strftime("%a %Y-%m-%d %H:%M %Z") if nxt else None,
            "next_utc": nxt.astimezone(UTC).isoformat() if nxt else None,
        })
    return rows
