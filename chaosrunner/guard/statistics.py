"""A statistical steady-state verdict (pure): for each guarded SLI, is the experiment window different
from the baseline, and is the recovery window back to it?

The guard's samples are per-interval SLI readings (bad-event ratios over the guard's ``window``).
Three windows, all from the journal:

* **baseline** — ``guard.baseline_samples[<slo>]`` (per-interval readings of the ``baseline_window``
  before the method, read by the guard as one Prometheus subquery), else the samples before the
  fault's injection;
* **during** — samples from the injection to the restored moment (:mod:`chaosrunner.journal.resilience`),
  or to the end of sampling when the service was never restored;
* **recovery** — the recovery watch's ``phase: recovery`` samples from the restored moment on (all of
  them when the service was never restored: then the window shows it is not back).

Test: Mann-Whitney U — two-sided for the fault window, one-sided "worse than baseline?" for the
recovery window (no normality assumption; SLI ratios are skewed and often zero-heavy),
effect size as the ratio of means ("×4.2") with the rank-biserial correlation, and a significance
level of 0.05. With fewer than :data:`MIN_SAMPLES` readings in a window, the verdict says the window is
underpowered instead of claiming a result. Consecutive readings of a windowed rate are autocorrelated,
so p-values are optimistic for long windows; the effect size is the number to read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scipy.stats import mannwhitneyu

from chaosrunner.core.ids import try_time
from chaosrunner.journal import resilience

ALPHA = 0.05
MIN_SAMPLES = 5


@dataclass
class Comparison:
    """One window against the baseline."""

    n_baseline: int
    n: int
    p_value: float | None  # None: underpowered, no test run
    ratio: float | None  # mean(window) / mean(baseline); None when the baseline mean is 0
    difference: float  # mean(window) − mean(baseline), in the SLI's unit (a ratio)
    rank_biserial: float | None  # effect size in [-1, 1]; + means the window is worse (higher)

    @property
    def underpowered(self) -> bool:
        return self.p_value is None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def compare(baseline: Sequence[float], window: Sequence[float], *, alternative: str = "two-sided") -> Comparison:
    """Mann-Whitney U of ``window`` vs ``baseline`` plus effect sizes. ``alternative="greater"`` asks only
    whether the window is *worse* (higher bad-event ratio) — the recovery question: an SLI better than
    its baseline after the rollback is back, not "different"."""
    b = [x for x in baseline if math.isfinite(x)]
    w = [x for x in window if math.isfinite(x)]
    mb = sum(b) / len(b) if b else 0.0
    mw = sum(w) / len(w) if w else 0.0
    ratio = mw / mb if mb > 0 else None
    if len(b) < MIN_SAMPLES or len(w) < MIN_SAMPLES:
        return Comparison(len(b), len(w), None, ratio, mw - mb, None)
    if len(set(b) | set(w)) == 1:  # identical constant series: no difference, nothing to rank
        return Comparison(len(b), len(w), 1.0, ratio, 0.0, 0.0)
    res = mannwhitneyu(w, b, alternative=alternative)
    u = float(res.statistic)
    rbc = 2 * u / (len(w) * len(b)) - 1
    return Comparison(len(b), len(w), float(res.pvalue), ratio, mw - mb, rbc)


def p_text(p: float | None) -> str:
    if p is None:
        return "no test"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def _effect(c: Comparison) -> str:
    if c.ratio is not None and c.difference > 0:
        return f"×{c.ratio:.1f}"
    if c.ratio is not None:
        return f"×{c.ratio:.2f}"
    return f"{c.difference * 100:+.3g} points"


@dataclass
class SteadyStateVerdict:
    sli: str
    during: Comparison | None
    recovery: Comparison | None
    back_after_rollback_s: float | None
    sentence: str

    def to_json(self) -> dict[str, Any]:
        def c(x: Comparison | None) -> dict[str, Any] | None:
            return None if x is None else {**x.__dict__, "significant": x.significant}

        return {
            "sli": self.sli,
            "during": c(self.during),
            "recovery": c(self.recovery),
            "back_after_rollback_s": self.back_after_rollback_s,
            "sentence": self.sentence,
        }


def describe(sli: str, during: Comparison | None, recovery: Comparison | None, back_s: float | None) -> str:
    """ "availability bad-event ratio ×4.2 during the fault (p < 0.001), back to baseline 2.1 s after
    rollback (no significant difference, p = 0.41)"."""
    parts = [sli]
    if during is None:
        parts.append("no samples during the fault")
    elif during.underpowered:
        parts.append(
            f"during the fault: too few samples to tell (baseline n={during.n_baseline}, "
            f"fault n={during.n}; {MIN_SAMPLES} each needed)"
        )
    elif during.significant:
        parts.append(
            f"{_effect(during)} during the fault ({p_text(during.p_value)}, n {during.n} vs {during.n_baseline})"
        )
    else:
        parts.append(f"no significant change during the fault ({p_text(during.p_value)}, {_effect(during)})")
    if recovery is None:
        parts.append("no recovery window sampled")
    elif recovery.underpowered:
        parts.append(f"after rollback: too few samples to tell (n={recovery.n})")
    elif recovery.significant:
        parts.append(f"still {_effect(recovery)} after rollback ({p_text(recovery.p_value)}): not back to baseline")
    else:
        when = f" {back_s:.1f} s after rollback" if back_s is not None else " after rollback"
        parts.append(f"back to baseline{when} (no significant difference, {p_text(recovery.p_value)})")
    return parts[0] + ": " + ", ".join(parts[1:])


def _series(j: Any) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    s = j.chaosrunner
    if s is None or s.guard is None:
        return {}, {}, {}
    guard = s.guard
    t_inj = resilience.injected_at(j)
    rec = resilience.client_recovery(j)
    restored = rec.restored_at if rec.status == "restored" else None
    baseline: dict[str, list[float]] = {}
    during: dict[str, list[float]] = {}
    recovery: dict[str, list[float]] = {}
    stored = (guard.model_extra or {}).get("baseline_samples")
    if isinstance(stored, dict):
        for k, v in stored.items():
            if isinstance(v, list):
                baseline[k] = [float(x) for x in v if isinstance(x, int | float) and not isinstance(x, bool)]
    for smp in guard.samples:
        t: datetime | None = try_time(smp.t)
        phase = (smp.model_extra or {}).get("phase")
        for name, r in smp.slos.items():
            if r is None or r.sli is None or r.scope not in resilience.CLIENT_SCOPES or not math.isfinite(r.sli):
                continue
            if phase == "recovery":  # the recovery watch: before the restored moment the fault still shows
                if restored is None or t is None or t >= restored:
                    recovery.setdefault(name, []).append(r.sli)
                else:
                    during.setdefault(name, []).append(r.sli)
            elif t is not None and t_inj is not None and t < t_inj:
                if not isinstance(stored, dict):
                    baseline.setdefault(name, []).append(r.sli)
            elif (
                restored is not None
                and t is not None
                and t > restored
                and rec.after_rollback_s is not None
                and rec.after_rollback_s < 0
            ):
                continue  # restored before the rollback: between the two is neither fault nor recovery
            else:
                during.setdefault(name, []).append(r.sli)
    return baseline, during, recovery


def steady_state_verdicts(j: Any) -> list[SteadyStateVerdict]:
    """One verdict per client-visible guarded SLI that has samples."""
    baseline, during, recovery = _series(j)
    rec = resilience.client_recovery(j)
    back = rec.after_rollback_s if rec.status == "restored" and rec.after_rollback_s is not None else None
    out = []
    for name in sorted(set(during) | set(recovery)):
        b = baseline.get(name, [])
        d = compare(b, during[name]) if name in during else None
        r = compare(b, recovery[name], alternative="greater") if name in recovery else None
        out.append(
            SteadyStateVerdict(
                name,
                d,
                r,
                None if back is None else max(0.0, back),
                describe(name, d, r, None if back is None else max(0.0, back)),
            )
        )
    return out
