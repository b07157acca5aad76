"""Over-aggressive variants: refused by preflight (exit 4) or aborted by the guard (exit 3), and the
sandbox is back to steady state afterwards — verified from its real state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.conftest import EXPERIMENTS, Sandbox, wait_history, wait_steady

pytestmark = pytest.mark.slow

AGGRESSIVE = EXPERIMENTS / "aggressive"


@pytest.mark.parametrize(
    ("name", "refused_because"),
    [
        ("mon-instance-kill", "2 targets, limit 1"),
        ("wed-resource-starvation", "targets, limit 1"),
        ("fri-regional-failover", "region"),
    ],
)
def test_refused_by_preflight_and_nothing_injected(
    sandbox: Sandbox, run_experiment: Any, name: str, refused_because: str
) -> None:
    from chaosrunner.drivers.sandbox.state import load_state, steady_state_problems

    run = run_experiment(AGGRESSIVE / f"{name}.yaml")
    assert run.exit_code == 4, run.result
    assert run.result["verdict"] == "refused"
    assert refused_because in run.result["reason"]
    assert run.journal["chaosrunner"]["activities"] == []
    assert steady_state_problems(load_state(state=str(sandbox.state_path))) == []


@pytest.mark.parametrize(
    ("name", "slos"),
    [
        # 2 s per query: p99 far above 200 ms, and queries that outlive the 2 s statement timeout answer 503 —
        # whichever SLO crosses 14.4x first for 2 samples aborts the run
        ("tue-latency", ("pinboard-latency", "pinboard-availability")),
        ("thu-database-failover", ("pinboard-availability",)),
        # both CDN edges dark: nowhere to switch to, every fetch fails (200x) — the 10 s guard aborts
        ("cdn-outage", ("pinboard-cdn-availability",)),
        # the app tier cut from both database nodes: reads fail too
        ("partition-database", ("pinboard-client-read-availability", "pinboard-read-availability")),
    ],
)
def test_aborted_by_the_guard_and_rolled_back(
    sandbox: Sandbox, run_experiment: Any, name: str, slos: tuple[str, ...]
) -> None:
    wait_history(sandbox)  # the statistics below need a baseline of quiet readings
    run = run_experiment(AGGRESSIVE / f"{name}.yaml")
    assert run.exit_code == 3, f"{run.result}\n{run.stderr[-3000:]}"
    ch = run.journal["chaosrunner"]
    assert ch["verdict"] == "aborted"
    assert any(slo in ch["abort"]["reason"] for slo in slos), ch["abort"]
    assert all(r["status"] == "succeeded" for r in run.journal["rollbacks"]), run.journal["rollbacks"]
    assert all(e["outcome"] == "undone" for e in ch["ledger"]), ch["ledger"]
    assert ch["timings"]["time_to_abort_s"] < 30
    # the statistical verdict sees the shift that aborted the run on the SLO that aborted it
    from tests.catalog.test_weekly import _steady_state_verdicts

    verdicts = _steady_state_verdicts(run)
    breached = next(slo for slo in verdicts if slo in ch["abort"]["reason"])
    during = verdicts[breached].during
    assert during is not None and during.significant and during.difference > 0, verdicts[breached].sentence
    assert wait_steady(sandbox) == []
