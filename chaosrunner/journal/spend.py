"""The month's error budget used by chaos, as of a given run, from the journal store's summaries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from chaosrunner.core import verdict as verdicts
from chaosrunner.core.ids import try_time
from chaosrunner.journal.summary import JournalSummary
from chaosrunner.slo.budget import ChaosSpend, chaos_spend_month_to_date


@dataclass(frozen=True)
class SpendStore:
    """The store's runs as the month's chaos spend reads them, parsed once per report (a game day of 50 runs
    against 100,000 past runs parsed every time stamp 50 times: 5 s). Refused and invalid runs injected
    nothing and are left out."""

    runs: tuple[tuple[datetime, float | None], ...]
    run_ids: frozenset[str]

    @classmethod
    def of(cls, store: Iterable[JournalSummary]) -> SpendStore:
        runs, ids = [], set()
        for s in store:
            ids.add(s.run_id)
            if s.verdict not in (verdicts.Verdict.REFUSED, verdicts.Verdict.INVALID) and (t := try_time(s.started_at)):
                runs.append((t, s.budget_spent))
        return cls(tuple(runs), frozenset(ids))


def chaos_spend_for(
    summary: JournalSummary, store: Iterable[JournalSummary] | SpendStore, *, tz: tzinfo = UTC,
    ceiling: float | None = None,
) -> ChaosSpend | None:
    """Budget used by chaos in ``summary``'s month up to its start, over every run of the store that
    injected something (refused and invalid runs did not). Pass a :class:`SpendStore` when asking for many."""
    at = try_time(summary.started_at)
    if at is None:
        return None
    parsed = store if isinstance(store, SpendStore) else SpendStore.of(store)
    runs = list(parsed.runs)
    if summary.run_id not in parsed.run_ids and summary.verdict != verdicts.Verdict.REFUSED:
        runs.append((at, summary.budget_spent))
    kw = {} if ceiling is None else {"ceiling": ceiling}
    return chaos_spend_month_to_date(runs, at, tz=tz, **kw)
