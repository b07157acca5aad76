"""Is there an outage right now? Chaos does not start during one, and stops when one begins.

Netflix's Chaos Monkey asks before every kill, and errs on the safe side when it cannot tell. chaosrunner
asks Alertmanager (API v2): an active, unsilenced, uninhibited alert matching the outage matchers
(default ``severity=critical``) means an outage. Preflight refuses to start (exit 4); during a run the
:class:`AlertWatch` polls every ``interval`` and the run's sentinel aborts it the moment such an alert
fires. Alertmanager unreachable or answering nonsense counts as an outage (fail closed) unless the
experiment opts out with ``outage_check: {fail_open: true}``.

Where Alertmanager is: ``outage_check.alertmanager`` in the experiment, else
``$CHAOSRUNNER_ALERTMANAGER_URL`` or ``alertmanager:`` in the config file. With none of them the check is
skipped, and ``plan`` and the journal say so.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from chaosrunner.core.config import alertmanager_setting
from chaosrunner.experiment.spec import OutageCheckSpec
from chaosrunner.safety.blast_radius import Check

log = logging.getLogger("chaosrunner.safety")

TIMEOUT_S = 2.0


class AlertmanagerUnavailable(Exception):
    """No usable answer from Alertmanager (unreachable, HTTP error, not the v2 alert list)."""


@dataclass(frozen=True)
class Alertmanager:
    url: str
    matchers: tuple[str, ...]
    timeout_s: float = TIMEOUT_S

    def firing(self) -> list[str]:
        """The active, unsilenced, uninhibited alerts matching every matcher, as ``alertname{labels}``."""
        query = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]  # unprocessed: included
        query += [("filter", m) for m in self.matchers]
        url = f"{self.url.rstrip('/')}/api/v2/alerts?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as r:  # noqa: S310 - http(s) URL from config
                alerts = json.loads(r.read(4 * 1024 * 1024))
        except (OSError, ValueError) as e:
            raise AlertmanagerUnavailable(f"Alertmanager at {self.url}: {type(e).__name__}: {e}") from None
        if not isinstance(alerts, list):
            raise AlertmanagerUnavailable(f"Alertmanager at {self.url} did not answer an alert list")
        names = []
        for alert in alerts:
            labels = alert.get("labels") if isinstance(alert, dict) else None
            if not isinstance(labels, dict):
                raise AlertmanagerUnavailable(f"Alertmanager at {self.url} answered an alert without labels")
            rest = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
            names.append(f"{labels.get('alertname', '?')}{{{rest}}}")
        return sorted(names)


def alertmanager_for(spec: OutageCheckSpec | None) -> Alertmanager | None:
    """The Alertmanager to ask for this experiment, or None when the check does not apply."""
    spec = spec or OutageCheckSpec()
    url = spec.alertmanager or alertmanager_setting().value
    if not spec.enabled or not url:
        return None
    return Alertmanager(url, tuple(spec.matchers))


def outage(am: Alertmanager, fail_open: bool) -> str | None:
    """Why this is an outage (to refuse or abort), or None."""
    try:
        firing = am.firing()
    except AlertmanagerUnavailable as e:
        if fail_open:
            log.warning("outage check skipped (fail_open): %s", e)
            return None
        return f"outage check failed closed: {e}"
    if firing:
        return f"outage in progress: {', '.join(firing[:5])} firing ({' '.join(am.matchers)})"
    return None


def preflight_check(spec: OutageCheckSpec | None) -> Check:
    am = alertmanager_for(spec)
    if am is None:
        why = "disabled by the experiment" if spec is not None and not spec.enabled else "no Alertmanager configured"
        return Check("outage_check", True, f"skipped: {why}")
    problem = outage(am, (spec or OutageCheckSpec()).fail_open)
    numbers = {"alertmanager": am.url, "matchers": list(am.matchers)}
    if problem is not None:
        return Check("outage_check", False, problem, numbers)
    return Check("outage_check", True, f"no alert matching {' '.join(am.matchers)} is firing", numbers)


class AlertWatch:
    """Polls Alertmanager every ``interval_s`` while the run is live; :meth:`health` is what the run's
    sentinel reads (it aborts the run on an outage)."""

    def __init__(self, am: Alertmanager, interval_s: float, fail_open: bool) -> None:
        self.am = am
        self.interval_s = interval_s
        self.fail_open = fail_open
        self._problem: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaosrunner-alertwatch", daemon=True)

    def start(self) -> AlertWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.am.timeout_s + 1)

    def health(self) -> str | None:
        return self._problem

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._problem = outage(self.am, self.fail_open)
            except Exception as e:  # noqa: BLE001 - a watch that cannot watch is an outage (fail closed)
                log.exception("alert watch failed")
                self._problem = f"outage check failed closed: {type(e).__name__}: {e}"
            if self._problem is not None or self._stop.wait(self.interval_s):
                return
