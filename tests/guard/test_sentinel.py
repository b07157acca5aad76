"""The sentinel, pure: every check, and its own failure, ends in an abort (no threads, a fake clock)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chaosrunner.core.clock import FakeClock
from chaosrunner.guard.sentinel import Sentinel
from chaosrunner.safety import killswitch


class StaleGuard:
    def __init__(self, problem: str | None) -> None:
        self.problem = problem

    def health(self) -> str | None:
        return self.problem


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def test_kill_switch_is_watched_without_any_slo_guard(home: Path) -> None:
    s = Sentinel(lambda reason: None)
    assert s.check() is None
    killswitch.engage("incident 1234")
    assert s.check() == "kill switch engaged: incident 1234"


def test_max_duration_counts_from_the_method(home: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    s = Sentinel(lambda reason: None, max_duration_s=10, clock=clock)
    clock.advance(60)
    assert s.check() is None  # the method has not started
    s.method_started()
    clock.advance(9.9)
    assert s.check() is None
    clock.advance(0.2)
    assert s.check() == "max_duration 10s reached"


def test_an_unhealthy_guard_aborts_the_run(home: Path) -> None:
    s = Sentinel(lambda reason: None)
    s.watch_guard(StaleGuard(None))
    assert s.check() is None
    s.watch_guard(StaleGuard("no SLO sample for 2.1s (interval 1s)"))
    assert s.check() == "SLO guard unavailable (fail closed): no SLO sample for 2.1s (interval 1s)"


def test_a_sentinel_that_cannot_check_aborts(home: Path) -> None:
    reasons: list[str] = []

    class Broken:
        def health(self) -> str | None:
            raise RuntimeError("boom")

    s = Sentinel(reasons.append, period_s=0.01)
    s.watch_guard(Broken())
    s.start()
    deadline = time.monotonic() + 5
    while not reasons and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    assert reasons == ["the run's sentinel failed (fail closed): RuntimeError: boom"]


class Exploding:
    """An SLI source whose answers break the guard's code path (not an SliUnavailable)."""

    def __init__(self) -> None:
        self.calls = 0

    def scalar(self, promql: str) -> float:
        self.calls += 1
        if self.calls > 6:
            raise RuntimeError("unexpected answer shape")
        return 1.0


def test_an_exception_in_the_sampler_aborts_with_the_error(home: Path, tmp_path: Path) -> None:
    from chaosrunner.experiment.spec import BlastRadius, SloGuardSpec
    from chaosrunner.guard.sampler import Guard
    from chaosrunner.slo.catalog import load_catalog

    catalog = tmp_path / "slos.yaml"
    catalog.write_text(
        "slos:\n  - name: svc-availability\n    service: svc\n    objective: 99.9\n    window: 30d\n"
        "    sli:\n      type: error_ratio\n      bad: 'sum(rate(bad{ {{selector}} }[{{window}}]))'\n"
        "      total: 'sum(rate(all{ {{selector}} }[{{window}}]))'\n"
    )
    reasons: list[str] = []
    guard = Guard(SloGuardSpec(slos=["svc-availability"], interval="50ms", out_of_scope=False),
                  BlastRadius(services=["svc"]), [],
                  load_catalog([catalog]), Exploding(), on_abort=reasons.append)
    guard.start()
    deadline = time.monotonic() + 5
    while not reasons and time.monotonic() < deadline:
        time.sleep(0.01)
    guard.stop()
    assert reasons == ["guard failed: RuntimeError: unexpected answer shape"]
    assert guard.health() == reasons[0]
