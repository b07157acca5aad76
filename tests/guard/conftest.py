"""Guard tests run against a real Prometheus scraping tests/guard/service.py.

One estate per test module (starting Prometheus costs ~8 s: its first scrape lands 5–6 s after start; not
per session: the budget-gate tests need an SLO history that other modules' faults have not spent);
before each test the service is reset and we poll until the 5 s windows hold no bad request, so a
test never sees the previous test's fault. Tests that break the estate (kill Prometheus) use
``fresh_estate``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guard.estate import ServiceEstate, start_estate

SETTLE_QUERY = (
    'sum(rate(svc_requests_total{code=~"5.."}[5s])) + sum(rate(svc_request_duration_seconds_count[5s])) '
    '- sum(rate(svc_request_duration_seconds_bucket{le="0.2"}[5s]))'
)


@pytest.fixture(scope="module")
def shared_estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceEstate]:
    e = start_estate(tmp_path_factory.mktemp("estate"), min_samples=2)
    try:
        yield e
    finally:
        e.stop()


def settle(e: ServiceEstate, timeout: float = 20.0) -> None:
    """Reset the service and wait until no bad or slow request remains in the 5 s windows."""
    e.reset()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = e.prometheus.query(SETTLE_QUERY)
        if res and float(res[0]["value"][1]) <= 0.0:
            return
        time.sleep(0.2)
    raise TimeoutError("the test service did not settle")


@pytest.fixture
def estate(shared_estate: ServiceEstate) -> Iterator[ServiceEstate]:
    settle(shared_estate)
    try:
        yield shared_estate
    finally:
        shared_estate.reset()


@pytest.fixture
def fresh_estate(tmp_path: Path) -> Iterator[ServiceEstate]:
    e = start_estate(tmp_path / "estate", min_samples=2)
    try:
        yield e
    finally:
        e.stop()
