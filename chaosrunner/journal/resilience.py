"""The resilience glossary in code (docs/glossary.md): one definition per word, read from a journal.

Every reader — the listing and trend (:mod:`.summary`), the report, the CLI and the demo — takes its
timings, its activity outcomes and its measured-vs-target rows from here, so "RTO" means the same
thing on every screen:

* **fault injected** — the first fault a driver recorded in the ledger (just before touching
  anything), else the start of the first method action.
* **time to detect** / **time to abort** — from the guard's start (= method start) to the first
  sample over the abort rule / to the abort decision (the guard measures them).
* **time to roll back** — from the abort decision to the end of the rollbacks.
* **RTO** — from *fault injected* to *the service restored as clients see it*: the first guard
  sample after which every guarded SLI (in scope and service-wide; out-of-scope readings are other
  clients) stays within objective (burn rate ≤ 1) for ``recovery_sustain`` seconds. A run whose SLIs
  never left their objective after the injection had **no client-visible impact** (RTO 0). The
  resolution is the guard's ``interval`` plus the SLI's ``window`` (a windowed rate lags the service).
* **time to recover** — from the end of the rollbacks to the same "restored" moment (the recovery
  watch), measured after a pass *and* after an abort.
* **RPO** — data lost: ``timings.data_lost_s`` (seconds) or the scenario's ``rpo_writes_lost`` count.

Pure: no I/O; works on the full :class:`Journal` and on the listing head (samples there are raw dicts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chaosrunner.core.ids import plus_seconds, try_time
from chaosrunner.core.units import parse_duration
from chaosrunner.core.verdict import activity_failed
from chaosrunner.journal.schema import RUN_LEVEL_FAULT, SECTION

CLIENT_SCOPES = (None, "in", "service")  # readings clients of the broken service see


@dataclass
class ActivityOutcome:
    """One activity as it really ended: chaosrunner's record corrected by Chaos Toolkit's entry (a
    process action that exited non-zero, an http action answered >= 400, a probe whose tolerance was
    not met are *failed*, whatever "succeeded" chaoslib wrote)."""

    name: str
    phase: str
    type: str
    provider: str | None
    status: str
    start: str | None
    end: str | None
    duration: float | None
    error: str | None


def extension_block(j: Any) -> dict[str, Any]:
    """The experiment's ``extensions: [{name: chaosrunner, ...}]`` block, or {} when absent/garbled."""
    exts = (j.experiment or {}).get("extensions")
    if isinstance(exts, list):
        for e in exts:
            if isinstance(e, dict) and e.get("name") == SECTION:
                return e
    return {}


def as_mapping(x: Any) -> Mapping[str, Any]:
    """Read-only mapping view of a journal part (listing heads hold raw dicts; full journals models)."""
    if isinstance(x, dict):
        return x
    if isinstance(x, BaseModel):
        return x.model_dump()
    return x if isinstance(x, Mapping) else {}


def _ctk_error(r: Mapping[str, Any]) -> str:
    exc = r.get("exception")
    if exc:
        text = "".join(exc) if isinstance(exc, list) else str(exc)
        return text.strip().splitlines()[-1].strip() if text.strip() else "failed"
    output = r.get("output")
    ptype = ((r.get("activity") or {}).get("provider") or {}).get("type")
    if isinstance(output, Mapping) and "status" in output:
        if ptype == "http":
            return f"http status {output['status']}"
        stderr = output.get("stderr")
        detail = f": {stderr.strip()[:500]}" if isinstance(stderr, str) and stderr.strip() else ""
        return f"process exited with status {output['status']}{detail}"
    return "failed"


def _ctk_entries(j: Any) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Chaos Toolkit's outcomes keyed by (phase, activity name), in order of occurrence."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for phase, entries in (("method", j.run), ("rollback", j.rollbacks)):
        for r in entries or []:
            d = as_mapping(r)
            name = (d.get("activity") or {}).get("name")
            if isinstance(name, str):
                out.setdefault((phase, name), []).append(dict(d))
    steady = j.steady_states if isinstance(j.steady_states, Mapping) else {}
    for key, phase in (("before", "steady-state-before"), ("after", "steady-state-after")):
        block = steady.get(key)
        probes = block.get("probes") if isinstance(block, Mapping) else None
        for p in probes if isinstance(probes, list) else []:
            if isinstance(p, Mapping):
                name = (p.get("activity") or {}).get("name")
                if isinstance(name, str):
                    out.setdefault((phase, name), []).append(dict(p))
    return out


def activity_outcomes(j: Any) -> list[ActivityOutcome]:
    """Every activity of the run with its real outcome (chaosrunner's records, corrected by Chaos
    Toolkit's; Chaos Toolkit's alone for a plain ``chaos run`` journal)."""
    s = j.chaosrunner
    ctk = _ctk_entries(j)
    seen: dict[tuple[str, str], int] = {}
    out: list[ActivityOutcome] = []
    if s is not None and s.activities:
        for a in s.activities:
            name = a.name or "(unnamed)"
            phase = getattr(a, "phase", None) or "—"
            key = (phase, name)
            n = seen.get(key, 0)
            seen[key] = n + 1
            entries = ctk.get(key) or []
            entry = entries[n] if n < len(entries) else None
            status = a.status or "—"
            error = a.error
            if entry is not None and status == "succeeded":
                if activity_failed(entry):
                    status, error = "failed", error or _ctk_error(entry)
                elif entry.get("tolerance_met") is False:
                    status, error = "failed", error or "tolerance not met"
            if status == "failed" and not error:
                error = "failed (no error text recorded)"
            out.append(
                ActivityOutcome(
                    name=name,
                    phase=phase,
                    type=getattr(a, "type", None) or "—",
                    provider=getattr(a, "provider", None),
                    status=status,
                    start=getattr(a, "start", None),
                    end=getattr(a, "end", None),
                    duration=getattr(a, "duration", None),
                    error=error,
                )
            )
        return out
    for phase, entries in (("method", j.run), ("rollback", j.rollbacks)):
        for r in entries or []:
            d = as_mapping(r)
            act = as_mapping(d.get("activity"))
            name = act.get("name")
            failed = activity_failed(d)
            status = "failed" if failed else (d.get("status") or ("running" if d.get("end") is None else "—"))
            out.append(
                ActivityOutcome(
                    name=name if isinstance(name, str) else "(unnamed)",
                    phase=phase,
                    type=str(act.get("type")) if isinstance(act.get("type"), str) else "—",
                    provider=as_mapping(act.get("provider")).get("type"),
                    status=status,
                    start=d.get("start"),
                    end=d.get("end"),
                    duration=d.get("duration"),
                    error=_ctk_error(d) if failed else None,
                )
            )
    return out


def failed_activities(j: Any) -> list[ActivityOutcome]:
    return [a for a in activity_outcomes(j) if a.status == "failed"]


def injected_at(j: Any) -> datetime | None:
    """*Fault injected*: the first driver ledger entry, else the first method action's start."""
    s = j.chaosrunner
    if s is not None:
        recorded = [try_time(e.recorded_at) for e in (getattr(s, "ledger", None) or []) if e.fault != RUN_LEVEL_FAULT]
        recorded_t = [t for t in recorded if t]
        if recorded_t:
            return min(recorded_t)
        for a in s.activities or []:
            if getattr(a, "phase", None) == "method" and getattr(a, "type", None) == "action":
                if t := try_time(getattr(a, "start", None)):
                    return t
        return None
    for r in j.run or []:
        d = as_mapping(r)
        if (d.get("activity") or {}).get("type") == "action" and (t := try_time(d.get("start"))):
            return t
    return None


def rollback_done_at(j: Any) -> datetime | None:
    s = j.chaosrunner
    if s is None:
        return None
    if s.abort is not None and (t := try_time(s.abort.rollback_completed_at)):
        return t
    ends = [try_time(getattr(a, "end", None)) for a in s.activities or [] if getattr(a, "phase", None) == "rollback"]
    ends_t = [t for t in ends if t]
    return max(ends_t) if ends_t else None


def client_readings(sample: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The readings of one guard sample that say what clients saw: the client-vantage SLIs when the guard
    has any (measured where the clients are, they count requests no live server answered), else the
    service's own in-scope and whole-service readings."""
    readings = {k: as_mapping(v) for k, v in (sample.get("slos") or {}).items()}
    client = {k: r for k, r in readings.items() if r.get("vantage") == "client" and r.get("scope") in CLIENT_SCOPES}
    return client or {k: r for k, r in readings.items() if r and r.get("scope") in CLIENT_SCOPES}


def sample_within_objective(sample: Mapping[str, Any]) -> bool:
    """Whether every client-visible guarded SLI of one guard sample (:func:`client_readings`) is within
    objective (burn ≤ 1). A client-visible reading without data is *not* within objective (nobody can say
    it is)."""
    seen = False
    for r in client_readings(sample).values():
        seen = True
        burn = r.get("burn_rate")
        if not isinstance(burn, int | float) or not math.isfinite(burn) or burn > 1.0:
            return False
    return seen


@dataclass
class Recovery:
    """When the service was restored as clients see it, measured from the fault's injection."""

    status: str  # restored | no-impact | not-restored | unknown
    rto_s: float | None  # from fault injected to restored; 0 for no-impact; None when not restored/unknown
    restored_at: datetime | None
    after_rollback_s: float | None  # restored − rollbacks done (negative: restored before the rollback)
    detail: str

    @property
    def headline(self) -> str:
        from_text = {
            "no-impact": "no client-visible impact (SLIs within objective throughout)",
            "not-restored": "not restored",
            "unknown": "unknown",
        }
        return from_text.get(self.status, "restored")


def guard_samples(j: Any) -> list[Mapping[str, Any]]:
    s = j.chaosrunner
    if s is None or s.guard is None:
        return []
    return [as_mapping(x) for x in (s.guard.samples or [])]


def _recovery_watch(j: Any) -> dict[str, Any]:
    s = j.chaosrunner
    g = s.guard if s is not None else None
    rec = getattr(g, "recovery", None)
    return rec if isinstance(rec, dict) else {}


def _phase(sample: Mapping[str, Any]) -> str | None:
    v = sample.get("phase")
    return v if isinstance(v, str) else None


def _interval_s(j: Any) -> float:
    s = j.chaosrunner
    g = s.guard if s is not None else None
    v = getattr(g, "interval_s", None) if g is not None else None
    if v is None and g is not None:
        v = (getattr(g, "model_extra", None) or {}).get("interval_s")
    return float(v) if isinstance(v, int | float) and v > 0 else 1.0


def sustain_s(j: Any) -> float:

    guard = extension_block(j).get("slo_guard")
    if isinstance(guard, dict) and guard.get("recovery_sustain") is not None:
        try:
            return parse_duration(guard["recovery_sustain"])
        except ValueError:
            return 0.0
    return 0.0


_LAST: list[Any] = [None, None]  # (journal, Recovery): the readers ask several times per journal


def client_recovery(j: Any) -> Recovery:
    """RTO and the restored moment (see the module docstring for the definition). The last answer is
    kept for the same journal object (a summary and a report ask for it several times)."""
    if _LAST[0] is j:
        return _LAST[1]  # type: ignore[no-any-return]
    rec = _client_recovery(j)
    _LAST[0], _LAST[1] = j, rec
    return rec


def _client_recovery(j: Any) -> Recovery:
    t_inj = injected_at(j)
    rb_done = rollback_done_at(j)
    s = j.chaosrunner
    if t_inj is None or s is None:
        return Recovery("unknown", None, None, None, "no fault injection recorded")
    pts: list[tuple[datetime, bool]] = []
    for smp in guard_samples(j):
        t = try_time(smp.get("t"))
        if t is not None and (t - t_inj).total_seconds() >= -0.001:  # a difference never leaves the calendar
            pts.append((t, sample_within_objective(smp)))
    pts.sort(key=lambda p: p[0])
    timings = s.timings
    ttr = timings.time_to_recover_s if timings is not None else None
    watch = _recovery_watch(j)
    watch_ok = watch.get("recovered") is True or (ttr is not None and watch.get("recovered") is not False)
    # the moment the recovery watch saw the clients served again (None without one, or out of the calendar)
    watched = plus_seconds(rb_done, ttr) if watch_ok and ttr is not None and rb_done is not None else None

    def done(at: datetime, how: str) -> Recovery:
        rto = max(0.0, (at - t_inj).total_seconds())
        after = (at - rb_done).total_seconds() if rb_done else None
        return Recovery("restored", round(rto, 3), at, None if after is None else round(after, 3), how)

    if not pts:
        if watched is not None:
            return done(watched, "recovery watch after the rollbacks (no guard samples)")
        return Recovery("unknown", None, None, None, "no guard samples after the injection")
    bad = [i for i, (_, ok) in enumerate(pts) if not ok]
    polled_bad = watched is not None and ttr is not None and ttr >= _interval_s(j)
    if not bad and polled_bad and not any(_phase(smp) == "recovery" for smp in guard_samples(j)):
        # an older journal: no samples after the rollbacks, but the recovery watch polled more than
        # once, so the SLIs were outside objective after the rollback
        assert watched is not None
        return done(watched, "recovery watch after the rollbacks")
    if not bad:
        return Recovery("no-impact", 0.0, t_inj, None, f"all {len(pts)} samples after the injection within objective")
    last_bad = bad[-1]
    if last_bad == len(pts) - 1:
        if watched is not None:
            return done(watched, "recovery watch after the rollbacks")
        why = watch.get("reason") if isinstance(watch.get("reason"), str) else "SLIs still outside objective"
        return Recovery("not-restored", None, None, None, f"not restored by the last sample: {why}")
    at = pts[last_bad + 1][0]
    held = (pts[-1][0] - at).total_seconds()
    need = sustain_s(j)
    if held + 1e-9 < need and not watch_ok:
        return Recovery("not-restored", None, None, None, f"within objective for {held:.1f} s only, {need:g} s needed")
    return done(at, f"first sample back within objective after the last breach; held {held:.1f} s")


def time_to_recover_s(j: Any) -> float | None:
    """From the end of the rollbacks to restored (never negative: restored before the rollback is 0)."""
    r = client_recovery(j)
    if r.status == "restored" and r.after_rollback_s is not None:
        return max(0.0, r.after_rollback_s)
    if r.status == "no-impact" and rollback_done_at(j) is not None:
        return 0.0
    s = j.chaosrunner
    return s.timings.time_to_recover_s if s is not None and s.timings is not None else None


def rpo(j: Any) -> tuple[float | None, str]:
    """(data lost in seconds where known, how it was measured)."""
    s = j.chaosrunner
    if s is None:
        return None, "not measured"
    if s.timings is not None and s.timings.data_lost_s is not None:
        return s.timings.data_lost_s, "data lost (s)"
    figs = s.figures or {}
    lost = figs.get("rpo_writes_lost")
    if isinstance(lost, int | float) and not isinstance(lost, bool):
        if lost == 0:
            return 0.0, "0 acknowledged writes lost"
        return None, f"{lost:g} acknowledged writes lost"
    return None, "not measured"


# ---------------------------------------------------------------------------------------------
# Measured vs target














def guarded_slos(j: Any) -> list[str]:
    guard = extension_block(j).get("slo_guard")
    slos = guard.get("slos") if isinstance(guard, dict) else None
    return [x for x in slos if isinstance(x, str)] if isinstance(slos, list) else []


def breached_slos(j: Any) -> list[str]:
    """Guarded SLOs whose client-visible reading left its objective (burn > 1) after the injection."""
    t_inj = injected_at(j)
    out: set[str] = set()
    for smp in guard_samples(j):
        t = try_time(smp.get("t"))
        if t_inj is not None and t is not None and t < t_inj:
            continue
        for key, r in client_readings(smp).items():
            burn = r.get("burn_rate")
            if isinstance(burn, int | float) and burn > 1.0:
                out.add(key.split("@")[0])
    return sorted(out)
