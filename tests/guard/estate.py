"""The guard tests' (and the abort-latency benchmark's) estate: the test service + a real Prometheus
scraping it every second, plus a catalog of SLOs over the service's metrics.

Used by tests/guard/conftest.py and bench/abort_latency.py, so both measure the same system.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaosrunner.core.ports import free_port, wait_port
from chaosrunner.sandbox.processes import ManagedProcess
from chaosrunner.sandbox.prometheus import PrometheusServer

REPO = Path(__file__).resolve().parents[2]

CATALOG: dict[str, Any] = {
    "slos": [
        {
            "name": "pinboard-availability",
            "service": "pinboard",
            "objective": "99.9%",
            "window": "30d",
            "labels": {"instance": "target"},
            "sli": {
                "type": "error_ratio",
                "bad": 'sum(rate(svc_requests_total{code=~"5..",{{selector}}}[{{window}}]))',
                "total": "sum(rate(svc_requests_total{ {{selector}} }[{{window}}]))",
            },
            # read straight from the service when an experiment asks for the fast signal
            "fast": {"metric": "svc_requests_total", "bad": {"code": "5.."}, "url": "{url}/metrics"},
        },
        {
            "name": "pinboard-latency",
            "service": "pinboard",
            "objective": "99%",
            "window": "30d",
            "labels": {"instance": "target"},
            "sli": {"type": "latency", "histogram": "svc_request_duration_seconds", "threshold": "200ms",
                    "quantile": 0.99},
        },
        {
            "name": "search-availability",
            "service": "search",
            "objective": "99.9%",
            "window": "30d",
            "sli": {
                "type": "error_ratio",
                "bad": 'sum(rate(svc_requests_total{code=~"5..",{{selector}}}[{{window}}]))',
                "total": "sum(rate(svc_requests_total{ {{selector}} }[{{window}}]))",
            },
        },
        {
            "name": "pinboard-availability-1h",
            "service": "pinboard",
            "objective": "99%",
            "window": "1h",
            "sli": {
                "type": "error_ratio",
                "bad": 'sum(rate(svc_requests_total{code=~"5..",{{selector}}}[{{window}}]))',
                "total": "sum(rate(svc_requests_total{ {{selector}} }[{{window}}]))",
            },
        },
    ]
}

# The service's instances as static-inventory targets (same ids/labels as tests/guard/service.py).
def static_targets(service_url: str) -> list[dict[str, Any]]:
    from tests.guard.service import DEFAULT_INSTANCES

    return [
        {"id": i["target"], "service": i["service"], "region": i["region"], "zone": i["zone"],
         "tier": "critical" if i["service"] == "search" else "non-critical",
         "attrs": {"url": service_url}}
        for i in DEFAULT_INSTANCES
    ]


@dataclass
class ServiceEstate:
    root: Path
    service: ManagedProcess
    service_url: str
    prometheus: PrometheusServer
    catalog_path: Path

    def control(self, **body: Any) -> dict[str, Any]:
        return post(f"{self.service_url}/control", body)

    def reset(self) -> dict[str, Any]:
        return post(f"{self.service_url}/reset", {})

    def hold_history(self, window_s: int, timeout: float = 60.0) -> None:
        """Wait until Prometheus has scraped the service (every 1 s) for the whole last ``window_s``
        seconds: a baseline read over that window then has a point per second, however young the estate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.prometheus.query(f'count_over_time(up{{job="svc"}}[{window_s}s])')
            if res and float(res[0]["value"][1]) >= window_s - 2:
                return
            time.sleep(0.5)
        raise TimeoutError(f"prometheus did not hold {window_s}s of scrapes")

    def stop(self) -> None:
        try:
            self.prometheus.stop()
        finally:
            self.service.stop()


def post(url: str, body: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def start_estate(root: Path, *, rps: float = 50.0, min_samples: int = 3) -> ServiceEstate:
    """Start service + Prometheus; return once Prometheus holds ``min_samples`` scrapes (so rate()
    over the guard's window has data). Stops what it started if anything fails."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    service = ManagedProcess(
        "test-service",
        [sys.executable, "-m", "tests.guard.service", "--port", str(port), "--rps", str(rps)],
        log_path=root / "service.log",
        cwd=REPO,
    ).start()
    prom: PrometheusServer | None = None
    try:
        wait_port(port, 15)
        url = f"http://127.0.0.1:{port}"
        prom = PrometheusServer(root / "prometheus", {"svc": [f"127.0.0.1:{port}"]}).start()
        prom.wait_for_up("svc", timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            res = prom.query('count_over_time(up{job="svc"}[1m])')
            if res and float(res[0]["value"][1]) >= min_samples:
                break
            time.sleep(0.2)
        else:
            raise TimeoutError("prometheus did not collect enough scrapes")
        catalog = root / "slos.yaml"
        probes = [
            {"name": "svc-health", "url": f"{url}/health", "timeout": "1s"},
            {"name": "dead-health", "url": f"http://127.0.0.1:{free_port()}/health", "timeout": "500ms"},
        ]
        catalog.write_text(yaml.safe_dump({**CATALOG, "probes": probes}, sort_keys=False))
        return ServiceEstate(root, service, url, prom, catalog)
    except BaseException:
        if prom is not None:
            prom.stop()
        service.stop()
        raise
