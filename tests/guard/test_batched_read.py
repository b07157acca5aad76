"""The guard reads a sample in batches: few requests, the same readings, the same failures."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

import yaml

from chaosrunner.experiment.spec import BlastRadius, SloGuardSpec
from chaosrunner.guard.sampler import BATCH, Guard
from chaosrunner.inventory.base import Target
from chaosrunner.slo.catalog import load_catalog
from chaosrunner.slo.prometheus import BadQuery, EmptyResult, PrometheusUnreachable
from chaosrunner.slo.source import SliUnavailable
from tests.guard.estate import CATALOG

TARGET = Target(id="pinboard-us-east-a-1", service="pinboard", region="us-east", zone="us-east-a")


class Source:
    """Answers every expression with its length (a number per expression, easy to check), counts requests;
    expressions containing ``absent`` have no data; ``fail`` makes the batched read fail with that error."""

    def __init__(self, fail: SliUnavailable | None = None) -> None:
        self.requests = 0
        self.fail = fail
        self.lock = threading.Lock()

    def scalar(self, promql: str) -> float:
        with self.lock:
            self.requests += 1
        if isinstance(self.fail, PrometheusUnreachable):
            raise self.fail
        if "absent" in promql:
            raise EmptyResult(f"no data for {promql!r}")
        return float(len(promql))

    def scalars(self, exprs: Sequence[str]) -> list[float | SliUnavailable]:
        with self.lock:
            self.requests += 1
        if self.fail is not None:
            raise self.fail
        return [EmptyResult(f"no data for {e!r}") if "absent" in e else float(len(e)) for e in exprs]


def guard(tmp_path: Path, n: int, source: Source) -> Guard:
    avail = next(s for s in CATALOG["slos"] if s["name"] == "pinboard-availability")
    slos = [{**copy.deepcopy(avail), "name": f"slo-{i:03d}"} for i in range(n)]  # shared dicts dump as aliases
    slos[1] = {**slos[1], "sli": {"type": "error_ratio", "bad": 'sum(rate(absent{ {{selector}} }[{{window}}]))',
                                  "total": avail["sli"]["total"]}}
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump({"slos": slos}))
    spec = SloGuardSpec(slos=[s["name"] for s in slos], out_of_scope={"burn_rate": 5, "consecutive": 3})
    return Guard(spec, BlastRadius(), [TARGET], load_catalog([path]), source)  # type: ignore[arg-type]


def test_fifty_slos_are_read_in_fifteen_requests_with_the_readings_one_by_one_would_give(tmp_path: Path) -> None:
    batched = guard(tmp_path, 50, Source())
    readings = batched._read(batched.queries)
    assert batched.source.requests == -(-len(batched.queries) // BATCH) == 15  # type: ignore[attr-defined]
    plain = guard(tmp_path, 50, Source())
    plain.read_concurrency = 1
    plain.source.scalars = None  # type: ignore[attr-defined]  # a source that cannot batch
    alone = plain._read(plain.queries)
    assert plain.source.requests == 2 * len(plain.queries) - 3  # type: ignore[attr-defined]  # slo-001: no data, no total
    assert [(r.slo, r.scope, r.bad_rate, r.total_rate, r.error) for r in readings] == \
        [(r.slo, r.scope, r.bad_rate, r.total_rate, r.error) for r in alone]
    assert readings[3].error is not None and readings[3].error.startswith("empty")  # slo-001 in scope: no data


def test_a_rejected_batch_is_read_one_query_at_a_time_and_a_dead_source_fails_every_reading(tmp_path: Path) -> None:
    g = guard(tmp_path, 5, Source(fail=BadQuery("scalar-typed")))
    readings = g._read(g.queries)
    assert all(r.error is None or r.error.startswith("empty") for r in readings)  # read alone, answered
    g = guard(tmp_path, 50, Source(fail=PrometheusUnreachable("down")))
    readings = g._read(g.queries)
    assert all(r.source_failed and "unreachable" in (r.error or "") for r in readings)
    assert g.source.requests <= 8 + 1  # type: ignore[attr-defined]  # no request after the first failures came back
