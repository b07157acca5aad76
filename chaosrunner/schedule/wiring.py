"""The daemon's default plug points, wired to the rest of the engine: the kill switch, the remaining error
budget for the calendar's freeze, the monkey's inventory. Tests replace them with fakes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from chaosrunner.calendar.model import Calendar
from chaosrunner.calendar.parts import Entry
from chaosrunner.calendar.triggers import iter_fires
from chaosrunner.experiment.loader import load_experiment
from chaosrunner.inventory.base import load_inventory
from chaosrunner.safety import killswitch
from chaosrunner.schedule.monkey import Instance
from chaosrunner.slo.budget import remaining_budget
from chaosrunner.slo.catalog import load_catalog
from chaosrunner.slo.prometheus import PrometheusSource
from chaosrunner.slo.source import SliUnavailable, prometheus_url


def default_killswitch() -> str | None:
    """The reason the kill switch is engaged, or None. Unreadable → engaged (fail closed)."""

    st = killswitch.status()
    return (st.reason or "engaged") if st.engaged else None


def default_budget_reader(calendar: Calendar) -> float | None:
    """Lowest remaining error budget (ratio of each SLO's period budget) among the freeze's SLOs,
    read from Prometheus over each SLO's own window, service-wide.

    Catalog: ``$CHAOSRUNNER_PROBES`` (default ``probes/``, every ``*.yaml``). Prometheus:
    ``$CHAOSRUNNER_PROMETHEUS_URL`` or the sandbox's. Returns None when it cannot tell (no SLOs named,
    no Prometheus, no data), which the daemon treats as a freeze (fail closed)."""
    freeze = calendar.freeze
    if freeze is None or not freeze.slos:
        return None
    url = prometheus_url()
    if url is None:
        return None
    probes = Path(os.environ.get("CHAOSRUNNER_PROBES", "probes"))
    catalog = load_catalog(sorted(probes.glob("*.yaml")))
    source = PrometheusSource(url)
    try:
        return min(remaining_budget(source, catalog.get(name)) for name in freeze.slos)
    except SliUnavailable:
        return None  # no data (yet): the caller fails closed


def default_inventory(calendar: Calendar, entry: Entry) -> list[Instance]:
    """The monkey's population: the inventory named by the entry's experiment (its ``targets``)."""

    exp = load_experiment(calendar.experiment_path(entry))
    spec = exp.extension.targets
    if spec is None:
        raise ValueError("the monkey's experiment declares no targets")
    out = []
    for t in load_inventory(spec, experiment_path=calendar.experiment_path(entry)).list_targets():
        out.append(Instance(t.id, t.zone, {"service": t.service, "tier": t.tier, "region": t.region, **t.labels}))
    return out


def missed_fires_since(calendar: Calendar, entry: Entry, since: datetime, now: datetime) -> list[datetime]:
    """Fire times of ``entry`` in ``(since, now]`` (for reports of what a stopped daemon missed)."""

    return list(iter_fires(calendar, entry, since + timedelta(microseconds=1), now + timedelta(microseconds=1)))
