"""The guard at scale: one sample of 5, 50 and 150 SLOs at 1 s, against a real Prometheus.

Each SLO is read in three scopes (in, service-wide, out of scope) with two rate queries each, plus the
quantile in scope for latency SLOs: 50 SLOs are ~325 PromQL expressions per sample. The guard keeps a 1 s
interval only if one sample's reads finish well inside it. Three ways, alternating in the same run, median
of ``--rounds`` samples each, against the guard test estate's Prometheus (the test service, 1 s scrapes):

* ``one by one`` — one HTTP request per expression, one after the other (how the guard read before);
* ``batched`` — ``BATCH`` readings per request (expressions tagged and joined with ``or``), one after the other;
* ``batched ×N`` — the same, ``READ_CONCURRENCY`` requests at a time (what the guard does now).

The growth columns are the time per sample over the time at 5 SLOs divided by the size ratio: 1.0 is linear.

Run: ``.venv/bin/python -m bench.guard_scale [--rounds 15]``; writes bench/results/guard_scale.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "guard_scale.json"
SIZES = (5, 50, 150)
MODES = ("one by one", "batched", "batched xN")


class OneByOne:
    """The source without its batched read: every expression is its own request (how the guard read before)."""

    def __init__(self, source: object) -> None:
        self.scalar = source.scalar  # type: ignore[attr-defined]


def catalog(n: int, base: dict[str, Any]) -> dict[str, Any]:
    """``n`` SLOs: copies of the estate's availability and latency SLOs under new names."""
    avail, latency = (next(s for s in base["slos"] if s["name"] == name)
                      for name in ("pinboard-availability", "pinboard-latency"))
    return {"slos": [{**copy.deepcopy(avail if i % 2 == 0 else latency), "name": f"slo-{i:03d}"} for i in range(n)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from chaosrunner.experiment.spec import BlastRadius, SloGuardSpec
    from chaosrunner.guard.sampler import BATCH, READ_CONCURRENCY, Guard
    from chaosrunner.inventory.base import Target
    from chaosrunner.slo.catalog import load_catalog
    from chaosrunner.slo.prometheus import PrometheusSource
    from tests.guard.estate import CATALOG, start_estate

    target = Target(id="pinboard-us-east-a-1", service="pinboard", region="us-east", zone="us-east-a")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        estate = start_estate(Path(tmp) / "estate")
        try:
            guards = {}
            for n in SIZES:
                path = Path(tmp) / f"slos-{n}.yaml"
                path.write_text(yaml.safe_dump(catalog(n, CATALOG)))
                spec = SloGuardSpec(slos=[f"slo-{i:03d}" for i in range(n)], interval="1s",
                                    out_of_scope={"burn_rate": 5, "consecutive": 3})
                guards[n] = Guard(spec, BlastRadius(), [target], load_catalog([path]),
                                  PrometheusSource(estate.prometheus.url, timeout_s=3.0))
            times: dict[tuple[int, str], list[float]] = {}
            batching = {n: g.source for n, g in guards.items()}
            for _ in range(args.rounds):
                for n, g in guards.items():
                    for mode in MODES:
                        g.source = OneByOne(batching[n]) if mode == "one by one" else batching[n]
                        g.read_concurrency = READ_CONCURRENCY if mode == "batched xN" else 1
                        t0 = time.perf_counter()
                        readings = g._read(g.queries)
                        times.setdefault((n, mode), []).append(time.perf_counter() - t0)
                        failed = [r for r in readings if r.error and not r.error.startswith("empty")]
                        if failed:
                            raise SystemExit(f"{n} SLOs: a reading failed: {failed[0].error}")
            for n, g in guards.items():
                queries = sum(2 + (1 if q.quantile else 0) for q in g.queries)
                ms = {mode: round(statistics.median(times[(n, mode)]) * 1000, 1) for mode in MODES}
                rows.append({"slos": n, "readings": len(g.queries), "queries": queries,
                             **{f"{k.replace(' ', '_')}_ms": v for k, v in ms.items()},
                             "speedup": round(ms["one by one"] / ms["batched xN"], 2),
                             "concurrency": READ_CONCURRENCY, "batch": BATCH})
        finally:
            estate.stop()
    base = rows[0]
    for r in rows:
        size = r["slos"] / base["slos"]
        r["growth_one_by_one"] = round(r["one_by_one_ms"] / base["one_by_one_ms"] / size, 2)
        r["growth_batched_xN"] = round(r["batched_xN_ms"] / base["batched_xN_ms"] / size, 2)
        r["fits_1s_interval"] = r["batched_xN_ms"] < 500  # half the interval: room for the decision and a slow query
    head = (f"{'SLOs':>5} {'readings':>9} {'exprs':>6} {'one by one ms':>14} {'batched ms':>11} "
            f"{f'batched x{READ_CONCURRENCY} ms':>15} {'speed-up':>9} {'growth old/new':>15} {'< 0.5 s':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['slos']:>5} {r['readings']:>9} {r['queries']:>6} {r['one_by_one_ms']:>14} {r['batched_ms']:>11} "
              f"{r['batched_xN_ms']:>15} {r['speedup']:>8}x {r['growth_one_by_one']:>7}/{r['growth_batched_xN']:<7} "
              f"{'yes' if r['fits_1s_interval'] else 'no':>8}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2))
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
