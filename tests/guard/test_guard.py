"""The guard against a real Prometheus 2.42 scraping the test service (tests/guard/service.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaosrunner.experiment.spec import BlastRadius, SloGuardSpec
from chaosrunner.guard.sampler import Guard
from chaosrunner.guard.sentinel import Sentinel
from chaosrunner.inventory.base import Target
from chaosrunner.safety import killswitch
from chaosrunner.slo.catalog import load_catalog
from chaosrunner.slo.prometheus import PrometheusSource
from tests.guard.estate import ServiceEstate

pytestmark = pytest.mark.slow

TARGET = Target(id="pinboard-us-east-a-1", service="pinboard", region="us-east", zone="us-east-a",
                tier="non-critical")


class Watched:
    """A guard plus what its callbacks saw."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.reasons: list[str] = []
        self.samples: list[dict[str, Any]] = []
        self.aborted = threading.Event()

    def wait_abort(self, timeout: float) -> str:
        assert self.aborted.wait(timeout), f"no abort within {timeout}s; last samples: {self.samples[-2:]}"
        return self.reasons[0]

    def wait_samples(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.samples) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.samples) >= n, f"{len(self.samples)} samples after {timeout}s"


@pytest.fixture
def make_guard(estate: ServiceEstate, isolated_state: Path) -> Callable[..., Watched]:
    made: list[Watched] = []

    def build(slos: list[str], targets: list[Target] | None = None, br: dict[str, Any] | None = None,
              **spec: Any) -> Watched:
        catalog = load_catalog([estate.catalog_path])
        holder: list[Watched] = []

        def on_abort(reason: str) -> None:
            holder[0].reasons.append(reason)
            holder[0].aborted.set()

        def record(sample: dict[str, Any]) -> None:
            holder[0].samples.append(sample)

        guard = Guard(
            SloGuardSpec(slos=slos, interval="500ms", **{"baseline_window": "5s", **spec}),
            BlastRadius(**(br or {})),
            targets if targets is not None else [TARGET],
            catalog,
            PrometheusSource(estate.prometheus.url, timeout_s=1.0),
            on_abort=on_abort,
            record=record,
        )
        w = Watched(guard)
        holder.append(w)
        made.append(w)
        return w

    yield build
    for w in made:
        w.guard.stop()


def test_aborts_when_in_scope_burn_rate_exceeds_the_limit(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-availability"], abort_on={"burn_rate": 14.4, "consecutive": 2})
    w.guard.start()
    w.wait_samples(2, 10)
    assert not w.reasons
    estate.control(match={"target": TARGET.id}, error_ratio=0.5)
    reason = w.wait_abort(15)
    assert "burn rate" in reason and "pinboard-availability" in reason and "in scope" in reason
    summary = w.guard.summary()
    assert summary["abort"]["reason"] == reason
    assert summary["decisions"][0]["action"] == "abort"
    assert summary["timings"]["time_to_abort_s"] >= summary["timings"]["time_to_detect_s"]
    last = summary["samples"][-1]["slos"]["pinboard-availability"]
    assert last["scope"] == "in" and last["burn_rate"] > 14.4


def test_no_abort_while_impact_stays_inside_scope_and_allowance(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(
        ["pinboard-availability", "pinboard-latency"],
        br={"error_budget": "1%", "max_duration": "5m"},
        abort_on={"burn_rate": 14.4, "consecutive": 2},
    )
    w.guard.start()
    estate.control(match={"target": TARGET.id}, error_ratio=0.01)  # zone ratio ~0.5 % → burn ~5x
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        burns = [s["slos"]["pinboard-availability"]["burn_rate"] or 0 for s in w.samples]
        if sum(1 for b in burns if b > 1) >= 6:
            break
        time.sleep(0.2)
    assert not w.reasons, w.reasons
    burns = [s["slos"]["pinboard-availability"]["burn_rate"] or 0 for s in w.samples]
    assert sum(1 for b in burns if b > 1) >= 6, "the fault never showed in the SLI"
    assert max(burns) < 14.4
    out = [s["slos"]["pinboard-availability@out:zone"]["burn_rate"] for s in w.samples]
    assert all(b == 0 for b in out if b is not None)
    budget = w.guard.summary()["budget"]
    assert 0 < budget["spent"] < 0.01 and budget["allowance"] == pytest.approx(0.01)


def test_aborts_when_the_same_slo_degrades_in_another_zone(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-availability"], abort_on={"burn_rate": 1000, "consecutive": 2})
    w.guard.start()
    estate.control(match={"target": "pinboard-us-west-a-1"}, error_ratio=0.5)
    reason = w.wait_abort(15)
    assert "escaped the blast radius" in reason and "outside the targeted zones" in reason


def test_aborts_when_a_service_outside_the_blast_radius_degrades(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-availability", "search-availability"], abort_on={"burn_rate": 1000})
    w.guard.start()
    estate.control(match={"service": "search"}, error_ratio=0.2)
    reason = w.wait_abort(15)
    assert "search-availability" in reason and "not targeted" in reason


def test_latency_slo_aborts_on_slow_requests(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-latency"], out_of_scope=False)
    w.guard.start()
    estate.control(match={"target": TARGET.id}, latency_s=0.3)
    reason = w.wait_abort(15)
    assert "pinboard-latency" in reason and "burn rate" in reason
    sample = w.samples[-1]["slos"]["pinboard-latency"]
    assert sample["burn_rate"] > 14.4 and sample["quantile_s"] > 0.2


def test_fails_closed_when_prometheus_is_killed_mid_run(fresh_estate: ServiceEstate, isolated_state: Path) -> None:
    reasons: list[str] = []
    aborted = threading.Event()
    samples: list[dict[str, Any]] = []
    guard = Guard(
        SloGuardSpec(slos=["pinboard-availability"], interval="500ms", unavailable_after=3),
        BlastRadius(),
        [TARGET],
        load_catalog([fresh_estate.catalog_path]),
        PrometheusSource(fresh_estate.prometheus.url, timeout_s=1.0),
        on_abort=lambda r: (reasons.append(r), aborted.set()),
        record=samples.append,
    )
    guard.start()
    try:
        w = Watched(guard)
        w.samples, w.reasons, w.aborted = samples, reasons, aborted
        w.wait_samples(2, 10)
        assert not reasons
        fresh_estate.prometheus.kill()
        reason = w.wait_abort(15)
    finally:
        guard.stop()
    assert "unavailable" in reason and "fail closed" in reason and "unreachable" in reason


def test_aborts_when_the_run_spends_its_budget_allowance(estate: ServiceEstate, make_guard) -> None:
    # 99 % over 1 h at ~200 req/s: the period's budget is ~7 200 bad requests; 0.5 % of it is ~36.
    w = make_guard(["pinboard-availability-1h"], br={"error_budget": "0.5%"}, out_of_scope=False,
                   abort_on={"burn_rate": 1000})
    w.guard.start()
    w.wait_samples(2, 10)
    estate.control(match={"target": TARGET.id}, error_ratio=0.2)
    reason = w.wait_abort(30)
    assert "allowance" in reason and "pinboard-availability-1h" in reason
    assert w.guard.summary()["budget"]["spent"] >= 0.005


def _sentinel_for(w: Watched, **kw: Any) -> Sentinel:
    def on_abort(reason: str) -> None:
        w.reasons.append(reason)
        w.aborted.set()

    sentinel = Sentinel(on_abort, **kw)
    sentinel.watch_guard(w.guard)
    return sentinel.start()


def test_kill_switch_aborts_a_guarded_run(estate: ServiceEstate, make_guard, isolated_state: Path) -> None:
    """The run's sentinel watches the kill switch beside a sampling guard (and without one: test_sentinel)."""
    w = make_guard(["pinboard-availability"])
    w.guard.start()
    w.wait_samples(1, 10)
    sentinel = _sentinel_for(w)
    try:
        killswitch.engage("game day over")
        reason = w.wait_abort(5)
    finally:
        sentinel.stop()
    assert reason == "kill switch engaged: game day over"


def test_max_duration_aborts(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-availability"], br={"max_duration": "2s"})
    w.guard.start()
    sentinel = _sentinel_for(w, max_duration_s=2.0)
    sentinel.method_started()
    try:
        reason = w.wait_abort(10)
    finally:
        sentinel.stop()
    assert reason == "max_duration 2s reached"
    assert not w.guard.health()  # the guard itself was healthy all along


def test_recovery_watch_reports_recovery_and_its_absence(estate: ServiceEstate, make_guard) -> None:
    w = make_guard(["pinboard-availability"], abort_on={"burn_rate": 1000}, out_of_scope=False)
    w.guard.start()
    estate.control(match={"target": TARGET.id}, error_ratio=0.5)
    w.wait_samples(4, 10)
    w.guard.stop()
    still = w.guard.wait_recovery(1.0)
    assert not still.recovered and "burns" in still.reason and still.seconds is None
    estate.reset()
    rec = w.guard.wait_recovery(30)
    assert rec.recovered and rec.seconds is not None and rec.seconds > 0
    assert w.guard.summary()["timings"]["time_to_recover_s"] == rec.seconds


def test_health_probes_pass_while_healthy_and_abort_when_one_fails(estate: ServiceEstate, make_guard) -> None:
    ok = make_guard(["pinboard-availability"], probes=["svc-health"], abort_on={"burn_rate": 1000})
    ok.guard.start()
    ok.wait_samples(3, 10)
    assert not ok.reasons
    assert ok.samples[-1]["probes"]["svc-health"]["ok"] is True
    ok.guard.stop()
    bad = make_guard(["pinboard-availability"], probes=["svc-health", "dead-health"])
    bad.guard.start()
    reason = bad.wait_abort(10)
    assert reason.startswith("health probe dead-health failed 2 consecutive times")
