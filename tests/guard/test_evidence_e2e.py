"""Issue 16 end to end, real Prometheus + test service: recovery is watched after an abort, the RTO is
fault injected → restored as clients see it, and the baseline for the statistics is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosrunner.guard.statistics import steady_state_verdicts
from chaosrunner.journal import resilience
from chaosrunner.journal.store import parse_journal
from tests.guard.estate import ServiceEstate
from tests.guard.test_run_guarded import experiment, journal, run

pytestmark = pytest.mark.slow


def test_an_aborted_run_is_watched_until_clients_are_served_again(estate: ServiceEstate, tmp_path: Path) -> None:
    path = experiment(
        tmp_path,
        estate,
        slo_guard={
            "slos": ["pinboard-availability"],
            "abort_on": {"burn_rate": 14.4, "consecutive": 2},
            "recovery_sustain": "1s",
            "baseline_window": "20s",
        },
    )
    estate.hold_history(20)  # the baseline window: a young estate would hold only its first seconds
    code, result = run(path)
    doc = journal(result)
    cr = doc["chaosrunner"]
    assert code == 3 and cr["verdict"] == "aborted", cr["reason"]
    assert cr["guard"]["recovery"]["recovered"] is True, cr["guard"]["recovery"]
    phases = [s.get("phase") for s in cr["guard"]["samples"]]
    assert "recovery" in phases and phases[-1] == "recovery"
    assert len(cr["guard"]["baseline_samples"]["pinboard-availability"]) >= 5
    loaded = parse_journal(json.dumps(doc), Path("aborted.json"))
    rec = resilience.client_recovery(loaded.journal)
    assert rec.status == "restored" and rec.rto_s is not None and rec.after_rollback_s is not None
    assert rec.rto_s > cr["timings"]["time_to_abort_s"] - 1  # the clients' outage outlasts the decision
    assert cr["guard"]["budget"]["before"] is None and "SLO window" in cr["guard"]["budget"]["history_short"]
    verdicts = {v.sli: v for v in steady_state_verdicts(loaded.journal)}
    verdict = verdicts["pinboard-availability"]  # in scope (``@service`` is the whole service)
    # an abort within ~2 s leaves a handful of fault samples: the verdict must say so, or find the shift
    assert verdict.during is not None and (verdict.during.significant or verdict.during.underpowered)
    assert verdict.during.significant or "too few samples to tell" in verdict.sentence
    print(f"RTO {rec.rto_s:.2f} s, restored {rec.after_rollback_s:.2f} s after rollback")
    for v in verdicts.values():
        print(v.sentence)
