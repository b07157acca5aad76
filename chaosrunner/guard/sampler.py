"""The SLO guard's I/O side: a sampler thread that queries the SLIs every ``interval`` and hands each
sample to the pure :class:`~chaosrunner.guard.evaluator.Evaluator`, and a prober thread for the catalog's
HTTP health probes. The kill switch, ``max_duration`` and the guard's own health are watched for every
run by :class:`~chaosrunner.guard.sentinel.Sentinel`.

Abort reasons (first one wins; ``on_abort(reason)`` is called once, from a guard thread):

* in-scope burn rate above ``abort_on.burn_rate`` for ``abort_on.consecutive`` samples;
* out-of-scope degradation: the same SLO measured outside the targets' zones/regions, or an SLO of a
  service that is not targeted, burns above ``out_of_scope.burn_rate`` (default 1.0 — the SLO is being
  violated where the run was not supposed to reach) for ``out_of_scope.consecutive`` samples;
* the run's budget allowance (``blast_radius.error_budget``) spent on any guarded SLO;
* in-scope SLO data unavailable for ``unavailable_after`` consecutive samples (fail closed);
* a catalog HTTP health probe listed in ``slo_guard.probes`` failing ``abort_on.consecutive`` times in a
  row (checked every ``interval`` by the prober thread, each with its own timeout);
* the fast signal (``slo_guard.fast``, :mod:`chaosrunner.guard.fast`): an SLO read straight from the
  services' counters burning above ``abort_on.burn_rate`` for ``fast.consecutive`` readings;
* any exception in a guard thread (fail closed: the error is the reason).

Units: rates are events/s, ratios in [0, 1], times in seconds (monotonic) or ISO-8601 UTC.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.core.clock import Clock, SystemClock
from chaosrunner.core.ids import format_time
from chaosrunner.experiment.spec import BlastRadius, SloGuardSpec
from chaosrunner.faults.ledger import FaultWindow
from chaosrunner.guard.baseline import Baseline, read_baseline
from chaosrunner.guard.evaluator import Evaluator, Reading, scope_kind, vantage_mark
from chaosrunner.guard.fast import FastSignal
from chaosrunner.inventory.base import Target
from chaosrunner.slo.budget import (
    MIN_HISTORY_COVERAGE,
    NoTraffic,
    burn_rate,
    history_coverage,
    remaining_budget,
)
from chaosrunner.slo.catalog import SloCatalog, promql_duration, render, scope_dimensions, scopes_for
from chaosrunner.slo.source import SliSource, SliUnavailable

log = logging.getLogger("chaosrunner.guard")
READ_CONCURRENCY = 8  # Prometheus requests of one sample in flight at once (bench/guard_scale.py)
BATCH = 10  # readings (SLO × scope) per Prometheus request when the source reads batches


@dataclass
class RecoveryResult:
    recovered: bool
    seconds: float | None
    reason: str
    unknown: bool = False  # the SLI source failed: nobody could tell whether the system recovered

    def to_dict(self) -> dict[str, Any]:
        return {"recovered": self.recovered, "seconds": self.seconds, "reason": self.reason,
                "unknown": self.unknown}


@dataclass
class _Query:
    slo: str
    scope: str
    bad: str
    total: str
    quantile: str | None = None


@dataclass
class _AbortState:
    reason: str | None = None
    decided_at: str | None = None
    decided_elapsed_s: float | None = None
    decided_monotonic: float | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)


class Guard:
    """Samples SLOs during the method and calls ``on_abort(reason)`` once when a limit is crossed.

    Contract (docs/architecture.md): ``start()`` when the method starts, ``stop()`` before rollbacks,
    ``wait_recovery(deadline_s)`` after them, ``summary()`` for the journal. ``record(sample)`` is
    called after every sample (from the sampler thread) so the runner can journal and display it.
    """

    def __init__(
        self,
        spec: SloGuardSpec,
        blast_radius: BlastRadius | None,
        targets: Sequence[Target],
        catalog: SloCatalog,
        source: SliSource,
        clock: Clock | None = None,
        on_abort: Callable[[str], None] | None = None,
        record: Callable[[dict[str, Any]], None] | None = None,
        busy: Sequence[FaultWindow] = (),
    ) -> None:
        """``busy``: when other runs' faults were live (the state home's ledger): not baseline time."""
        self.spec = spec
        self.busy = list(busy)
        self.read_concurrency = READ_CONCURRENCY
        self.blast_radius = blast_radius or BlastRadius()
        self.targets = list(targets)
        self.source = source
        self.clock = clock or SystemClock()
        self.on_abort = on_abort or (lambda reason: None)
        self.record = record or (lambda sample: None)
        self.slos = [catalog.get(name) for name in spec.slos]
        self.health_probes = [catalog.probes[name] for name in spec.probes]
        self.probe_status: dict[str, dict[str, Any]] = {}
        services, zones, regions = scope_dimensions(self.targets)
        if not services and self.blast_radius.services:
            services = set(self.blast_radius.services)
        oos = spec.out_of_scope_rule() is not None
        self.scopes = {s.name: scopes_for(s, services, zones, regions, watch_out_of_scope=oos) for s in self.slos}
        self.evaluator = Evaluator(spec, self.slos, self.scopes, self.blast_radius.error_budget)
        self.window = promql_duration(spec.window)
        self.queries = self._build_queries()
        self.samples: list[dict[str, Any]] = []
        self.abort = _AbortState()
        self.recovery: RecoveryResult | None = None
        self.baseline = Baseline()
        self.history_short: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0: float | None = None
        self._started_at: str | None = None
        self._stopped_elapsed_s: float | None = None
        self._baseline_error: str | None = None
        self._last_sample_mono: float | None = None
        self.failure: str | None = None
        self.fast = None if spec.fast is None else FastSignal(
            spec.fast, self.slos, self.scopes, self.targets, spec.abort_on.burn_rate, self.clock, self._decide_abort)

    # -- queries -------------------------------------------------------------------------------
    def _build_queries(self) -> list[_Query]:
        out = []
        for slo in self.slos:
            bad_t, total_t = slo.sli.rate_queries()
            q_t = slo.sli.quantile_query() if hasattr(slo.sli, "quantile_query") else None
            for scope in self.scopes[slo.name]:
                out.append(
                    _Query(
                        slo.name,
                        scope.name,
                        render(bad_t, slo, scope, self.window),
                        render(total_t, slo, scope, self.window),
                        render(q_t, slo, scope, self.window) if q_t and scope.name == "in" else None,
                    )
                )
        return out

    def _read(self, queries: Sequence[_Query]) -> list[Reading]:
        """Read every SLO×scope; readings keep the queries' order. 50 SLOs are ~350 PromQL expressions: one
        request each, one after the other, outlast a 1 s interval (bench/guard_scale.py). A source that can
        (``scalars``) reads ``BATCH`` readings per request, ``READ_CONCURRENCY`` requests at a time; a batch
        Prometheus rejects is read one query at a time (a scalar-typed expression cannot be tagged). After
        the first unreachable error, readings not yet started are marked unavailable without waiting for
        more timeouts (a dead Prometheus must not stretch a sample)."""
        unreachable: list[str] = []

        def one(q: _Query) -> Reading:
            if unreachable:
                return Reading(q.slo, q.scope, error=unreachable[0], source_failed=True)
            try:
                bad = self.source.scalar(q.bad)
                total = self.source.scalar(q.total)
                quant = None
                if q.quantile:
                    try:
                        quant = self.source.scalar(q.quantile)
                    except SliUnavailable:
                        quant = None  # display only: the decision never reads the quantile
                return Reading(q.slo, q.scope, bad_rate=bad, total_rate=total, quantile_s=quant)
            except SliUnavailable as e:
                if e.kind == "unreachable":
                    unreachable.append(f"{e.kind}: {e}")
                return Reading(q.slo, q.scope, error=f"{e.kind}: {e}", source_failed=e.source_failed)

        def batch(chunk: Sequence[_Query]) -> list[Reading]:
            scalars = getattr(self.source, "scalars", None)
            if unreachable or scalars is None or len(chunk) == 1:
                return [one(q) for q in chunk]
            exprs = [x for q in chunk for x in (q.bad, q.total, *([q.quantile] if q.quantile else []))]
            try:
                values = iter(scalars(exprs))
            except SliUnavailable as e:
                if e.kind == "bad-query":
                    return [one(q) for q in chunk]
                if e.kind == "unreachable":
                    unreachable.append(f"{e.kind}: {e}")
                return [Reading(q.slo, q.scope, error=f"{e.kind}: {e}", source_failed=e.source_failed) for q in chunk]
            out = []
            for q in chunk:
                bad, total = next(values), next(values)
                quant = next(values) if q.quantile else None
                if isinstance(bad, SliUnavailable) or isinstance(total, SliUnavailable):
                    err = bad if isinstance(bad, SliUnavailable) else total
                    assert isinstance(err, SliUnavailable)
                    out.append(Reading(q.slo, q.scope, error=f"{err.kind}: {err}", source_failed=err.source_failed))
                else:
                    out.append(Reading(q.slo, q.scope, bad_rate=bad, total_rate=total,
                                       quantile_s=quant if isinstance(quant, float) else None))
            return out

        size = BATCH if hasattr(self.source, "scalars") else 1
        chunks = [queries[i:i + size] for i in range(0, len(queries), size)]
        if self.read_concurrency <= 1 or len(chunks) <= 1:
            return [r for c in chunks for r in batch(c)]
        with ThreadPoolExecutor(max_workers=min(self.read_concurrency, len(chunks)),
                                thread_name_prefix="guard-read") as pool:
            return [r for rs in pool.map(batch, chunks) for r in rs]

    def _baseline(self) -> None:
        """Pre-run baseline (error ratio and traffic over ``baseline_window``) and budget remaining
        over each SLO's period, service-wide. Failures leave a zero baseline (every bad event of the
        run then counts as extra: the conservative side)."""
        bw = promql_duration(self.spec.baseline_window)
        self._baseline_series(bw)
        for slo in self.slos:
            budget = self.evaluator.budgets[slo.name]
            scope_name = self.evaluator.budget_scope(slo.name)
            scope = next(s for s in self.scopes[slo.name] if s.name == scope_name)
            bad_t, total_t = slo.sli.rate_queries()
            try:
                bad = self.source.scalar(render(bad_t, slo, scope, bw))
                total = self.source.scalar(render(total_t, slo, scope, bw))
                budget.baseline_total_rate = max(0.0, total)
                budget.baseline_ratio = min(1.0, max(0.0, bad / total)) if total > 0 else 0.0
                budget.remaining_before = remaining_budget(self.source, slo, scope)
                try:
                    coverage = history_coverage(self.source, slo, scope)
                except SliUnavailable as e:
                    budget.remaining_before = None
                    self.history_short[slo.name] = f"{slo.name}: history coverage unreadable ({e.kind})"
                    continue
                if coverage < MIN_HISTORY_COVERAGE:
                    budget.remaining_before = None  # the last minutes' burn is not the month's budget
                    self.history_short[slo.name] = (
                        f"{slo.name}: Prometheus holds {coverage * 100:.1f} % of the "
                        f"{promql_duration(slo.window)} SLO window"
                    )
            except NoTraffic:
                pass  # the "before" figure stays unknown
            except SliUnavailable as e:
                self._baseline_error = f"{slo.name}: {e.kind}: {e}"
                if e.kind == "unreachable":  # do not delay the method by one timeout per query
                    return

    def _baseline_series(self, bw: str) -> None:
        """The statistical baseline (:mod:`chaosrunner.guard.baseline`) of the client-visible queries (in
        scope and service-wide), without the readings taken while another run's fault was live; a source
        without ``series`` leaves it absent (the verdict then says the baseline is underpowered)."""
        series = getattr(self.source, "series", None)
        if series is None:
            return
        queries = [(q.slo if q.scope == "in" else f"{q.slo}@{q.scope}", q.bad, q.total)  # the samples' keys
                   for q in self.queries if q.scope in ("in", "service")]
        self.baseline = read_baseline(series, queries, f"{bw}:{promql_duration(self.spec.interval)}",
                                      self.busy, self.spec.window, self.clock.now().timestamp())

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Measure the baseline, then start the sampler and the sentinel threads (daemon threads)."""
        self._baseline()
        self._t0 = self.clock.monotonic()
        self._started_at = format_time(self.clock.now())
        self._last_sample_mono = self._t0
        loops = [(self._sample_loop, "guard-sampler")]
        if self.health_probes:
            loops.append((self._probe_loop, "guard-prober"))
        if self.fast is not None and self.fast.active:
            loops.append((self._fast_loop, "guard-fast"))
        for target, name in loops:
            t = threading.Thread(target=self._fail_closed, args=(target,), name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop sampling (idempotent). Waits for the threads at most ``timeout_s`` seconds."""
        if self._stopped_elapsed_s is None and self._t0 is not None:
            self._stopped_elapsed_s = self.clock.monotonic() - self._t0
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout_s)

    @property
    def aborted(self) -> bool:
        return self.abort.reason is not None

    def elapsed(self) -> float:
        return 0.0 if self._t0 is None else self.clock.monotonic() - self._t0

    def _decide_abort(self, reason: str) -> None:
        with self._lock:
            if self.abort.reason is not None or self._stop.is_set():
                return
            self.abort.reason = reason
            self.abort.decided_at = format_time(self.clock.now())
            self.abort.decided_monotonic = self.clock.monotonic()
            self.abort.decided_elapsed_s = self.elapsed()
            self.abort.decisions.append({"t": self.abort.decided_at, "action": "abort", "reason": reason})
            self._stop.set()
        self.on_abort(reason)

    def health(self) -> str | None:
        """None while sampling as it should; else why not (a dead thread, or no sample for two intervals,
        at least 1 s). The run's :class:`~chaosrunner.guard.sentinel.Sentinel` aborts on it."""
        if self.failure is not None:
            return self.failure
        if self._stop.is_set() or self._last_sample_mono is None:
            return None
        silent = self.clock.monotonic() - self._last_sample_mono
        if silent > max(2 * self.spec.interval, 1.0):
            return f"no SLO sample for {silent:.1f}s (interval {self.spec.interval:g}s)"
        return None

    def _fail_closed(self, loop: Callable[[], None]) -> None:
        """Run a guard loop; any exception in it aborts the run with the error (never a silent stop)."""
        try:
            loop()
        except Exception as e:  # noqa: BLE001 - the decision is to abort, with the error on record
            log.exception("guard loop %s failed", loop.__name__)
            self.failure = f"guard failed: {type(e).__name__}: {e}"
            self._decide_abort(self.failure)

    def _sample_loop(self) -> None:
        interval = self.spec.interval
        next_at = self.clock.monotonic()
        last = next_at
        while not self._stop.is_set():
            readings = self._read(self.queries)
            if self._stop.is_set():
                return
            now = self.clock.monotonic()
            dt = max(0.0, now - last)
            last = now
            elapsed = now - (self._t0 or now)
            reason, sample = self.evaluator.evaluate(readings, elapsed, dt)
            sample = {"t": format_time(self.clock.now()), "elapsed_s": round(elapsed, 3), **sample}
            with self._lock:
                if self.probe_status:
                    sample["probes"] = {k: dict(v) for k, v in self.probe_status.items()}
                self.samples.append(sample)
                self._last_sample_mono = self.clock.monotonic()
            try:
                self.record(sample)
            except Exception:  # noqa: BLE001 - the sample is kept in memory and journaled at the end
                log.exception("recording a guard sample failed; sampling goes on")
            if reason is not None:
                self._decide_abort(reason)
                return
            next_at += interval
            delay = next_at - self.clock.monotonic()
            if delay < 0:
                next_at = self.clock.monotonic()
                delay = 0.0
            if self._stop.wait(delay):
                return

    def _fast_loop(self) -> None:
        if self.fast is not None:
            self.fast.run(self._stop)

    def _probe_loop(self) -> None:
        interval = self.spec.interval
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            for probe in self.health_probes:
                started = self.clock.monotonic()
                try:
                    with urllib.request.urlopen(probe.url, timeout=probe.timeout) as r:  # noqa: S310
                        status = int(r.status)
                    error = None
                except urllib.error.HTTPError as e:
                    status, error = int(e.code), None
                except (urllib.error.URLError, OSError, ValueError) as e:
                    status, error = 0, f"{type(e).__name__}: {getattr(e, 'reason', e)}"
                ok = error is None and status == probe.expect_status
                detail = error or f"HTTP {status}, expected {probe.expect_status}"
                with self._lock:
                    self.probe_status[probe.name] = {
                        "ok": ok,
                        "status": status,
                        "latency_s": round(self.clock.monotonic() - started, 4),
                        **({} if ok else {"error": detail}),
                    }
                reason = self.evaluator.evaluate_probe(probe.name, ok, detail)
                if reason is not None:
                    self._decide_abort(reason)
                    return
            if self._stop.wait(max(0.0, interval - (self.clock.monotonic() - t0))):
                return

    # -- after the method ----------------------------------------------------------------------
    def recovered_now(self) -> tuple[bool, str, bool]:
        """One recovery sample: every scope with data is within objective (burn ≤ 1) and every
        in-scope SLO has data. The readings are kept as a ``phase: recovery`` guard sample (the
        recovery window of the journal's SLI series, docs/glossary.md). The third value: an in-scope
        reading failed at the source (unreachable, malformed answer, bad query)."""
        readings = self._read(self.queries)
        source_failed = any(r.source_failed and scope_kind(r.scope) == "in" for r in readings)
        problems = []
        slos: dict[str, Any] = {}
        for r in readings:
            slo = self.evaluator.slos[r.slo]
            ratio = r.ratio
            key = r.slo if r.scope == "in" else f"{r.slo}@{r.scope}"
            if ratio is None:
                slos[key] = {
                    "sli": None,
                    "burn_rate": None,
                    "scope": scope_kind(r.scope),
                    "error": r.error or "no traffic",
                    **vantage_mark(slo),
                }
                if scope_kind(r.scope) == "in":
                    problems.append(f"{r.slo}: no data ({r.error or 'no traffic'})")
                continue
            burn = burn_rate(ratio, slo.objective)
            slos[key] = {"sli": round(ratio, 6), "burn_rate": round(burn, 4), "scope": scope_kind(r.scope),
                         **vantage_mark(slo)}
            if burn > 1.0:
                problems.append(f"{r.slo}@{r.scope} burns {burn:.1f}x")
        sample = {
            "t": format_time(self.clock.now()),
            "elapsed_s": round(self.elapsed(), 3),
            "phase": "recovery",
            "slos": slos,
        }
        with self._lock:
            self.samples.append(sample)
        return (not problems), "; ".join(problems), source_failed

    def wait_recovery(self, deadline_s: float | None = None) -> RecoveryResult:
        """Poll every ``interval`` until SLOs are back within objective and stay there for
        ``recovery_sustain`` seconds, at most ``deadline_s`` (default ``recovery_deadline``).
        ``seconds`` counts from this call to the first poll of the sustained stretch.

        The watch gives up after ``unavailable_after`` polls in a row in which the source failed for an
        in-scope SLO, with a reason that starts "recovery unknown": a dead or garbled Prometheus cannot
        tell, and must not hold the run for the whole deadline (30 min by default). The caller decides
        what unknown means (after a passing method: the run fails, closed; after an abort: measured only)."""
        deadline_s = self.spec.recovery_deadline if deadline_s is None else deadline_s
        sustain = self.spec.recovery_sustain
        t0 = self.clock.monotonic()
        last = "not sampled"
        good_since: float | None = None
        failing = 0
        waiter = threading.Event()
        while True:
            ok, why, source_failed = self.recovered_now()
            waited = self.clock.monotonic() - t0
            if ok:
                good_since = waited if good_since is None else good_since
                if waited - good_since >= sustain:
                    self.recovery = RecoveryResult(
                        True,
                        round(good_since, 3),
                        "SLOs back within objective" + (f", held {sustain:g}s" if sustain else ""),
                    )
                    return self.recovery
                failing = 0
            else:
                good_since = None
                last = why
                failing = failing + 1 if source_failed else 0
                if failing >= self.spec.unavailable_after:
                    self.recovery = RecoveryResult(False, None, f"recovery unknown: the SLI source failed: {last}",
                                                   unknown=True)
                    return self.recovery
            if waited >= deadline_s:  # the last poll blind: nobody can say it did not recover either
                self.recovery = (
                    RecoveryResult(False, None, f"recovery unknown: the SLI source failed until the "
                                                f"{deadline_s:g}s deadline: {last}", unknown=True)
                    if failing else RecoveryResult(False, None, f"not recovered within {deadline_s:g}s: {last}")
                )
                return self.recovery
            waiter.wait(min(self.spec.interval, max(0.0, deadline_s - waited)))

    def summary(self) -> dict[str, Any]:
        """Everything the journal's ``chaosrunner.guard`` needs (plain JSON; NaN never appears)."""
        with self._lock:
            samples = list(self.samples)
        detect = self.evaluator.first_breach_elapsed_s
        timings = {
            "time_to_detect_s": detect if detect is not None else self.abort.decided_elapsed_s,
            "time_to_abort_s": self.abort.decided_elapsed_s,
            "time_to_recover_s": self.recovery.seconds if self.recovery else None,
        }
        return {
            "started_at": self._started_at,
            "interval_s": self.spec.interval,
            "window_s": self.spec.window,
            "slos": [s.name for s in self.slos],
            "scopes": {name: [s.name for s in scopes] for name, scopes in self.scopes.items()},
            "samples": samples,
            "decisions": list(self.abort.decisions),
            "budget": {
                **self.evaluator.budget_summary(),
                **({"history_short": "; ".join(self.history_short.values())} if self.history_short else {}),
            },
            "baseline_error": self._baseline_error,
            "abort": None
            if self.abort.reason is None
            else {
                "reason": self.abort.reason,
                "decided_at": self.abort.decided_at,
                "elapsed_s": self.abort.decided_elapsed_s,
            },
            "recovery": self.recovery.to_dict() if self.recovery else None,
            "baseline_samples": dict(self.baseline.samples),
            **({"baseline_excluded": dict(self.baseline.excluded), "baseline_excluded_why": self.baseline.why()}
               if self.baseline.excluded else {}),
            "timings": timings,
            **({"fast": self.fast.summary()} if self.fast is not None else {}),
        }
