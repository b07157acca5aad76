"""The fast signal: error-ratio SLIs read straight from the services' own counters, beside Prometheus.

docs/slo.md "The fast signal". Pure parts first (:func:`counts`, :class:`Window`), then :class:`FastSignal`,
the loop the guard runs in its own thread (``guard-fast``) when ``slo_guard.fast`` is set and at least one
guarded SLO has a catalog ``fast`` block. It only ever *adds* a reason to abort: the Prometheus guard keeps
every one of its own rules.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.core.clock import Clock
from chaosrunner.experiment.spec import FastGuard
from chaosrunner.inventory.base import Target
from chaosrunner.slo.catalog import Scope, Slo

log = logging.getLogger("chaosrunner.guard")
MAX_BODY = 8 * 1024 * 1024  # a /metrics page larger than this is not read (bounded input)


def series_filter(slo: Slo, scope: Scope) -> Callable[[Mapping[str, str]], bool]:
    """Pure: does a series (its labels) belong to the SLO in ``scope``? Service, matchers, included
    zones/regions — the same selection the Prometheus queries make."""
    want = {slo.label("service"): {slo.service}, **{k: {v} for k, v in slo.matchers.items()}}
    for dim, values in scope.include:
        if dim != "service":
            want[slo.label(dim)] = set(values)

    def match(labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) in v for k, v in want.items())

    return match


def counts(text: str, metric: str, belongs: Callable[[Mapping[str, str]], bool],
           bad: Mapping[str, str]) -> dict[tuple[tuple[str, str], ...], tuple[float, bool]]:
    """Pure: the counter samples of ``metric`` (``_total`` optional) in a Prometheus text page that
    ``belong``, by label set: ``{labels: (value, is_bad)}``."""
    from prometheus_client.parser import text_string_to_metric_families

    names = {metric, f"{metric}_total"} if not metric.endswith("_total") else {metric}
    patterns = {k: re.compile(v) for k, v in bad.items()}
    out: dict[tuple[tuple[str, str], ...], tuple[float, bool]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in names or not belongs(sample.labels):
                continue
            is_bad = all(p.fullmatch(sample.labels.get(k, "")) for k, p in patterns.items())
            out[tuple(sorted(sample.labels.items()))] = (float(sample.value), is_bad)
    return out


@dataclass
class Window:
    """Increments of bad and all events, kept for ``seconds``; counters that went down restart at zero."""

    seconds: float
    last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    points: deque[tuple[float, float, float]] = field(default_factory=deque)  # (t, bad, total) increments

    def add(self, t: float, url: str, page: Mapping[tuple[tuple[str, str], ...], tuple[float, bool]]) -> None:
        bad = total = 0.0
        for labels, (value, is_bad) in page.items():
            key = (url, labels)
            before = self.last.get(key)
            self.last[key] = value
            if before is None:
                continue  # the first read of a series is its starting point
            inc = value - before if value >= before else value
            total += inc
            bad += inc if is_bad else 0.0
        self.points.append((t, bad, total))
        while self.points and self.points[0][0] < t - self.seconds:
            self.points.popleft()

    def ratio(self, min_events: int) -> float | None:
        bad = sum(p[1] for p in self.points)
        total = sum(p[2] for p in self.points)
        return None if total < min_events else bad / total


class FastSignal:
    """The ``guard-fast`` loop: read, judge, and call ``decide(reason)`` once a limit is crossed."""

    def __init__(self, spec: FastGuard, slos: Sequence[Slo], scopes: Mapping[str, Sequence[Scope]],
                 targets: Sequence[Target], burn_limit: float, clock: Clock,
                 decide: Callable[[str], None]) -> None:
        self.spec = spec
        self.burn_limit = burn_limit
        self.clock = clock
        self.decide = decide
        self.watched: list[tuple[Slo, Callable[[Mapping[str, str]], bool], list[str], Window]] = []
        for slo in slos:
            if slo.fast is None:
                continue
            for scope in scopes.get(slo.name, []):
                if scope.name == "in":
                    urls = sorted({self._url(slo.fast.url, t) for t in targets} or {slo.fast.url})
                    self.watched.append((slo, series_filter(slo, scope), urls, Window(spec.window)))
        self.readings = 0
        self.peak: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.streak: dict[str, int] = {}

    @staticmethod
    def _url(template: str, target: Target) -> str:
        fields = {**{k: str(v) for k, v in target.attrs.items()}, "id": target.id}
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"fast.url {template!r}: target {target.id} has no {e}") from None

    @property
    def active(self) -> bool:
        return bool(self.watched)

    def _fetch(self, url: str, timeout: float) -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - the catalog's own URLs
                return r.read(MAX_BODY).decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.errors[url] = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            return None

    def read_once(self, pool: ThreadPoolExecutor) -> str | None:
        """One read of every endpoint; the abort reason when a limit is crossed, else None."""
        jobs = {(slo.name, url): pool.submit(self._fetch, url, slo.fast.timeout)  # type: ignore[union-attr]
                for slo, _, urls, _ in self.watched for url in urls}
        now = self.clock.monotonic()
        for slo, belongs, urls, window in self.watched:
            for url in urls:
                text = jobs[(slo.name, url)].result()
                if text is not None:
                    window.add(now, url, counts(text, slo.fast.metric, belongs, slo.fast.bad))  # type: ignore[union-attr]
            ratio = window.ratio(self.spec.min_events)
            if ratio is None:
                self.streak[slo.name] = 0
                continue
            self.readings += 1
            burn = ratio / slo.error_budget
            self.peak[slo.name] = max(self.peak.get(slo.name, 0.0), round(burn, 3))
            self.streak[slo.name] = self.streak.get(slo.name, 0) + 1 if burn > self.burn_limit else 0
            if self.streak[slo.name] >= self.spec.consecutive:
                return (f"fast signal: burn rate {burn:.1f}x on {slo.name} (in scope, read from {len(urls)} "
                        f"endpoint(s) every {self.spec.interval:g}s over {self.spec.window:g}s) above the limit "
                        f"{self.burn_limit:g}x for {self.spec.consecutive} consecutive readings")
        return None

    def run(self, stop: threading.Event) -> None:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="guard-fast-read") as pool:
            next_at = self.clock.monotonic()
            while not stop.is_set():
                reason = self.read_once(pool)
                if reason is not None:
                    self.decide(reason)
                    return
                next_at += self.spec.interval
                delay = next_at - self.clock.monotonic()
                if delay < 0:
                    next_at, delay = self.clock.monotonic(), 0.0
                if stop.wait(delay):
                    return

    def summary(self) -> dict[str, Any]:
        return {"interval_s": self.spec.interval, "window_s": self.spec.window,
                "consecutive": self.spec.consecutive, "min_events": self.spec.min_events,
                "slos": sorted({slo.name for slo, _, _, _ in self.watched}),
                "endpoints": sorted({u for _, _, urls, _ in self.watched for u in urls}),
                "readings": self.readings, "peak_burn": dict(self.peak), "endpoint_errors": dict(self.errors)}
