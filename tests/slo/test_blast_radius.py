"""Preflight refuses per blast-radius dimension, empty/match-everything selectors, the kill switch and
locked targets (static inventory: no server needed)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaosrunner.experiment.spec import BlastRadius
from chaosrunner.inventory.base import Target, TargetsSpec, select, selector_problem
from chaosrunner.safety import killswitch
from chaosrunner.safety.blast_radius import check_targets
from chaosrunner.safety.preflight import PreflightContext, run_preflight


def fleet() -> list[dict[str, Any]]:
    out = []
    for region in ("us-east", "us-west"):
        for z in ("a", "b"):
            for i in (1, 2):
                out.append({"id": f"pinboard-{region}-{z}-{i}", "service": "pinboard", "region": region,
                            "zone": f"{region}-{z}", "tier": "critical" if i == 1 and z == "a" else "non-critical"})
    out.append({"id": "search-us-east-a-1", "service": "search", "region": "us-east", "zone": "us-east-a",
                "tier": "critical"})
    return out


def preflight(select_: dict[str, str], pick: int | str = 1, **br: Any) -> Any:
    spec = TargetsSpec(inventory="static", select=select_, pick=pick, static=fleet())
    return run_preflight(PreflightContext(run_id="r1", targets=spec, blast_radius=BlastRadius(**br),
                                          rng=random.Random(7)))


def failed(result: Any) -> dict[str, str]:
    return {c.name: c.detail for c in result.checks if not c.ok}


def test_allows_one_non_critical_instance_in_one_zone() -> None:
    r = preflight({"service": "pinboard", "zone": "us-east-a", "tier": "non-critical"}, 1,
                  services=["pinboard"], tiers=["non-critical"], max_targets=1, max_percent="25%", zones=1,
                  regions=1)
    assert r.allowed, failed(r)
    assert [t.id for t in r.targets] == ["pinboard-us-east-a-2"]
    assert r.locks is not None
    r.locks.release()


def test_refuses_more_targets_than_max_targets() -> None:
    r = preflight({"service": "pinboard", "region": "us-east"}, 3, max_targets=2)
    assert not r.allowed
    assert failed(r) == {"blast_radius.max_targets": "3 targets, limit 2"}
    check = next(c for c in r.checks if c.name == "blast_radius.max_targets")
    assert check.numbers == {"count": 3, "limit": 2}


def test_refuses_when_targets_exceed_max_percent_of_the_service() -> None:
    r = preflight({"service": "pinboard", "region": "us-east"}, 3, max_percent="25%")
    assert "blast_radius.max_percent" in failed(r)
    assert "3 of 8 pinboard targets = 37.5%" in failed(r)["blast_radius.max_percent"]


def test_refuses_when_targets_span_two_zones() -> None:
    r = preflight({"service": "pinboard", "region": "us-east"}, "all", zones=1)
    assert "blast_radius.zones" in failed(r)
    assert "2 zones touched (us-east-a, us-east-b), limit 1" == failed(r)["blast_radius.zones"]


def test_refuses_when_targets_span_two_regions() -> None:
    r = preflight({"service": "pinboard", "tier": "non-critical"}, "all", regions=1)
    assert "blast_radius.regions" in failed(r)


def test_refuses_a_service_outside_the_allowlist() -> None:
    r = preflight({"zone": "us-east-a", "tier": "critical"}, "all", services=["pinboard"])
    assert "service search outside the allowlist" in failed(r)["blast_radius.services"]


def test_refuses_a_tier_outside_the_allowlist() -> None:
    r = preflight({"service": "pinboard", "zone": "us-east-a"}, "all", tiers=["non-critical"])
    assert "tier critical outside the allowlist" in failed(r)["blast_radius.tiers"]


@pytest.mark.parametrize(
    ("sel", "words"),
    [({}, "empty"), ({"service": "*"}, "wildcard"), ({"zone": ""}, "wildcard")],
)
def test_refuses_empty_or_wildcard_selectors(sel: dict[str, str], words: str) -> None:
    r = preflight(sel, 1)
    assert words in failed(r)["selector"]


def test_refuses_a_selector_that_matches_the_whole_inventory() -> None:
    spec = TargetsSpec(inventory="static", select={"service": "pinboard"}, static=fleet()[:8])
    r = run_preflight(PreflightContext(run_id="r", targets=spec))
    assert "matches all 8 targets" in failed(r)["selector"]


def test_refuses_a_selector_that_matches_nothing() -> None:
    r = preflight({"service": "nope"}, 1)
    assert "matches no target" in failed(r)["selector"]


def test_refuses_while_the_kill_switch_is_engaged(isolated_state: Path) -> None:
    killswitch.engage("incident 42")
    r = preflight({"service": "pinboard", "zone": "us-east-a"}, 1)
    assert failed(r) == {"kill_switch": "chaos is halted: incident 42"}
    assert r.locks is None
    killswitch.release()
    assert preflight({"service": "pinboard", "zone": "us-east-a"}, 1).allowed


def test_refuses_targets_locked_by_another_run() -> None:
    first = preflight({"service": "pinboard", "zone": "us-east-a"}, "all")
    assert first.allowed
    try:
        second = preflight({"service": "pinboard", "zone": "us-east-a"}, "all")
        assert "another run holds a lock" in failed(second)["target_locks"]
        assert "run r1" in failed(second)["target_locks"]
    finally:
        first.locks.release()


def test_undeclared_dimensions_are_reported_not_limited() -> None:
    checks = check_targets(BlastRadius(), [Target(id="x", service="s", zone="z")], [])
    assert all(c.ok for c in checks)
    assert {c.name for c in checks} == {
        "blast_radius.services", "blast_radius.tiers", "blast_radius.max_targets", "blast_radius.max_percent",
        "blast_radius.zones", "blast_radius.regions",
    }


def _region_targets(spec: dict[str, tuple[str, int]]) -> list[Target]:
    return [Target(id=f"{r}-{i}", service="s", region=r, zone=f"{r}-a", labels={"region_type": t})
            for r, (t, n) in spec.items() for i in range(n)]


def test_takeover_is_checked_only_for_a_region_outage_and_names_what_is_lost() -> None:
    from chaosrunner.safety.blast_radius import takeover_check

    pop = _region_targets({"us-east": ("Full", 2), "eu-west": ("Read-Only", 2), "ap-south": ("Lightweight", 1)})
    us = [t for t in pop if t.region == "us-east"]
    assert "regions.takeover" not in {c.name for c in check_targets(BlastRadius(), us, pop)}
    check = next(c for c in check_targets(BlastRadius(region_outage=True), us, pop) if c.name == "regions.takeover")
    assert check.ok and check.numbers["regions_out"] == ["us-east"]
    assert check.numbers["takes_over"] == ["reads", "writes"]  # the Lightweight region, over the Full database
    assert check.numbers["lost"] == ["writes unless the Full region's database stays reachable"]
    # without the Lightweight region, writes are simply lost
    two = [t for t in pop if t.region != "ap-south"]
    assert takeover_check(us, two).numbers["lost"] == ["writes"]
    # a Full region left: nothing lost; half a region chosen: no region out
    assert takeover_check([t for t in pop if t.region == "eu-west"], pop).numbers["lost"] == []
    assert takeover_check(us[:1], pop).detail == "no whole region taken out"


def test_takeover_refuses_an_outage_that_leaves_no_region_to_serve_reads() -> None:
    from chaosrunner.safety.blast_radius import takeover_check

    pop = _region_targets({"us-east": ("Full", 2), "ap-south": ("Lightweight", 1)})
    refused = takeover_check(pop, pop)
    assert not refused.ok and "leaves no region that can serve reads" in refused.detail
    lonely = _region_targets({"us-east": ("Full", 1), "edge": ("Unknown", 1)})
    refused = takeover_check(lonely[:1], lonely)
    assert not refused.ok and "edge (Unknown)" in refused.detail


def test_select_picks_randomly_among_matches_and_keeps_order() -> None:
    ts = [Target.from_dict(t) for t in fleet()]
    matching, chosen = select(ts, {"service": "pinboard"}, 3, random.Random(1))
    assert len(matching) == 8 and len(chosen) == 3
    assert [t.id for t in chosen] == [t.id for t in matching if t in chosen]
    assert selector_problem({"region": "us-east"}, ts) is None


def test_kill_switch_cli_halts_and_resumes(isolated_state: Path) -> None:
    from chaosrunner.cli import app

    r = CliRunner().invoke(app, ["halt", "--reason", "freeze for black friday"])
    assert r.exit_code == 0 and "freeze for black friday" in r.output
    assert killswitch.status().engaged and killswitch.status().reason == "freeze for black friday"
    assert CliRunner().invoke(app, ["halt"]).exit_code == 2
    r = CliRunner().invoke(app, ["resume", "--json"])
    assert r.exit_code == 0 and '"was_engaged": true' in r.output
    assert not killswitch.status().engaged


def test_corrupt_kill_switch_counts_as_engaged(isolated_state: Path) -> None:
    killswitch.path().parent.mkdir(parents=True, exist_ok=True)
    killswitch.path().write_text("{not json")
    assert killswitch.status().engaged


def test_calendar_window_is_checked_only_when_an_entry_is_named() -> None:
    from datetime import UTC, datetime

    repo = Path(__file__).resolve().parents[2]
    spec = TargetsSpec(inventory="static", select={"service": "pinboard", "zone": "us-east-a"}, static=fleet())
    weekly = repo / "schedules" / "weekly.yaml"
    # Tuesday 2026-11-10 10:30 in Los Angeles (18:30 UTC): inside business hours, no blackout.
    inside = datetime(2026, 11, 10, 18, 30, tzinfo=UTC)
    # Saturday 2026-11-14: not a work day.
    outside = datetime(2026, 11, 14, 18, 30, tzinfo=UTC)
    ok = run_preflight(PreflightContext(run_id="c1", targets=spec, calendar=weekly, entry="tue-latency",
                                        now=inside, acquire_locks=False))
    assert ok.allowed, failed(ok)
    assert any(c.name == "calendar_window" and c.ok for c in ok.checks)
    no = run_preflight(PreflightContext(run_id="c2", targets=spec, calendar=weekly, entry="tue-latency",
                                        now=outside, acquire_locks=False))
    assert list(failed(no)) == ["calendar_window"]
    plain = run_preflight(PreflightContext(run_id="c3", targets=spec, now=outside, acquire_locks=False))
    assert plain.allowed and not any(c.name == "calendar_window" for c in plain.checks)
