"""Resilience over time: per experiment and ISO week — verdicts, RTO, time to recover, budget, aborts — and
the resilience score (docs/review.md explains it and compares it with Litmus's and Gremlin's).

Pure: takes journal summaries (from :func:`chaosrunner.journal.store.list_journals`) and an "as of"
instant, returns plain data. Rendering is the CLI's (rich table, JSON) and the HTML template's job.

The score of one run, in [0, 1]::

    run_score = outcome × recovery × budget
    outcome   = 1 passed · 0.3 deviated · 0.3 aborted · 0 failed · 0 rollback-failed
    recovery  = 1 − 0.5 × min(1, time_to_recover / recovery_deadline)   (0 past the deadline; 1 if unknown)
    budget    = 1 − 0.5 × min(1, budget_spent / budget_allowance)        (1 if unknown)

Refused, invalid, interrupted (an operator stopped it) and incomplete runs are not evidence about the
system and are not scored (they are counted).

``weighting="krkn"`` scores a run as krkn does its SLO checks instead: each guarded SLO that held
(its client-visible SLI never left its objective after the injection) earns its points — 3 for an SLO
listed in ``objectives.critical_slos``, 1 otherwise — and the run scores points earned / points possible.
An experiment's score is the recency-weighted mean of its run scores (weight 0.5 ** (age / 28 days): a
result four weeks old counts half), so an experiment that stopped being exercised fades instead of
keeping a stale 100. The overall score is the plain mean of the experiment scores (each experiment
counts once, however often it runs). Scores are shown × 100.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from chaosrunner.core.ids import try_time
from chaosrunner.core.verdict import Verdict, display_rank
from chaosrunner.journal.summary import JournalSummary
from chaosrunner.slo.budget import chaos_spend_month_to_date

OUTCOME: dict[str, float] = {
    Verdict.PASSED: 1.0,
    Verdict.DEVIATED: 0.3,
    Verdict.ABORTED: 0.3,
    Verdict.FAILED: 0.0,
    Verdict.ROLLBACK_FAILED: 0.0,
}
HALF_LIFE_DAYS = 28.0


CRITICAL_POINTS, WARNING_POINTS = 3.0, 1.0
WEIGHTINGS = ("chaosrunner", "krkn")


def _names(csv: str) -> list[str]:
    return [x for x in csv.split(",") if x]


def krkn_score(s: JournalSummary) -> float | None:
    """krkn's weighting: points of the guarded SLOs that held / points of all guarded SLOs."""
    if OUTCOME.get(s.verdict) is None or not s.slos:
        return None
    critical = set(_names(s.critical_slos))
    breached = set(_names(s.slos_breached))
    points = {n: CRITICAL_POINTS if n in critical else WARNING_POINTS for n in _names(s.slos)}
    return sum(p for n, p in points.items() if n not in breached) / sum(points.values())


def run_score(s: JournalSummary, weighting: str = "chaosrunner") -> float | None:
    """Score one run in [0, 1]; None when the run says nothing about the system (refused, interrupted,
    incomplete)."""
    if weighting == "krkn":
        return krkn_score(s)
    outcome = OUTCOME.get(s.verdict)
    if outcome is None:
        return None
    recovery = 1.0
    ttr, deadline = s.time_to_recover_s, s.recovery_deadline_s
    if ttr is not None and deadline:
        recovery = 0.0 if ttr > deadline else 1.0 - 0.5 * min(1.0, max(0.0, ttr) / deadline)
    budget = 1.0
    spent, allowance = s.budget_spent, s.budget_allowance
    if spent is not None and allowance:
        budget = 1.0 - 0.5 * min(1.0, max(0.0, spent) / allowance)
    return outcome * recovery * budget


def iso_week(t: datetime) -> str:
    y, w, _ = t.isocalendar()
    return f"{y}-W{w:02d}"


@dataclass
class WeekRow:
    experiment: str
    week: str
    runs: int
    verdicts: dict[str, int]
    aborts: int
    median_rto_s: float | None
    median_time_to_recover_s: float | None
    max_budget_spent: float | None
    score: float | None  # 0..100, plain mean of the week's scored runs
    targets_met: int = 0
    targets_missed: int = 0
    targets_unmeasured: int = 0


@dataclass
class ExperimentTrend:
    experiment: str
    title: str
    runs: int
    scored: int
    score: float | None  # 0..100, recency weighted
    last_run: str | None
    weeks: list[WeekRow] = field(default_factory=list)
    per_slo: dict[str, dict[str, int]] = field(default_factory=dict)  # slo → {"runs", "held"}


@dataclass
class Trend:
    as_of: str
    weeks: int
    experiments: list[ExperimentTrend]
    overall: float | None
    weighting: str = "chaosrunner"
    chaos_spend: list[dict[str, Any]] = field(default_factory=list)  # per month: ChaosSpend.to_json()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def compute_trend(
    summaries: list[JournalSummary],
    as_of: datetime,
    weeks: int = 8,
    experiment: str | None = None,
    *,
    weighting: str = "chaosrunner",
    tz: tzinfo = UTC,
) -> Trend:
    """Group runs started in the ``weeks`` weeks before ``as_of`` by experiment identity and ISO week
    (in ``tz``, the calendar's zone); the month-to-date chaos spend of every month in the window."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")
    since = as_of - timedelta(weeks=weeks)
    needle = experiment.lower() if experiment else None
    by_exp: dict[str, list[tuple[datetime, JournalSummary]]] = defaultdict(list)
    titles: dict[str, str] = {}
    for s in summaries:
        t = try_time(s.started_at)
        if t is None or t < since or t > as_of:
            continue
        if (
            needle
            and needle not in s.experiment.lower()
            and needle not in s.title.lower()
            and needle not in (s.experiment_path or "").lower()
        ):
            continue
        by_exp[s.experiment].append((t, s))
        titles.setdefault(s.experiment, s.title)
    out: list[ExperimentTrend] = []
    for exp, runs in sorted(by_exp.items()):
        runs.sort(key=lambda r: r[0])
        weighted = 0.0
        weight_sum = 0.0
        scored = 0
        per_week: dict[str, list[JournalSummary]] = defaultdict(list)
        per_slo: dict[str, dict[str, int]] = {}
        for t, s in runs:
            per_week[iso_week(t.astimezone(tz))].append(s)
            if OUTCOME.get(s.verdict) is not None:
                breached = set(_names(s.slos_breached))
                for name in _names(s.slos):
                    row = per_slo.setdefault(name, {"runs": 0, "held": 0})
                    row["runs"] += 1
                    row["held"] += name not in breached
            sc = run_score(s, weighting)
            if sc is not None:
                w = 0.5 ** ((as_of - t).total_seconds() / 86400 / HALF_LIFE_DAYS)
                weighted += w * sc
                weight_sum += w
                scored += 1
        rows = []
        for week in sorted(per_week):
            ws = per_week[week]
            scores = [x for x in (run_score(s, weighting) for s in ws) if x is not None]
            budgets = [s.budget_spent for s in ws if s.budget_spent is not None]
            rows.append(
                WeekRow(
                    experiment=exp,
                    week=week,
                    runs=len(ws),
                    verdicts=dict(sorted(Counter(s.verdict for s in ws).items(), key=_verdict_key)),
                    aborts=sum(1 for s in ws if s.aborted),
                    median_rto_s=_median([s.rto_s for s in ws if s.rto_s is not None]),
                    median_time_to_recover_s=_median(
                        [s.time_to_recover_s for s in ws if s.time_to_recover_s is not None]
                    ),
                    max_budget_spent=max(budgets) if budgets else None,
                    score=round(100 * statistics.fmean(scores), 1) if scores else None,
                    targets_met=sum(s.objectives_met for s in ws),
                    targets_missed=sum(s.objectives_missed for s in ws),
                    targets_unmeasured=sum(s.objectives_unmeasured for s in ws),
                )
            )
        out.append(
            ExperimentTrend(
                experiment=exp,
                title=titles[exp],
                runs=len(runs),
                scored=scored,
                score=round(100 * weighted / weight_sum, 1) if weight_sum else None,
                last_run=runs[-1][1].started_at,
                weeks=rows,
                per_slo=dict(sorted(per_slo.items())),
            )
        )
    scores = [e.score for e in out if e.score is not None]
    overall = round(statistics.fmean(scores), 1) if scores else None
    return Trend(
        as_of=as_of.isoformat(),
        weeks=weeks,
        experiments=out,
        overall=overall,
        weighting=weighting,
        chaos_spend=monthly_chaos_spend(summaries, since, as_of, tz),
    )


def monthly_chaos_spend(
    summaries: list[JournalSummary], since: datetime, as_of: datetime, tz: tzinfo
) -> list[dict[str, Any]]:
    """The error budget used by chaos per calendar month (in ``tz``) from ``since`` to ``as_of``: each
    month up to its end, the current one up to ``as_of``."""
    runs = [
        (t, s.budget_spent)
        for s in summaries
        if s.verdict not in (Verdict.REFUSED, Verdict.INVALID) and (t := try_time(s.started_at)) is not None
    ]
    out = []
    month = since.astimezone(tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = as_of.astimezone(tz)
    while month <= end:
        nxt = (month + timedelta(days=32)).replace(day=1)
        upto = min(end, nxt - timedelta(microseconds=1))
        spend = chaos_spend_month_to_date(runs, upto, tz=tz)
        if spend.runs:
            out.append(spend.to_json())
        month = nxt
    return out


def _verdict_key(item: tuple[str, int]) -> int:
    return display_rank(item[0])


def verdicts_text(verdicts: dict[str, int]) -> str:
    return " ".join(f"{n} {v}" for v, n in verdicts.items()) or "—"
