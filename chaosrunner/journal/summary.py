"""One journal → one summary row (pure): what a listing, a trend and a game-day table need.

Works on the full :class:`~chaosrunner.journal.schema.Journal` and on its listing head alike (the head
has every field read here). A plain ``chaos run`` journal gets its verdict from
:func:`chaosrunner.core.verdict.decide`, the same rules chaosrunner's own runs are judged by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.core.ids import try_time
from chaosrunner.core.units import parse_duration
from chaosrunner.core.verdict import Verdict, activity_failed, decide
from chaosrunner.journal import objectives, resilience
from chaosrunner.journal.resilience import extension_block
from chaosrunner.journal.schema import Journal, Timings


@dataclass
class JournalSummary:
    """What a listing, a trend and a game-day summary table need from one journal (JSON-ready).

    Times are ISO-8601 strings, durations seconds, ratios ratios (0.01 = 1 %).
    """

    run_id: str
    path: str
    kind: str  # "chaosrunner" or "chaostoolkit" (plain `chaos run` journal, no chaosrunner section)
    experiment: str  # the key trends group by: the experiment's identity (declared ``id``, else its title)
    title: str
    verdict: str  # a chaosrunner.core.verdict.Verdict value
    complete: bool
    trigger: str | None
    calendar_entry: str | None
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    reason: str | None
    aborted: bool
    targets: int
    time_to_detect_s: float | None
    time_to_recover_s: float | None  # rollbacks done → restored as clients see it (docs/glossary.md)
    rto_s: float | None  # fault injected → restored as clients see it (0: no client-visible impact)
    budget_spent: float | None
    budget_allowance: float | None
    recovery_deadline_s: float | None
    samples: int
    errors: int = 0
    rto_status: str = "unknown"  # restored | no-impact | not-restored | unknown
    experiment_path: str | None = None
    objectives_met: int = 0
    objectives_missed: int = 0
    objectives_unmeasured: int = 0
    interrupted: bool = False  # stopped by an operator: not evidence about the system
    slos: str = ""  # guarded SLOs, comma-separated (flat: the listing index keeps scalars)
    slos_breached: str = ""  # those whose client-visible SLI left its objective after the injection
    critical_slos: str = ""  # objectives.critical_slos (krkn weighting)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Flat, JSON-ready (every field is a scalar); much cheaper than ``dataclasses.asdict``."""
        d = self.__dict__
        return {f: d[f] for f in JSON_FIELDS}


JSON_FIELDS = [f for f in JournalSummary.__dataclass_fields__ if f != "extra"]


def ctk_document(j: Journal) -> dict[str, Any]:
    """The Chaos Toolkit half of ``j`` as the plain data :func:`~chaosrunner.core.verdict.decide` judges
    (keys absent from the file stay absent; ``null`` entries of ``run``/``rollbacks`` are dropped)."""
    return {
        "status": j.status,
        "end": j.end,
        "deviated": j.deviated,
        "steady_states": j.steady_states,
        "run": [r.model_dump(exclude_unset=True) for r in j.run if r is not None],
        "rollbacks": [r.model_dump(exclude_unset=True) for r in j.rollbacks if r is not None],
    }


def experiment_title(j: Journal) -> str:
    s = j.chaosrunner
    if s is not None and s.experiment_title:
        return s.experiment_title
    exp = j.experiment or {}
    title = exp.get("title")
    return title if isinstance(title, str) and title else "(untitled experiment)"


def recovery_deadline_s(j: Journal) -> float | None:
    """The guard's ``recovery_deadline`` in seconds, if the experiment declares a readable one."""
    guard = extension_block(j).get("slo_guard")
    if isinstance(guard, dict) and "recovery_deadline" in guard:
        try:
            return parse_duration(guard["recovery_deadline"])
        except ValueError:
            return None
    return None


def experiment_identity(j: Journal) -> str:
    """What trends group by: the extension's declared ``id``, else the title — never the path, which
    changes with the working directory (``experiments/x.yaml`` vs ``/srv/chaos/experiments/x.yaml``)."""
    ident = extension_block(j).get("id")
    return ident if isinstance(ident, str) and ident else experiment_title(j)


def rto_s(j: Journal) -> float | None:
    """RTO in seconds: fault injected → service restored as clients see it (docs/glossary.md)."""
    return resilience.client_recovery(j).rto_s


def activity_errors(j: Journal) -> list[tuple[str, str]]:
    """(activity name, error text) for every failed activity, as :func:`.resilience.activity_outcomes`
    judges them (a process action that exited non-zero is failed even if chaoslib said "succeeded"),
    plus errors recorded on activities that did not fail (an interruption's reason)."""
    out: list[tuple[str, str]] = []
    s = j.chaosrunner
    if s is not None and s.activities:
        for a in resilience.activity_outcomes(j):
            if a.error or a.status == "failed":
                out.append((a.name, a.error or "failed"))
        return out
    doc = ctk_document(j)
    for r in [*doc["run"], *doc["rollbacks"]]:
        if activity_failed(r):
            activity = r.get("activity") or {}
            name = activity.get("name")
            out.append((name if isinstance(name, str) else "(unnamed)", _error_text(r)))
    return out


def _error_text(r: Mapping[str, Any]) -> str:
    if r.get("status") == "failed":
        exc = r.get("exception")
        text = "".join(exc) if isinstance(exc, list) else (exc or "failed")
        return str(text).strip()
    output = r["output"]  # activity_failed said: an action whose output has an int status
    if ((r.get("activity") or {}).get("provider") or {}).get("type") == "http":
        return f"http status {output['status']}"
    stderr = output.get("stderr")
    detail = f": {stderr.strip()[:2000]}" if isinstance(stderr, str) and stderr.strip() else ""
    return f"process exited with status {output['status']}{detail}"


def summarize(j: Journal, path: Path) -> JournalSummary:
    """One journal → one summary row. Pure; handles plain Chaos Toolkit journals and incomplete ones."""
    s = j.chaosrunner
    title = experiment_title(j)
    if s is None:
        start, end = j.start, j.end
        started = try_time(start)
        ended = try_time(end)
        duration = (
            j.duration if j.duration is not None else ((ended - started).total_seconds() if started and ended else None)
        )
        verdict, reason = decide(ctk_document(j))
        return JournalSummary(
            run_id=path.stem,
            path=str(path),
            kind="chaostoolkit",
            experiment=experiment_identity(j),
            title=title,
            verdict=verdict.value,
            complete=bool(j.end),
            trigger=None,
            calendar_entry=None,
            started_at=start,
            ended_at=end,
            duration_s=duration,
            reason=reason,
            aborted=verdict is Verdict.ABORTED,
            targets=0,
            time_to_detect_s=None,
            time_to_recover_s=None,
            rto_s=None,
            budget_spent=None,
            budget_allowance=None,
            recovery_deadline_s=recovery_deadline_s(j),
            samples=0,
            errors=len(activity_errors(j)),
        )
    started_s = s.started_at or j.start
    ended_s = s.ended_at or (j.end if s.complete else None)
    started = try_time(started_s)
    ended = try_time(ended_s)
    duration = (ended - started).total_seconds() if started and ended else None
    budget = s.guard.budget if s.guard else None
    timings = s.timings or Timings()
    verdict_s = s.verdict or (Verdict.RUNNING.value if not s.complete else decide(ctk_document(j))[0].value)
    recovery = resilience.client_recovery(j)
    checks = [c for c in objectives.objective_checks(j) if c.key != "monthly_budget_use"]
    return JournalSummary(
        run_id=s.run_id or path.stem,
        path=str(path),
        kind="chaosrunner",
        experiment=experiment_identity(j),
        title=title,
        verdict=verdict_s,
        complete=bool(s.complete),
        trigger=s.trigger,
        calendar_entry=s.calendar_entry,
        started_at=started_s,
        ended_at=ended_s,
        duration_s=duration,
        reason=s.reason,
        aborted=verdict_s == Verdict.ABORTED or (s.abort is not None and verdict_s != Verdict.INTERRUPTED),
        targets=len(s.targets),
        time_to_detect_s=timings.time_to_detect_s,
        time_to_recover_s=resilience.time_to_recover_s(j),
        rto_s=recovery.rto_s,
        budget_spent=budget.spent if budget else None,
        budget_allowance=budget.allowance if budget else None,
        recovery_deadline_s=recovery_deadline_s(j),
        samples=len(s.guard.samples) if s.guard else 0,
        errors=len(activity_errors(j)),
        rto_status=recovery.status,
        experiment_path=s.experiment_path,
        objectives_met=sum(1 for c in checks if c.met is True),
        objectives_missed=sum(1 for c in checks if c.met is False),
        objectives_unmeasured=sum(1 for c in checks if c.met is None),
        interrupted=verdict_s == Verdict.INTERRUPTED,
        slos=",".join(resilience.guarded_slos(j)),
        slos_breached=",".join(resilience.breached_slos(j)),
        critical_slos=",".join(o.critical_slos) if (o := objectives.objectives(j)) is not None else "",
    )
