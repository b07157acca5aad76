"""Trends and the resilience score (docs/review.md)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from chaosrunner.journal.store import parse_journal
from chaosrunner.journal.summary import JournalSummary
from chaosrunner.report.trend import compute_trend, iso_week, run_score
from tests.review import journals as J


def summary(doc: dict) -> JournalSummary:
    return parse_journal(json.dumps(doc), Path("j.json")).summary


def with_(s: JournalSummary, **kw: object) -> JournalSummary:
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_run_score_outcomes() -> None:
    base = summary(J.passed())
    clean = with_(base, time_to_recover_s=None, budget_spent=None)
    assert run_score(clean) == 1.0
    for verdict, expected in [("deviated", 0.3), ("aborted", 0.3), ("failed", 0.0), ("rollback-failed", 0.0)]:
        assert (
            run_score(with_(summary(J.passed()), verdict=verdict, time_to_recover_s=None, budget_spent=None))
            == expected
        )
    assert run_score(summary(J.refused())) is None
    assert run_score(summary(J.incomplete())) is None


def test_run_score_recovery_and_budget_factors() -> None:
    s = with_(summary(J.passed()), recovery_deadline_s=1800.0, budget_spent=None)
    assert run_score(with_(s, time_to_recover_s=0.0)) == 1.0
    assert run_score(with_(s, time_to_recover_s=900.0)) == pytest.approx(0.75)
    assert run_score(with_(s, time_to_recover_s=1800.0)) == pytest.approx(0.5)
    assert run_score(with_(s, time_to_recover_s=1801.0)) == 0.0  # missed the self-healing deadline
    b = with_(summary(J.passed()), time_to_recover_s=None, budget_allowance=0.01)
    assert run_score(with_(b, budget_spent=0.005)) == pytest.approx(0.75)
    assert run_score(with_(b, budget_spent=0.05)) == pytest.approx(0.5)


def test_trend_groups_by_experiment_and_iso_week() -> None:
    as_of = J.BASE + timedelta(days=1)
    runs = [
        summary(J.passed(J.BASE - timedelta(days=14), exp=0, seed=1)),
        summary(J.aborted(J.BASE - timedelta(days=7), exp=0, seed=2)),
        summary(J.passed(J.BASE - timedelta(days=7, hours=1), exp=0, seed=3)),
        summary(J.passed(J.BASE, exp=1, seed=4)),
        summary(J.refused(J.BASE, exp=1, seed=5)),
        summary(J.passed(J.BASE - timedelta(weeks=20), exp=2, seed=6)),  # outside the window
    ]
    t = compute_trend(runs, as_of, weeks=8)
    assert [e.experiment for e in t.experiments] == [J.EXPERIMENTS[0][1], J.EXPERIMENTS[1][1]]  # identity, not path
    monday = t.experiments[0]
    assert [w.week for w in monday.weeks] == [
        iso_week(J.BASE - timedelta(days=14)),
        iso_week(J.BASE - timedelta(days=7)),
    ]
    assert monday.weeks[1].verdicts == {"passed": 1, "aborted": 1} and monday.weeks[1].aborts == 1
    assert monday.weeks[1].median_time_to_recover_s == pytest.approx((12.5 + 6.0) / 2)
    tuesday = t.experiments[1]
    assert tuesday.runs == 2 and tuesday.scored == 1  # the refused run is counted, not scored
    assert t.overall == pytest.approx((monday.score + tuesday.score) / 2, abs=0.05)
    assert [e.experiment for e in compute_trend(runs, as_of, experiment="latency").experiments] == [J.EXPERIMENTS[1][1]]


def test_recent_results_weigh_more() -> None:
    as_of = J.BASE
    old_bad = with_(summary(J.passed(J.BASE - timedelta(days=28), seed=1)), verdict="failed")
    new_good = summary(J.passed(J.BASE, seed=2))
    improving = compute_trend([old_bad, new_good], as_of).experiments[0].score
    old_good = summary(J.passed(J.BASE - timedelta(days=28), seed=3))
    new_bad = with_(summary(J.passed(J.BASE, seed=4)), verdict="failed")
    regressing = compute_trend([old_good, new_bad], as_of).experiments[0].score
    assert improving > 60 > regressing  # weights 1 and 0.5: ≈ 66.7 vs ≈ 33.3


def test_empty_trend() -> None:
    t = compute_trend([], J.BASE)
    assert t.experiments == [] and t.overall is None
