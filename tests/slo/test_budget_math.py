"""Error-budget math: the SRE Workbook table and the run's budget spend."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaosrunner.slo.budget import (
    budget_consumed,
    budget_remaining,
    burn_rate,
    burn_rate_for_budget,
    extra_bad_events,
    period_budget_events,
    run_budget_spent,
    workbook_table,
)

DAY = 86400.0
MONTH = 30 * DAY


def test_reproduces_the_sre_workbook_table_for_999_over_30_days() -> None:
    rows = [(r.burn_rate, r.window_s, r.budget_consumed) for r in workbook_table(0.999, MONTH)]
    assert rows == [
        pytest.approx((14.4, 3600.0, 0.02)),
        pytest.approx((6.0, 6 * 3600.0, 0.05)),
        pytest.approx((1.0, 3 * DAY, 0.10)),
    ]


@pytest.mark.parametrize(
    ("burn", "window_s", "share"), [(14.4, 3600.0, 0.02), (6.0, 21600.0, 0.05), (1.0, 3 * DAY, 0.10)]
)
def test_budget_consumed_matches_each_workbook_row(burn: float, window_s: float, share: float) -> None:
    assert budget_consumed(burn, window_s, MONTH) == pytest.approx(share)


def test_burn_rate_is_error_ratio_over_the_budget() -> None:
    assert burn_rate(0.0144, 0.999) == pytest.approx(14.4)
    assert burn_rate(0.001, 0.999) == pytest.approx(1.0)
    assert burn_rate(0.0, 0.999) == 0.0
    with pytest.raises(ValueError):
        burn_rate(0.1, 1.0)


def test_budget_remaining_after_a_fifth_of_the_budget_is_used() -> None:
    # Pinboard's figure: ~20 % monthly budget usage at 99.9 % → 0.02 % errors over the month.
    assert budget_remaining(0.0002, 0.999) == pytest.approx(0.8)
    assert budget_remaining(0.002, 0.999) == pytest.approx(-1.0)  # overspent


def test_run_budget_spent_counts_only_bad_events_beyond_the_baseline() -> None:
    # 100 req/s over 30 d at 99.9 % → a budget of 259 200 bad requests.
    assert period_budget_events(0.999, 100.0, MONTH) == pytest.approx(259_200)
    # The run saw 6 000 requests, 1 000 bad, where the baseline (0.1 %) would have given 6.
    assert extra_bad_events(1000, 6000, 0.001) == pytest.approx(994)
    assert run_budget_spent(1000, 6000, 0.001, 0.999, 100.0, MONTH) == pytest.approx(994 / 259_200)
    # Fewer bad events than the baseline predicts: the run spent nothing (never negative).
    assert run_budget_spent(2, 6000, 0.001, 0.999, 100.0, MONTH) == 0.0
    # No expected traffic: any extra bad event is an infinite share.
    assert math.isinf(run_budget_spent(5, 5, 0.0, 0.999, 0.0, MONTH))


@given(
    share=st.floats(min_value=1e-6, max_value=1.0),
    window=st.floats(min_value=1.0, max_value=MONTH),
)
def test_burn_for_budget_inverts_budget_consumed(share: float, window: float) -> None:
    assert budget_consumed(burn_rate_for_budget(share, window, MONTH), window, MONTH) == pytest.approx(share)
