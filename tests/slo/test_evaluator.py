"""The guard's pure decisions, fed with readings (no server, no thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaosrunner.experiment.spec import SloGuardSpec
from chaosrunner.guard.evaluator import Evaluator, Reading
from chaosrunner.slo.catalog import load_catalog, scopes_for

CAT = {
    "slos": [
        {
            "name": "avail",
            "service": "pinboard",
            "objective": 99.9,
            "window": "30d",
            "sli": {
                "type": "error_ratio",
                "bad": 'sum(rate(r{code="500",{{selector}}}[{{window}}]))',
                "total": "sum(rate(r{ {{selector}} }[{{window}}]))",
            },
        }
    ]
}


def evaluator(tmp_path: Path, allowance: float | None = None, **spec: object) -> Evaluator:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(CAT))
    slo = load_catalog([p]).get("avail")
    scopes = {"avail": scopes_for(slo, {"pinboard"}, {"a"}, {"r"})}
    return Evaluator(SloGuardSpec(slos=["avail"], **spec), [slo], scopes, allowance)


def sample(in_bad: float, out_bad: float = 0.0, total: float = 100.0) -> list[Reading]:
    return [
        Reading("avail", "in", in_bad, total),
        Reading("avail", "service", in_bad + out_bad, 2 * total),
        Reading("avail", "out:zone", out_bad, total),
    ]


def test_burn_must_stay_above_the_limit_for_consecutive_samples(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, abort_on={"burn_rate": 14.4, "consecutive": 3})
    assert ev.evaluate(sample(2.0), 1, 1)[0] is None  # 2 % → 20x
    assert ev.evaluate(sample(0.0), 2, 1)[0] is None  # back to 0 resets the count
    assert ev.evaluate(sample(2.0), 3, 1)[0] is None
    assert ev.evaluate(sample(2.0), 4, 1)[0] is None
    reason, record = ev.evaluate(sample(2.0), 5, 1)
    assert reason is not None and "20.0x on avail (in scope)" in reason
    assert record["slos"]["avail"] == {"sli": 0.02, "burn_rate": pytest.approx(20.0), "scope": "in"}
    assert ev.first_breach_elapsed_s == 1


def test_out_of_scope_degradation_uses_its_own_limit(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, out_of_scope={"burn_rate": 2, "consecutive": 1})
    reason, _ = ev.evaluate(sample(0.0, out_bad=0.5), 1, 1)  # 0.5 % → 5x out of zone
    assert reason is not None and "escaped the blast radius" in reason


def test_out_of_scope_can_be_switched_off(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, out_of_scope=False)
    for i in range(5):
        assert ev.evaluate(sample(0.0, out_bad=50.0), i, 1)[0] is None


def test_unavailable_in_scope_data_fails_closed_after_m_samples(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, unavailable_after=2)
    gone = [Reading("avail", "in", error="unreachable: refused"), Reading("avail", "service", error="x"),
            Reading("avail", "out:zone", error="x")]
    assert ev.evaluate(gone, 1, 1)[0] is None
    reason, record = ev.evaluate(gone, 2, 1)
    assert reason is not None and "fail closed" in reason and "unreachable: refused" in reason
    assert record["slos"]["avail"]["sli"] is None


def test_zero_traffic_in_scope_counts_as_unavailable(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, unavailable_after=1)
    reason, _ = ev.evaluate(sample(0.0, total=0.0), 1, 1)
    assert reason is not None and "no traffic" in reason


def test_budget_allowance_counts_extra_bad_events_over_the_baseline(tmp_path: Path) -> None:
    ev = evaluator(tmp_path, allowance=0.01, abort_on={"burn_rate": 1e9})
    b = ev.budgets["avail"]
    b.baseline_ratio, b.baseline_total_rate = 0.001, 200.0
    # period budget = 0.001 × 200/s × 30 d = 518 400 bad events; 1 % of it = 5 184.
    # in-scope 10 bad/s + 0 out → service bad 10/s, total 200/s → extra 9.8/s.
    for t in range(1, 600):
        reason, rec = ev.evaluate(sample(10.0), t, 1.0)
        if reason:
            break
    assert reason is not None and "allowance is 1%" in reason
    assert t == 529  # ceil(5 184 / 9.8) samples of 1 s
    assert ev.budget_summary()["spent"] >= 0.01
