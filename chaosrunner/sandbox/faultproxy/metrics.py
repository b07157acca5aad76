"""``GET /metrics``: the byte counters Toxiproxy exports with ``-proxy-metrics``, plus process metrics.

``toxiproxy_proxy_received_bytes_total`` and ``toxiproxy_proxy_sent_bytes_total`` with labels ``direction``,
``proxy``, ``listener``, ``upstream`` (bytes read from the direction's source / written to its destination). They
count as data flows; Toxiproxy adds a connection's bytes when that direction of the connection ends.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, disable_created_metrics, generate_latest

LABELS = ("direction", "proxy", "listener", "upstream")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ProxyMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # Go's client exports no ``_created`` series (process-wide switch; server only)
        self.registry = CollectorRegistry()
        self.received = Counter("toxiproxy_proxy_received_bytes_total", "Bytes read from the source of a direction",
                                LABELS, registry=self.registry)
        self.sent = Counter("toxiproxy_proxy_sent_bytes_total", "Bytes written to the destination of a direction",
                            LABELS, registry=self.registry)
        ProcessCollector(registry=self.registry)

    def counters(self, direction: str, proxy: str, listen: str,
                 upstream: str) -> tuple[Callable[[int], None], Callable[[int], None]]:
        """(count received bytes, count sent bytes) for one direction of one proxy."""
        labels = (direction, proxy, listen, upstream)
        return self.received.labels(*labels).inc, self.sent.labels(*labels).inc

    def render(self) -> bytes:
        return generate_latest(self.registry)
