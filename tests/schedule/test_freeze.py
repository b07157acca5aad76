"""The error-budget freeze against a real Prometheus: the daemon reads each freeze SLO's remaining
budget (service-wide, over the SLO's window) and refuses to start while it is below the threshold."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, start_http_server

from chaosrunner.calendar.model import load_calendar
from chaosrunner.core.clock import FakeClock
from chaosrunner.core.ports import free_port
from chaosrunner.sandbox.prometheus import PrometheusServer
from chaosrunner.schedule.daemon import Daemon, DaemonOptions
from chaosrunner.schedule.wiring import default_budget_reader
from tests.schedule.conftest import wait_for

CATALOG = {"slos": [
    {"name": f"{svc}-availability", "service": svc, "objective": "99.9%", "window": "30d",
     "sli": {"type": "error_ratio",
             "bad": 'sum(rate(http_requests_total{code=~"5..",{{selector}}}[{{window}}]))',
             "total": "sum(rate(http_requests_total{ {{selector}} }[{{window}}]))"}}
    for svc in ("healthy", "burning")]}


@pytest.fixture
def exporter() -> Iterator[int]:
    """Two services' request counters: `healthy` never fails, `burning` fails 10 % of requests."""
    registry = CollectorRegistry()
    requests = Counter("http_requests", "requests", ["service", "code"], registry=registry)
    for svc in ("healthy", "burning"):
        for code in ("200", "500"):
            requests.labels(svc, code).inc(0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.05):
            requests.labels("healthy", "200").inc(10)
            requests.labels("burning", "200").inc(9)
            requests.labels("burning", "500").inc(1)

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join(timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: int) -> Iterator[PrometheusServer]:
    prom = PrometheusServer(tmp_path / "prom", {"app": [f"127.0.0.1:{exporter}"]}).start()
    try:
        prom.wait_for_up("app", timeout=30)
        yield prom
    finally:
        prom.stop()


@pytest.mark.slow
def test_freeze_reads_the_remaining_budget_from_prometheus(tmp_path, write_calendar, prometheus,  # noqa: ANN001
                                                           monkeypatch) -> None:
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "catalog.yaml").write_text(yaml.safe_dump(CATALOG))
    monkeypatch.setenv("CHAOSRUNNER_PROBES", str(probes))
    monkeypatch.setenv("CHAOSRUNNER_PROMETHEUS_URL", prometheus.url)
    window = {"timezone": "UTC", "work_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
              "business_hours": {"start": "00:00", "end": "24:00"}}
    ok_cal = load_calendar(write_calendar({**window, "freeze": {"error_budget_below": "25%",
                                                                "slos": ["healthy-availability"]},
                                           "entries": [{"name": "e", "cron": "* * * * *"}]}, "ok"))
    frozen_cal = load_calendar(write_calendar({**window, "freeze": {"error_budget_below": "25%", "slos": [
        "healthy-availability", "burning-availability"]}, "entries": [{"name": "e", "cron": "* * * * *"}]}, "frozen"))

    # Rates need two scrapes of the counters: poll until the reader can tell.
    remaining = wait_for(lambda: default_budget_reader(frozen_cal), 30, "a budget reading")
    assert remaining < 0  # 10 % errors against a 0.1 % budget: overspent 100-fold
    assert default_budget_reader(ok_cal) == pytest.approx(1.0)

    now = datetime.now(UTC)
    for cal, expected in ((ok_cal, (None, "ok")), (frozen_cal, "freeze")):
        daemon = Daemon(cal, DaemonOptions(), clock=FakeClock(now), killswitch=lambda: None)
        reason, check = daemon.precheck(cal.entry("e"), now)
        if expected == "freeze":
            assert check == "freeze" and "error budget freeze" in str(reason) and "below 25.0%" in str(reason)
        else:
            assert (reason, check) == expected


def test_unreachable_prometheus_freezes_closed(write_calendar, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "catalog.yaml").write_text(yaml.safe_dump(CATALOG))
    monkeypatch.setenv("CHAOSRUNNER_PROBES", str(probes))
    monkeypatch.setenv("CHAOSRUNNER_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    cal = load_calendar(write_calendar({"timezone": "UTC", "work_days": ["mon", "tue", "wed", "thu", "fri", "sat",
                                                                         "sun"],
                                        "business_hours": {"start": "00:00", "end": "24:00"},
                                        "freeze": {"error_budget_below": "25%", "slos": ["healthy-availability"]},
                                        "entries": [{"name": "e", "cron": "* * * * *"}]}))
    now = datetime.now(UTC)
    daemon = Daemon(cal, DaemonOptions(), clock=FakeClock(now), killswitch=lambda: None)
    reason, check = daemon.precheck(cal.entry("e"), now)
    assert check == "freeze" and "fails closed" in str(reason)
