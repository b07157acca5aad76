"""How cost grows with size: preflight's target selection, the monkey's year, the calendar's year of fires,
and a game-day report against a store of past runs — each at 1×, 10× and 100×.

* **preflight selection** over an inventory of 1,000 / 10,000 / 100,000 targets: select by labels, pick one,
  refuse-everything check, every blast-radius dimension (``inventory.base.select``,
  ``selector_problem``, ``safety.blast_radius.check_targets``);
* **monkey, a simulated year** over 100 / 1,000 / 10,000 eligible instances: ``plan_day`` for 365 days of
  the weekly calendar's Chaos Monkey entry;
* **calendar, a year of fires** for 10 / 100 / 1,000 entries (``next_fires``, window verdict per fire);
* **game-day report** of 50 runs against a store of 1,000 / 10,000 / 100,000 past runs (the month's chaos
  spend of each run is read from the store): ``report.html.render_html``.

For each, median of ``--rounds`` and the growth exponent between sizes: ``log(t2/t1) / log(size2/size1)``
(1.0 linear; above ~1.2 grows faster than its size). Run: ``.venv/bin/python -m bench.scale [--rounds 3]``;
writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "scale.json"


def timed(fn: Callable[[], Any], rounds: int) -> float:
    xs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return statistics.median(xs)


def preflight_case(n: int) -> Callable[[], Any]:
    from chaosrunner.experiment.spec import BlastRadius
    from chaosrunner.inventory.base import Target, select, selector_problem
    from chaosrunner.safety.blast_radius import check_targets

    rng = random.Random(1)
    population = [Target(id=f"i-{k}", service=f"svc-{k % 50}", region=f"r{k % 3}", zone=f"z{k % 9}",
                         tier="critical" if k % 10 == 0 else "non-critical") for k in range(n)]
    br = BlastRadius(services=["svc-7"], max_targets=1, max_percent=0.05, zones=1, regions=1)

    def run() -> None:
        sel = {"service": "svc-7", "zone": "z7", "tier": "non-critical"}
        assert selector_problem(sel, population) is None
        _, chosen = select(population, sel, 1, rng)
        assert all(c.ok for c in check_targets(br, chosen, population))
    return run


def monkey_case(n: int) -> Callable[[], Any]:
    from chaosrunner.calendar.model import load_calendar
    from chaosrunner.schedule.monkey import Instance, plan_day

    cal = load_calendar(REPO / "schedules" / "weekly.yaml", check_files=False)
    instances = [Instance(f"i-{k}", f"z{k % 6}", {"tier": "non-critical"}) for k in range(n)]
    days = [date(2027, 1, 1) + timedelta(days=d) for d in range(365)]

    def run() -> None:
        kills = sum(len(plan_day(cal, "mon-chaos-monkey", d, instances).kills) for d in days)
        assert kills > 0
    return run


def calendar_case(n: int) -> Callable[[], Any]:
    from chaosrunner.calendar.model import load_calendar
    from chaosrunner.calendar.parts import WEEKDAYS
    from chaosrunner.calendar.triggers import next_fires

    base = load_calendar(REPO / "schedules" / "weekly.yaml", check_files=False)
    entry = next(e for e in base.entries if e.name == "tue-latency")
    entries = [entry.model_copy(update={"name": f"e-{k}", "days": [WEEKDAYS[k % 5]],
                                        "at": dtime(9 + k % 8, k % 60), "day": None})
               for k in range(n)]
    cal = base.model_copy(update={"entries": entries})
    start = datetime(2027, 1, 1, tzinfo=UTC)

    def run() -> None:
        assert next_fires(cal, start, start + timedelta(days=365))
    return run


def report_case(store_size: int) -> Callable[[], Any]:
    from chaosrunner.journal.store import parse_journal
    from chaosrunner.report.html import render_html
    from tests.review import journals as J

    base = datetime(2027, 3, 1, tzinfo=UTC)
    runs = [parse_journal(json.dumps(J.passed(base + timedelta(hours=k), seed=k, samples=60)), Path(f"r{k}.json"))
            for k in range(50)]
    one = runs[0].summary
    store = [dataclasses.replace(one, run_id=f"{one.run_id}-{k}", started_at=(base - timedelta(minutes=k)).isoformat(),
                                 budget_spent=0.0001) for k in range(store_size)]

    def run() -> None:
        assert len(render_html(copy.copy(runs), store=store)) > 0
    return run


CASES: dict[str, tuple[str, tuple[int, int, int], Callable[[int], Callable[[], Any]]]] = {
    "preflight selection": ("targets", (1_000, 10_000, 100_000), preflight_case),
    "monkey, a simulated year": ("instances", (100, 1_000, 10_000), monkey_case),
    "calendar, a year of fires": ("entries", (10, 100, 1_000), calendar_case),
    "game-day report of 50 runs": ("runs in the store", (1_000, 10_000, 100_000), report_case),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated case names (substrings)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    rows = []
    for name, (unit, sizes, make) in CASES.items():
        if args.only and not any(x in name for x in args.only.split(",")):
            continue
        times = [timed(make(n), args.rounds) for n in sizes]
        exps = [round(math.log(times[i + 1] / times[i]) / math.log(sizes[i + 1] / sizes[i]), 2) for i in range(2)]
        rows.append({"case": name, "unit": unit, "sizes": list(sizes), "seconds": [round(t, 4) for t in times],
                     "growth_exponents": exps})
        print(f"{name:<28} {unit:<18} " + "  ".join(f"{n:>7,}: {t * 1000:>9.1f} ms" for n, t in zip(sizes, times,
                                                                                                     strict=True))
              + f"   growth {exps[0]:.2f} / {exps[1]:.2f}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2))
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
