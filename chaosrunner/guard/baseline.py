"""The statistical baseline: per-interval SLI readings before the method, from quiet time only.

One subquery pair per in-scope and whole-service query (``(expr)[baseline_window:interval]``). Readings
taken while another run's fault was live (the state home's ledger, :meth:`Ledger.fault_windows`) — from its
injection to its revert plus the SLI ``window``, which a windowed rate still carries — are left out and
counted, so the journal says what the baseline is made of (docs/slo.md, "A baseline is quiet time").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chaosrunner.faults.ledger import FaultWindow
from chaosrunner.slo.source import SliUnavailable


@dataclass
class Baseline:
    samples: dict[str, list[float]] = field(default_factory=dict)  # the samples' keys → readings
    excluded: dict[str, int] = field(default_factory=dict)  # readings left out, per key
    excluded_runs: set[str] = field(default_factory=set)

    def why(self) -> str | None:
        if not self.excluded:
            return None
        return "another run's fault was live (or within the SLI window after its revert): " + ", ".join(
            sorted(self.excluded_runs))


def busy(t: float, windows: Sequence[FaultWindow], window_s: float, now: float) -> FaultWindow | None:
    """The fault window that covers time ``t`` (epoch s), if any; an open one lasts until ``now``."""
    for w in windows:
        end = (now if w.reverted is None else w.reverted) + window_s
        if w.injected <= t <= end:
            return w
    return None


def read_baseline(
    series: Callable[[str], list[tuple[float, float]]],
    queries: Sequence[tuple[str, str, str]],
    range_and_step: str,
    windows: Sequence[FaultWindow],
    window_s: float,
    now: float,
) -> Baseline:
    """``queries``: ``(key, bad rate, total rate)``; ``range_and_step``: ``60s:1s``. A failing query
    leaves its key absent (the verdict then says the baseline is underpowered)."""
    out = Baseline()
    for key, bad_q, total_q in queries:
        try:
            bad = dict(series(f"({bad_q})[{range_and_step}]"))
            total = dict(series(f"({total_q})[{range_and_step}]"))
        except SliUnavailable:
            continue
        values, dropped = [], 0
        for t, v in sorted(total.items()):
            if v <= 0:
                continue
            if (w := busy(t, windows, window_s, now)) is not None:
                dropped += 1
                out.excluded_runs.add(w.run_id)
                continue
            values.append(round(min(1.0, max(0.0, bad.get(t, 0.0) / v)), 6))
        if values:
            out.samples[key] = values
        if dropped:
            out.excluded[key] = dropped
    return out
