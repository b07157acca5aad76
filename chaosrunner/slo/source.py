"""Where SLI numbers come from: the source contract the guard and preflight read through, its
failure type, and the one lookup of the Prometheus URL.
"""

from __future__ import annotations

from typing import Protocol

from chaosrunner.core.config import prometheus_setting


class SliUnavailable(Exception):
    """No usable SLI value (server unreachable, empty result, NaN, bad query). The guard fails closed."""

    kind = "unavailable"
    source_failed = True
    """The source itself failed (unreachable, malformed answer, bad query) — as opposed to an answer
    that says "no value" (no traffic, NaN). Watches that only measure give up on a failed source."""


class SliSource(Protocol):
    def scalar(self, promql: str) -> float:
        """One number from an instant query; raises SliUnavailable (or a subclass) when there is none."""


def prometheus_url(configured: str | None = None) -> str | None:
    """Where the SLIs live: the experiment's ``slo_guard.prometheus`` (``configured``), else
    ``$CHAOSRUNNER_PROMETHEUS_URL`` or the config file's ``prometheus``, else the running sandbox's
    Prometheus; None when there is none."""
    if configured:
        return configured
    if prometheus_setting().value:
        return prometheus_setting().value
    # the sandbox's typed state (its models) only when nothing else names a Prometheus (start-up)
    from chaosrunner.sandbox.state import SandboxStateMissing, load_state

    try:
        return load_state().prometheus.url
    except SandboxStateMissing:
        return None
