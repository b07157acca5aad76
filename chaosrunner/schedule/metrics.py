"""The scheduler daemon's own ``/metrics`` (prometheus-client), for the Prometheus that already watches you.

``chaosrunner scheduler start CAL --metrics-port 9464`` serves, read at scrape time from the daemon:

* ``chaosrunner_scheduler_leader`` — 1 on the daemon that schedules, 0 on standbys (HA: exactly one 1);
* ``chaosrunner_scheduler_kill_switch`` — 1 while ``halt`` is engaged in the state home;
* ``chaosrunner_scheduler_runs_in_flight`` — experiment runs this daemon started that are still running;
* ``chaosrunner_scheduler_fires_total{entry, outcome}`` — fires by outcome (ran, skipped, duplicate,
  planned) since the daemon started, and ``chaosrunner_scheduler_runs_total{entry, exit_code}`` — the runs'
  exit codes (0 passed … 5 rollback failed: docs/experiments.md);
* ``chaosrunner_scheduler_next_fire_timestamp_seconds{entry}`` — when each entry fires next (leader only).

What runs do (active faults, verdicts) is pushed per run to a Pushgateway (:mod:`chaosrunner.notify.metrics`);
the daemon's metrics say whether the schedule itself is alive. Alert on ``sum(chaosrunner_scheduler_leader)
!= 1`` and on a ``next_fire`` in the past. The server binds 127.0.0.1 unless ``--metrics-address`` says
otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from chaosrunner.schedule.daemon import Daemon, FireResult

log = logging.getLogger("chaosrunner.scheduler")


class FireCounts:
    """What the daemon counts as fires finish (kept apart from its results list, which tests read)."""

    def __init__(self) -> None:
        self.fires: Counter[tuple[str, str]] = Counter()
        self.runs: Counter[tuple[str, str]] = Counter()

    def add(self, res: FireResult) -> None:
        entry = res.entry.split("@", 1)[0]
        self.fires[(entry, res.outcome)] += 1
        if res.outcome == "ran":
            self.runs[(entry, "none" if res.exit_code is None else str(res.exit_code))] += 1


class DaemonCollector(Collector):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Any]:
        d = self.daemon
        yield GaugeMetricFamily("chaosrunner_scheduler_leader", "1 on the daemon that schedules the calendar",
                                value=1.0 if d.is_leader.is_set() else 0.0)
        try:
            engaged = d.killswitch() is not None
        except Exception:  # noqa: BLE001 - an unreadable kill switch is reported as engaged (runs refuse too)
            log.exception("metrics: the kill switch cannot be read")
            engaged = True
        yield GaugeMetricFamily("chaosrunner_scheduler_kill_switch", "1 while halt is engaged", value=float(engaged))
        with d._lock:
            in_flight = sum(1 for c in d.children.values() if c.proc.poll() is None)
            fires, runs = dict(d.counts.fires), dict(d.counts.runs)
        yield GaugeMetricFamily("chaosrunner_scheduler_runs_in_flight", "runs started by this daemon, still running",
                                value=float(in_flight))
        f = CounterMetricFamily("chaosrunner_scheduler_fires", "fires by outcome", labels=["entry", "outcome"])
        for (entry, outcome), n in sorted(fires.items()):
            f.add_metric([entry, outcome], n)
        yield f
        r = CounterMetricFamily("chaosrunner_scheduler_runs", "runs by exit code", labels=["entry", "exit_code"])
        for (entry, code), n in sorted(runs.items()):
            r.add_metric([entry, code], n)
        yield r
        nxt = GaugeMetricFamily("chaosrunner_scheduler_next_fire_timestamp_seconds", "next fire (unix s)",
                                labels=["entry"])
        sched = d.scheduler
        if sched is not None:
            for job in sched.get_jobs():
                if job.next_run_time is not None:
                    nxt.add_metric([job.id], job.next_run_time.timestamp())
        yield nxt


def serve_metrics(daemon: Daemon, port: int, address: str = "127.0.0.1") -> Any:
    """Start the ``/metrics`` server in a thread; returns the server (``shutdown()`` stops it)."""
    registry = CollectorRegistry()
    registry.register(DaemonCollector(daemon))
    server, _thread = start_http_server(port, addr=address, registry=registry)
    log.info("metrics on http://%s:%d/metrics", address, server.server_port)
    return server
