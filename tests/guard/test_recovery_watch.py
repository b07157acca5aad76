"""The recovery watch, without servers: it keeps its readings as ``phase: recovery`` samples (the
journal's recovery window), requires ``recovery_sustain``, and after an abort gives up on a dead source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from chaosrunner.core.clock import FakeClock
from chaosrunner.experiment.spec import SloGuardSpec
from chaosrunner.guard.sampler import Guard
from chaosrunner.inventory.base import Target
from chaosrunner.slo.catalog import SloCatalog, parse_catalog
from chaosrunner.slo.prometheus import EmptyResult, MalformedAnswer, PrometheusUnreachable

CATALOG = {
    "slos": [
        {
            "name": "shop-availability",
            "service": "shop",
            "objective": "99%",
            "window": "30d",
            "sli": {
                "type": "error_ratio",
                "bad": "sum(rate(bad{ {{selector}} }[{{window}}]))",
                "total": "sum(rate(total{ {{selector}} }[{{window}}]))",
            },
        }
    ]
}


class ScriptedSource:
    """Error ratio per poll from a script; every total read moves the fake clock one second."""

    FAILURES = {None: PrometheusUnreachable("connection refused"),
                "malformed": MalformedAnswer("answered NoneType"), "empty": EmptyResult("no series")}

    def __init__(self, clock: FakeClock, ratios: list[float | str | None]) -> None:
        self.clock = clock
        self.ratios: Iterator[float | str | None] = iter(ratios)

    def scalar(self, promql: str) -> float:
        if promql.startswith("sum(rate(bad"):
            current = next(self.ratios, 0.0)
            if current is None or isinstance(current, str):
                self.clock.advance(1.0)
                raise self.FAILURES[current]
            return current * 100
        self.clock.advance(1.0)
        return 100.0


def guard(ratios: list[float | str | None], **spec: object) -> tuple[Guard, FakeClock]:
    c = parse_catalog(CATALOG, "probes/test.yaml")
    catalog = SloCatalog(slos={s.name: s for s in c.slos}, probes={})
    clock = FakeClock(datetime(2026, 12, 1, 12, tzinfo=UTC))
    g = Guard(
        SloGuardSpec(slos=["shop-availability"], interval=0.05, **spec),  # type: ignore[arg-type]
        None,
        [Target(id="shop-1", service="shop")],  # no zone or region: one "in" scope, the whole service
        catalog,
        ScriptedSource(clock, ratios),
        clock=clock,
    )
    return g, clock


def test_recovery_readings_are_kept_as_recovery_samples() -> None:
    g, _ = guard([0.5, 0.5, 0.001])
    r = g.wait_recovery(60)
    assert r.recovered and r.seconds == 3.0  # each poll takes 1 s of the fake clock
    phases = [s.get("phase") for s in g.summary()["samples"]]
    assert phases == ["recovery"] * 3
    assert g.summary()["samples"][0]["slos"]["shop-availability"]["burn_rate"] == 50.0


def test_recovery_must_hold_for_the_sustain_window() -> None:
    g, _ = guard([0.5, 0.001, 0.5, 0.001, 0.001, 0.001, 0.001], recovery_sustain="3s")
    r = g.wait_recovery(60)
    assert r.recovered and r.seconds == 4.0  # the blip at poll 3 restarted the stretch (polls end at 1, 2, 3 … s)


def test_a_dead_source_ends_the_watch_as_unknown() -> None:
    """After an abort and after a passing method alike: with Prometheus stopped, a short method ended
    before the guard gave up, and the watch then held the run for the whole deadline."""
    g, _ = guard([None] * 100, unavailable_after=3)
    r = g.wait_recovery(1800)
    assert not r.recovered and r.unknown
    assert r.reason.startswith("recovery unknown: the SLI source failed: shop-availability")
    assert "unreachable" in r.reason
    assert len(g.summary()["samples"]) == 3


def test_a_source_still_failing_at_the_deadline_is_unknown_not_unrecovered() -> None:
    """A hung Prometheus takes seconds per poll: the deadline comes before ``unavailable_after`` polls
    (seen on the sandbox's Friday: "not recovered within 60s: … no data (unreachable)")."""
    g, _ = guard([0.5] * 2 + [None] * 100, unavailable_after=30)
    r = g.wait_recovery(5)
    assert not r.recovered and r.unknown and "until the 5s deadline" in r.reason
    g, _ = guard([None] * 2 + [0.5] * 100, unavailable_after=30)
    r = g.wait_recovery(5)
    assert not r.recovered and not r.unknown and r.reason.startswith("not recovered within 5s: shop-availability")


def test_a_source_answering_garbage_ends_the_watch_as_unknown() -> None:
    """Prometheus answering ``result: null`` is as blind as a dead one: the watch must not hold the run
    for the whole recovery deadline (it did: 30 minutes)."""
    g, _ = guard(["malformed"] * 100, unavailable_after=3)
    r = g.wait_recovery(60)
    assert not r.recovered and "malformed" in r.reason
    assert len(g.summary()["samples"]) == 3


def test_no_traffic_is_not_a_failed_source_the_watch_keeps_waiting() -> None:
    g, _ = guard(["empty"] * 6 + [0.001], unavailable_after=3)
    r = g.wait_recovery(60)
    assert r.recovered and len(g.summary()["samples"]) == 7


def test_a_remaining_budget_over_minutes_of_a_30_day_window_is_unknown() -> None:
    g, _ = guard([0.001] * 10)
    g._baseline()  # the scripted Prometheus answers 100 steps of 1 h with data: 13.9 % of 30 days
    budget = g.summary()["budget"]
    assert budget["before"] is None and budget["after"] is None  # not 1 − the last minutes' burn
    assert budget["history_short"] == "shop-availability: Prometheus holds 13.9 % of the 30d SLO window"
