"""Error-budget maths, and the one place the remaining budget of an SLO is read.

Units: objectives and ratios are ratios in [0, 1]; windows and durations are seconds; rates are events
per second. Everything but :func:`remaining_budget` is pure.

The maths (Google SRE Workbook, "Alerting on SLOs"):

* burn rate = observed error ratio / (1 − objective)          (1.0 spends the budget exactly in the window)
* budget consumed over a window = burn rate × window / period  (share of the period's budget)
* budget remaining = 1 − (error ratio over the period) / (1 − objective)   (negative = overspent)
* budget spent by one run = extra bad events versus the pre-run baseline error ratio, divided by the
  period's budget in events ((1 − objective) × expected events in the period).

For 99.9 % over 30 d this reproduces the table: 14.4× for 1 h ≙ 2 %, 6× for 6 h ≙ 5 %, 1× for 3 d ≙ 10 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from chaosrunner.slo.catalog import Scope, Slo, promql_duration, render
from chaosrunner.slo.source import SliSource, SliUnavailable


def burn_rate(error_ratio: float, objective: float) -> float:
    """How fast the budget burns: 1.0 spends exactly the whole budget over the SLO period."""
    if not 0.0 <= objective < 1.0:
        raise ValueError("objective must be a ratio in [0, 1)")
    return error_ratio / (1.0 - objective)


def budget_consumed(burn: float, window_s: float, period_s: float) -> float:
    """Share of the period's error budget spent by burning at ``burn`` for ``window_s`` seconds."""
    if period_s <= 0:
        raise ValueError("period must be positive")
    return burn * window_s / period_s


def burn_rate_for_budget(share: float, window_s: float, period_s: float) -> float:
    """Inverse of :func:`budget_consumed`: the burn rate that spends ``share`` in ``window_s``."""
    if window_s <= 0:
        raise ValueError("window must be positive")
    return share * period_s / window_s


def budget_remaining(period_error_ratio: float, objective: float) -> float:
    """Share of the period's budget left (1.0 untouched, 0 exhausted, negative overspent)."""
    return 1.0 - burn_rate(period_error_ratio, objective)


def period_budget_events(objective: float, total_rate: float, period_s: float) -> float:
    """Bad events the period may contain: (1 − objective) × expected events (rate × period)."""
    return (1.0 - objective) * total_rate * period_s


def extra_bad_events(bad: float, total: float, baseline_ratio: float) -> float:
    """Bad events beyond what the pre-run baseline error ratio would have produced (never negative)."""
    return max(0.0, bad - baseline_ratio * total)


def run_budget_spent(
    bad: float,
    total: float,
    baseline_ratio: float,
    objective: float,
    period_total_rate: float,
    period_s: float,
) -> float:
    """Share of the period's budget a run spent: extra bad events / the period's budget in events.

    ``bad`` and ``total`` are event counts during the run; ``period_total_rate`` is the expected
    traffic (events/s) used to size the period's budget — the pre-run rate.
    """
    budget = period_budget_events(objective, period_total_rate, period_s)
    if budget <= 0:
        return 0.0 if extra_bad_events(bad, total, baseline_ratio) == 0 else math.inf
    return extra_bad_events(bad, total, baseline_ratio) / budget


@dataclass(frozen=True)
class WorkbookRow:
    burn_rate: float
    window_s: float
    budget_consumed: float


def workbook_table(objective: float = 0.999, period_s: float = 30 * 86400) -> list[WorkbookRow]:
    """The SRE Workbook's multiwindow alerting table, computed (not copied) for ``objective``/``period``."""
    rows = [(0.02, 3600.0), (0.05, 6 * 3600.0), (0.10, 3 * 86400.0)]
    out = []
    for share, window in rows:
        burn = burn_rate_for_budget(share, window, period_s)
        out.append(WorkbookRow(burn, window, budget_consumed(burn, window, period_s)))
    return out


class NoTraffic(SliUnavailable):
    """The SLO window holds no requests, so no share of its budget can be computed."""

    kind = "no traffic"
    source_failed = False


def remaining_budget(source: SliSource, slo: Slo, scope: Scope | None = None) -> float:
    """Share of ``slo``'s period budget left, read over the SLO's own window (service-wide unless a
    ``scope`` is given). Preflight's budget gate, the guard's "before" figure and the calendar's
    budget freeze all read it here. Raises :class:`SliUnavailable` (``NoTraffic`` for an empty window)
    when it cannot be known: every caller fails closed on that."""
    scope = scope or Scope("service")
    bad_t, total_t = slo.sli.rate_queries()
    window = promql_duration(slo.window)
    bad = source.scalar(render(bad_t, slo, scope, window))
    total = source.scalar(render(total_t, slo, scope, window))
    if total <= 0:
        raise NoTraffic("no traffic recorded in the SLO window")
    return budget_remaining(max(0.0, bad) / total, slo.objective)


# ------------------------------------------------------------------------------- chaos spend per month

DEFAULT_CHAOS_CEILING = 0.20
"""The practice's ceiling: at most 20 % of a month's error budget may be spent by chaos."""


@dataclass
class ChaosSpend:
    """The error budget used by chaos runs in one calendar month, up to an instant.

    ``used`` sums each run's spend (a run's spend is its worst guarded SLO's, so the sum is the
    conservative side for any one SLO). Runs that injected something but whose spend is unknown
    (unguarded, or the guard had no figure) make ``used`` a lower bound: ``unknown`` says how many.
    """

    month: str  # "2026-11" in the zone the month was cut in
    used: float
    runs: int
    unknown: int
    ceiling: float | None

    @property
    def lower_bound(self) -> bool:
        return self.unknown > 0

    @property
    def within_ceiling(self) -> bool | None:
        """True/False against the ceiling; None when over-or-under cannot be told (a lower bound under it)."""
        if self.ceiling is None:
            return None
        if self.used > self.ceiling:
            return False
        return None if self.lower_bound else True

    def to_json(self) -> dict[str, object]:
        return {
            "month": self.month,
            "used": self.used,
            "runs": self.runs,
            "unknown": self.unknown,
            "ceiling": self.ceiling,
            "within_ceiling": self.within_ceiling,
        }


def chaos_spend_month_to_date(
    runs: Iterable[tuple[datetime, float | None]],
    as_of: datetime,
    *,
    tz: tzinfo = UTC,
    ceiling: float | None = DEFAULT_CHAOS_CEILING,
) -> ChaosSpend:
    """Budget used by chaos from the start of ``as_of``'s month (in ``tz``) up to ``as_of`` inclusive.
    ``runs``: (start, budget spent or None when unknown) of every run that injected something."""
    local = as_of.astimezone(tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = 0.0
    n = unknown = 0
    for t, spent in runs:
        if not start <= t.astimezone(tz) <= local:
            continue
        n += 1
        if spent is None or not math.isfinite(spent):
            unknown += 1
        else:
            used += max(0.0, spent)
    return ChaosSpend(f"{start:%Y-%m}", used, n, unknown, ceiling)


HISTORY_STEPS = 720  # steps of the coverage subquery: 1 h each for a 30-day SLO window
MIN_HISTORY_COVERAGE = 0.9


def history_coverage(source: SliSource, slo: Slo, scope: Scope | None = None) -> float:
    """Share of ``slo``'s window for which Prometheus holds traffic data: the SLO's total-rate query
    evaluated at :data:`HISTORY_STEPS` steps over the window (one subquery), steps with data ÷ steps.
    A remaining budget read over 7 minutes of a 30-day window is the last 7 minutes' burn, not the
    month's budget: below :data:`MIN_HISTORY_COVERAGE` the remaining budget is *unknown*.
    Raises :class:`SliUnavailable` when it cannot be read."""
    scope = scope or Scope("service")
    _bad_t, total_t = slo.sli.rate_queries()
    step_s = max(60.0, slo.window / HISTORY_STEPS)
    step = promql_duration(step_s)
    inner = render(total_t, slo, scope, step)
    try:
        steps = source.scalar(f"count_over_time(({inner})[{promql_duration(slo.window)}:{step}])")
    except SliUnavailable as e:
        if e.kind == "empty":  # not one step of the window has data (a Prometheus younger than a step)
            return 0.0
        raise
    return max(0.0, min(1.0, steps * step_s / slo.window))
