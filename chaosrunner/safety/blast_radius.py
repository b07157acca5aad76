"""The declared blast radius and the pure check of resolved targets against it.

Every dimension is checked on its own so a refusal says exactly which limit was exceeded, with the
numbers (``plan`` prints them). A dimension that is not declared is not limited (and reported so).

* ``services`` / ``tiers``: allowlists; a target outside is out of scope.
* ``max_targets``: how many targets the run may touch.
* ``max_percent``: per service, chosen targets as a share of that service's population in the
  inventory (ratio, e.g. ``25%`` → 0.25).
* ``zones`` / ``regions``: how many distinct zones / regions the chosen targets may span.
* ``regions.takeover`` (with ``region_outage: true``: the fault takes regions out): the regions whose
  every target is chosen are out, and the regions left must be able to take over their reads, by their
  types (:mod:`chaosrunner.core.regions`); what they cannot take over (writes, when no Full region is
  left) is named in the check.
* ``max_duration`` (seconds) and ``error_budget`` (ratio of the SLO period's budget) are enforced by
  the guard while the run is live, not here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.core import regions
from chaosrunner.experiment.spec import BlastRadius
from chaosrunner.inventory.base import Target


@dataclass
class Check:
    """One preflight check: ``numbers`` carries the measured and allowed values for ``plan``."""

    name: str
    ok: bool
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "numbers": dict(self.numbers)}


def _allowlist(name: str, allowed: list[str] | None, values: Sequence[str], what: str) -> Check:
    touched = sorted(set(values))
    if allowed is None:
        return Check(name, True, f"{what}s not limited", {"touched": touched})
    outside = sorted(set(values) - set(allowed))
    numbers = {"touched": touched, "allowed": sorted(allowed), "outside": outside}
    if outside:
        return Check(
            name, False, f"{what} {', '.join(outside)} outside the allowlist {sorted(allowed)}", numbers
        )
    return Check(name, True, f"{what}s {touched} within {sorted(allowed)}", numbers)


def _at_most(name: str, limit: int | None, values: Sequence[str], what: str) -> Check:
    touched = sorted(set(values) - {""})
    numbers = {"count": len(touched), "limit": limit, "touched": touched}
    if limit is None:
        return Check(name, True, f"{what}s not limited ({len(touched)} touched)", numbers)
    if len(touched) > limit:
        return Check(
            name, False, f"{len(touched)} {what}s touched ({', '.join(touched)}), limit {limit}", numbers
        )
    return Check(name, True, f"{len(touched)} {what}(s) touched, limit {limit}", numbers)


def check_targets(br: BlastRadius, chosen: Sequence[Target], population: Sequence[Target]) -> list[Check]:
    """Pure: one Check per blast-radius dimension for ``chosen`` targets out of ``population``."""
    checks = [
        _allowlist("blast_radius.services", br.services, [t.service for t in chosen], "service"),
        _allowlist("blast_radius.tiers", br.tiers, [t.tier for t in chosen], "tier"),
    ]
    n = len(chosen)
    if br.max_targets is None:
        checks.append(
            Check("blast_radius.max_targets", True, f"count not limited ({n} targets)", {"count": n})
        )
    else:
        numbers = {"count": n, "limit": br.max_targets}
        ok = n <= br.max_targets
        checks.append(Check("blast_radius.max_targets", ok, f"{n} targets, limit {br.max_targets}", numbers))
    checks.append(_percent(br.max_percent, chosen, population))
    checks.append(_at_most("blast_radius.zones", br.zones, [t.zone for t in chosen], "zone"))
    checks.append(_at_most("blast_radius.regions", br.regions, [t.region for t in chosen], "region"))
    if br.region_outage:
        checks.append(takeover_check(chosen, population))
    return checks


def takeover_check(chosen: Sequence[Target], population: Sequence[Target]) -> Check:
    """Pure: can the regions left take over from the regions the chosen targets take out entirely?"""
    types = {t.region: t.labels.get("region_type", "") for t in population if t.region}
    ids = {t.id for t in chosen}
    out = sorted(r for r in types if all(t.id in ids for t in population if t.region == r))
    left = sorted(set(types) - set(out))
    numbers: dict[str, Any] = {"regions_out": out, "regions_left": {r: types[r] for r in left}}
    if not out:
        return Check("regions.takeover", True, "no whole region taken out", numbers)
    if not any(types[r] for r in out):
        return Check("regions.takeover", True, f"regions {out} have no region type: takeover not checked",
                     numbers)
    full_left = any(types[r] == "Full" for r in left)
    can = regions.takeover((types[r] for r in left), full_database_reachable=True)
    numbers["takes_over"] = sorted(can)
    if "reads" not in can:
        return Check("regions.takeover", False,
                     f"taking out {', '.join(out)} leaves no region that can serve reads "
                     f"(left: {', '.join(f'{r} ({types[r]})' for r in left) or 'none'})", numbers)
    lost = [] if full_left else ["writes" if not can & {"writes"} else
                                 "writes unless the Full region's database stays reachable"]
    numbers["lost"] = lost
    left_text = ", ".join(f"{r} ({types[r]})" for r in left)
    return Check("regions.takeover", True,
                 f"{', '.join(out)} out: {left_text} take over {', '.join(sorted(can))}"
                 + (f"; {lost[0]} lost" if lost else ""), numbers)


def _percent(limit: float | None, chosen: Sequence[Target], population: Sequence[Target]) -> Check:
    by_service = Counter(t.service for t in chosen)
    sizes = Counter(t.service for t in population)
    shares = {s: (c / sizes[s] if sizes[s] else 1.0) for s, c in by_service.items()}
    worst = max(shares.items(), key=lambda kv: kv[1], default=("", 0.0))
    numbers = {
        "percent": round(worst[1] * 100, 4),
        "limit_percent": None if limit is None else round(limit * 100, 4),
        "by_service": {s: {"chosen": by_service[s], "population": sizes[s]} for s in sorted(by_service)},
    }
    if limit is None:
        return Check("blast_radius.max_percent", True, "percent not limited", numbers)
    if worst[1] > limit + 1e-12:
        s = worst[0]
        detail = (
            f"{by_service[s]} of {sizes[s]} {s or 'unnamed'} targets = {worst[1] * 100:.1f}%, "
            f"limit {limit * 100:g}%"
        )
        return Check("blast_radius.max_percent", False, detail, numbers)
    return Check(
        "blast_radius.max_percent",
        True,
        f"at most {worst[1] * 100:.1f}% of a service, limit {limit * 100:g}%",
        numbers,
    )


def touched(chosen: Sequence[Target]) -> dict[str, Any]:
    """What a run touches, for the journal's ``blast_radius.touched``."""
    return {
        "targets": len(chosen),
        "zones": sorted({t.zone for t in chosen} - {""}),
        "regions": sorted({t.region for t in chosen} - {""}),
        "services": sorted({t.service for t in chosen} - {""}),
    }
