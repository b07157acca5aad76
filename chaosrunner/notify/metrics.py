"""Chaos as Prometheus metrics, pushed to a Pushgateway (``$CHAOSRUNNER_PUSHGATEWAY_URL`` or
``pushgateway:`` in the config file). One group per run (``job="chaosrunner", run_id=…``):

* ``chaosrunner_fault_active{run_id, experiment, fault, target}`` — 1 while a fault is in the ledger and
  not reverted, 0 once it is (the series to draw as a Grafana annotation over a latency graph);
* ``chaosrunner_run_running{run_id, experiment, trigger}`` — 1 while the run lives, 0 at its end;
* ``chaosrunner_run_verdict{run_id, experiment, verdict}`` — 1 for the run's verdict once decided;
* ``chaosrunner_run_abort_seconds`` / ``chaosrunner_run_rollback_seconds`` / ``chaosrunner_run_budget_spent_ratio``
  — time to abort (decision after the fault bit), time to roll back after the decision, share of the
  monthly budget the run spent, once known.

Every push replaces the run's group, so what Prometheus scrapes is the run's latest truth. The runner
pushes after every activity and at the end; the reaper and ``recover`` push after reverting a dead run's
faults, so the active-fault gauge returns to 0 after a crash too. Pushes go through the outbox: a slow
Pushgateway never delays the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

from chaosrunner.core.config import pushgateway_setting
from chaosrunner.notify.outbox import outbox

JOB = "chaosrunner"
TIMEOUT_S = 2.0


@dataclass
class RunMetrics:
    run_id: str
    experiment: str
    trigger: str = "cli"
    running: bool = True
    verdict: str | None = None
    faults: list[tuple[str, str, bool]] = field(default_factory=list)  # (fault, target, active)
    numbers: dict[str, float | None] = field(default_factory=dict)  # abort_seconds, rollback_seconds, …

    def registry(self) -> CollectorRegistry:
        from prometheus_client import CollectorRegistry, Gauge  # only when a Pushgateway is configured (start-up)

        reg = CollectorRegistry()
        ids = {"run_id": self.run_id, "experiment": self.experiment}
        g = Gauge("chaosrunner_run_running", "1 while the run lives", [*ids, "trigger"], registry=reg)
        g.labels(**ids, trigger=self.trigger).set(1 if self.running else 0)
        if self.faults:
            f = Gauge("chaosrunner_fault_active", "1 while the fault is in place", [*ids, "fault", "target"],
                      registry=reg)
            for fault, target, active in self.faults:
                f.labels(**ids, fault=fault, target=target).set(1 if active else 0)
        if self.verdict is not None:
            v = Gauge("chaosrunner_run_verdict", "1 for the run's verdict", [*ids, "verdict"], registry=reg)
            v.labels(**ids, verdict=self.verdict).set(1)
        for name, value in self.numbers.items():
            if value is not None:
                gauge = Gauge(f"chaosrunner_run_{name}", name.replace("_", " "), list(ids), registry=reg)
                gauge.labels(**ids).set(value)
        return reg


def faults_of(ledger_views: Iterable[Mapping[str, object]]) -> list[tuple[str, str, bool]]:
    """``(fault, target, active)`` from ledger journal views (``outcome`` None means still in place)."""
    return [(str(e.get("fault")), str(e.get("target")), e.get("outcome") is None) for e in ledger_views]


def push(metrics: RunMetrics) -> None:
    """Queue a push of the run's group (no-op without a Pushgateway)."""
    url = pushgateway_setting().value
    if not url:
        return
    from prometheus_client import push_to_gateway

    registry = metrics.registry()  # built now: the push sends this moment's values
    outbox().send(f"push {metrics.run_id} to {url}", lambda: push_to_gateway(
        url, job=JOB, registry=registry, grouping_key={"run_id": metrics.run_id}, timeout=TIMEOUT_S))
