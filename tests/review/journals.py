"""Realistic journals for the review tests and the benchmark, shaped like docs/architecture.md "Journal".

Kinds: ``passed``, ``aborted`` (guard samples climb past the burn-rate limit, abort markers, rollback),
``refused`` (preflight said no, as ``record_refusal`` writes it), ``incomplete`` (what a ``kill -9`` mid-
method leaves: ``complete: false``, verdict ``running``, no end) and ``ctk`` (a plain ``chaos run`` journal
without a ``chaosrunner`` section). ``write_store`` files them under ``<root>/YYYY/MM/DD/<run_id>.json``.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXPERIMENTS = [
    ("experiments/sandbox/monday-instance-kill.yaml", "Monday: kill one pinboard instance"),
    ("experiments/sandbox/tuesday-latency.yaml", "Tuesday: 300 ms latency on one pinboard instance"),
    ("experiments/sandbox/wednesday-cpu-starvation.yaml", "Wednesday: CPU starvation on one instance"),
    ("experiments/sandbox/thursday-db-failover.yaml", "Thursday: PostgreSQL primary failover"),
    ("experiments/sandbox/friday-region-failover.yaml", "Friday: us-east region failover"),
]

BASE = datetime(2026, 11, 16, 14, 0, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat()


def run_id(when: datetime, title: str, rng: random.Random) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower())
    slug = "-".join(p for p in slug.split("-") if p)[:40].strip("-")
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{slug}-{rng.getrandbits(24):06x}"


def _experiment(path: str, title: str) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": title,
        "description": "Weekly calendar experiment.",
        "configuration": {"service": "pinboard"},
        "secrets": {"db": {"password": "***"}},
        "steady-state-hypothesis": {
            "title": "pinboard serves",
            "probes": [
                {
                    "type": "probe",
                    "name": "pinboard-healthy",
                    "tolerance": 200,
                    "provider": {"type": "http", "url": "http://127.0.0.1:8080/health", "timeout": 2},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "inject-fault",
                "provider": {"type": "python", "module": "chaosrunner.drivers.sandbox", "func": "inject"},
            },
            {
                "type": "probe",
                "name": "observe",
                "provider": {"type": "python", "module": "m", "func": "f"},
                "pauses": {"after": 10},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "undo-fault",
                "provider": {"type": "python", "module": "chaosrunner.drivers.sandbox", "func": "undo"},
            }
        ],
        "extensions": [
            {
                "name": "chaosrunner",
                "targets": {
                    "inventory": "sandbox",
                    "select": {"service": "pinboard", "zone": "us-east-a"},
                    "pick": 1,
                },
                "blast_radius": {
                    "services": ["pinboard"],
                    "tiers": ["non-critical"],
                    "max_targets": 1,
                    "zones": 1,
                    "regions": 1,
                    "max_duration": "10m",
                    "error_budget": "1%",
                },
                "slo_guard": {
                    "slos": ["pinboard-availability", "pinboard-latency"],
                    "interval": "1s",
                    "abort_on": {"burn_rate": 14.4, "consecutive": 2},
                    "recovery_deadline": "30m",
                },
            }
        ],
    }


def _target(n: int = 1) -> dict[str, Any]:
    return {
        "id": f"pinboard-us-east-a-{n}",
        "service": "pinboard",
        "region": "us-east",
        "zone": "us-east-a",
        "tier": "non-critical",
        "labels": {"region_type": "Full"},
        "attrs": {"port": 41000 + n},
    }


def _ctk_run(
    name: str,
    kind: str,
    start: datetime,
    seconds: float,
    status: str | None = "succeeded",
    error: str | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "activity": {"type": kind, "name": name, "provider": {"type": "python"}},
        "output": None,
        "start": iso(start),
    }
    if status is not None:
        r.update(status=status, end=iso(start + timedelta(seconds=seconds)), duration=seconds)
    if error:
        r["exception"] = [
            "Traceback (most recent call last):\n",
            f"chaoslib.exceptions.ActivityFailed: {error}\n",
        ]
    return r


def _activity(
    name: str,
    phase: str,
    kind: str,
    start: datetime,
    seconds: float | None,
    status: str = "succeeded",
    error: str | None = None,
    provider: str = "python",
) -> dict[str, Any]:
    return {
        "name": name,
        "phase": phase,
        "type": kind,
        "provider": provider,
        "status": status,
        "start": iso(start),
        "end": iso(start + timedelta(seconds=seconds)) if seconds is not None else None,
        "duration": seconds,
        "error": error,
    }


def _samples(
    start: datetime, n: int, *, abort_at: int | None, rng: random.Random, interval: float = 1.0
) -> list[dict[str, Any]]:
    """SLI error ratio ~0.05 % at rest; with ``abort_at`` it climbs from n/3 and crosses 14.4× burn."""
    out = []
    spent = 0.0
    climb_from = max(0, abort_at - 15) if abort_at else None
    for i in range(n):
        err = 0.0004 + rng.random() * 0.0003
        if climb_from is not None and i >= climb_from:
            err = min(0.5, 0.001 * (1.35 ** min(40, i - climb_from)))
        burn = err / 0.001
        lat = 0.002 + 0.001 * math.sin(i / 7) ** 2
        spent += max(0.0, err - 0.0005) * interval / (30 * 86400 * 0.001)
        out.append(
            {
                "t": iso(start + timedelta(seconds=i * interval)),
                "elapsed_s": round(i * interval, 3),
                "slos": {
                    "pinboard-availability": {
                        "sli": round(err, 6),
                        "burn_rate": round(burn, 4),
                        "scope": "in",
                    },
                    "pinboard-latency": {
                        "sli": round(lat, 6),
                        "burn_rate": round(lat / 0.01, 4),
                        "scope": "out",
                    },
                },
                "budget_spent": spent,
            }
        )
    return out


def passed(
    start: datetime = BASE,
    *,
    exp: int = 0,
    samples: int = 40,
    seed: int = 1,
    trigger: str = "schedule",
    ttr: float = 12.5,
) -> dict[str, Any]:
    rng = random.Random(seed)
    path, title = EXPERIMENTS[exp]
    rid = run_id(start, title, rng)
    t0 = start
    t_inj = t0 + timedelta(seconds=1.2)
    t_rb = t0 + timedelta(seconds=samples + 2.5)  # rollback starts; 0.3 s long; then recovery watch
    end = t_rb + timedelta(seconds=0.3 + ttr + 0.2)
    s = _samples(t_inj, samples, abort_at=None, rng=rng)
    spent = s[-1]["budget_spent"] if s else 0.0
    return {
        "chaoslib-version": "1.44.0",
        "platform": "Linux",
        "node": "sre-box",
        "experiment": _experiment(path, title),
        "status": "completed",
        "start": iso(t0),
        "end": iso(end),
        "duration": (end - t0).total_seconds(),
        "deviated": False,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": []},
            "after": {"steady_state_met": True, "probes": []},
            "during": [],
        },
        "run": [_ctk_run("inject-fault", "action", t_inj, 0.4), _ctk_run("observe", "probe", t_inj, samples)],
        "rollbacks": [_ctk_run("undo-fault", "action", t_rb, 0.3)],
        "chaosrunner": {
            "format": 1,
            "run_id": rid,
            "complete": True,
            "trigger": trigger,
            "calendar_entry": "monday-monkey" if trigger == "schedule" else None,
            "experiment_path": path,
            "experiment_title": title,
            "started_at": iso(t0),
            "ended_at": iso(end),
            "verdict": "passed",
            "reason": "steady state held before and after; every activity succeeded; rollbacks ok",
            "exit_code": 0,
            "preflight": {
                "allowed": True,
                "checks": [
                    {"name": "kill-switch", "ok": True, "detail": "not engaged", "numbers": {}},
                    {
                        "name": "blast-radius",
                        "ok": True,
                        "detail": "1 target, 1 zone",
                        "numbers": {"targets": 1},
                    },
                    {
                        "name": "error-budget",
                        "ok": True,
                        "detail": "82% remaining",
                        "numbers": {"remaining": 0.82},
                    },
                ],
            },
            "targets": [_target()],
            "blast_radius": {
                "declared": _experiment(path, title)["extensions"][0]["blast_radius"],
                "touched": {
                    "targets": 1,
                    "zones": ["us-east-a"],
                    "regions": ["us-east"],
                    "services": ["pinboard"],
                },
            },
            "activities": [
                _activity(
                    "pinboard-healthy",
                    "steady-state-before",
                    "probe",
                    t0 + timedelta(seconds=0.1),
                    0.05,
                    provider="http",
                ),
                _activity("inject-fault", "method", "action", t_inj, 0.4),
                _activity("observe", "method", "probe", t_inj + timedelta(seconds=0.4), samples),
                _activity(
                    "pinboard-healthy",
                    "steady-state-after",
                    "probe",
                    t_rb - timedelta(seconds=0.5),
                    0.05,
                    provider="http",
                ),
                _activity("undo-fault", "rollback", "action", t_rb, 0.3),
            ],
            "guard": {
                "samples": s,
                "decisions": [],
                "budget": {"before": 0.82, "after": 0.82 - spent, "spent": spent, "allowance": 0.01},
            },
            "abort": None,
            "ledger": [
                {  # the runner's run-level entry: opened before the method, not an injection
                    "id": "e0",
                    "fault": "experiment",
                    "target": title,
                    "recorded_at": iso(t0 + timedelta(seconds=0.05)),
                    "outcome": "undone",
                    "closed_at": iso(end),
                },
                {
                    "id": "e1",
                    "fault": "kill-instance",
                    "target": "pinboard-us-east-a-1",
                    "recorded_at": iso(t_inj),
                    "outcome": "undone",
                    "closed_at": iso(end),
                },
            ],
            "timings": {
                "time_to_detect_s": None,
                "time_to_abort_s": None,
                "time_to_rollback_s": 0.3,
                "time_to_recover_s": ttr,
            },
            "figures": {"replacement_time_s": 3.2},
            "recovered_by": None,
        },
    }


def aborted(
    start: datetime = BASE, *, exp: int = 1, samples: int = 30, seed: int = 2, trigger: str = "cli"
) -> dict[str, Any]:
    rng = random.Random(seed)
    doc = passed(start, exp=exp, samples=samples, seed=seed, trigger=trigger)
    sec = doc["chaosrunner"]
    t_inj = start + timedelta(seconds=1.2)
    s = _samples(t_inj, samples, abort_at=samples, rng=rng)
    over = [i for i, x in enumerate(s) if x["slos"]["pinboard-availability"]["burn_rate"] > 14.4]
    first = over[0] if over else samples - 2
    detect_i = min(first + 1, samples - 1)
    t_detect = t_inj + timedelta(seconds=first)
    t_abort = t_inj + timedelta(seconds=detect_i)
    s = s[: detect_i + 1]
    t_rb = t_abort + timedelta(seconds=0.8)
    end = t_rb + timedelta(seconds=6)
    spent = s[-1]["budget_spent"]
    reason = (
        f"pinboard-availability burn rate {s[detect_i]['slos']['pinboard-availability']['burn_rate']:.1f}x "
        f"above 14.4x for 2 consecutive samples"
    )
    doc.update(status="interrupted", end=iso(end), duration=(end - start).total_seconds(), deviated=False)
    doc["run"] = [
        _ctk_run("inject-fault", "action", t_inj, 0.4),
        _ctk_run("observe", "probe", t_inj + timedelta(seconds=0.4), 0, status=None),
    ]
    doc["rollbacks"] = [_ctk_run("undo-fault", "action", t_abort, 0.8)]
    sec.update(
        verdict="aborted",
        exit_code=3,
        ended_at=iso(end),
        reason=f"aborted by the SLO guard: {reason}",
        activities=[
            _activity(
                "pinboard-healthy",
                "steady-state-before",
                "probe",
                start + timedelta(seconds=0.1),
                0.05,
                provider="http",
            ),
            _activity("inject-fault", "method", "action", t_inj, 0.4),
            _activity(
                "observe",
                "method",
                "probe",
                t_inj + timedelta(seconds=0.4),
                (t_abort - t_inj).total_seconds() - 0.4,
                status="interrupted",
                error="interrupted by abort: <script>alert('x')</script>",
            ),
            _activity("undo-fault", "rollback", "action", t_abort, 0.8),
        ],
        guard={
            "samples": s,
            "decisions": [{"t": iso(t_abort), "action": "abort", "reason": reason}],
            "budget": {"before": 0.64, "after": 0.64 - spent, "spent": spent, "allowance": 0.01},
        },
        abort={"reason": reason, "decided_at": iso(t_abort), "rollback_completed_at": iso(t_rb)},
        ledger=[
            {
                "id": "e1",
                "fault": "latency-toxic 300ms",
                "target": "proxy pinboard-us-east-a-1",
                "recorded_at": iso(t_inj),
                "outcome": "undone",
                "closed_at": iso(t_rb),
            }
        ],
        timings={
            "time_to_detect_s": (t_detect - t_inj).total_seconds(),
            "time_to_abort_s": (t_abort - t_detect).total_seconds(),
            "time_to_rollback_s": 0.8,
            "time_to_recover_s": 6.0,
        },
    )
    return doc


def refused(start: datetime = BASE, *, exp: int = 3, seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    path, title = EXPERIMENTS[exp]
    rid = run_id(start, title, rng)
    return {
        "experiment": {"title": title},
        "status": "skipped",
        "start": iso(start),
        "end": iso(start),
        "duration": 0.0,
        "deviated": False,
        "steady_states": {"before": None, "after": None, "during": []},
        "run": [],
        "rollbacks": [],
        "chaosrunner": {
            "format": 1,
            "run_id": rid,
            "complete": True,
            "verdict": "refused",
            "reason": "error budget too low: 12% remaining, gate is 25%",
            "exit_code": 4,
            "started_at": iso(start),
            "ended_at": iso(start),
            "preflight": {
                "allowed": False,
                "checks": [
                    {"name": "kill-switch", "ok": True, "detail": "not engaged", "numbers": {}},
                    {
                        "name": "error-budget",
                        "ok": False,
                        "detail": "12% remaining < 25% gate",
                        "numbers": {"remaining": 0.12, "gate": 0.25},
                    },
                ],
            },
            "targets": [],
            "blast_radius": None,
            "activities": [],
            "guard": None,
            "abort": None,
            "ledger": [],
            "timings": {
                "time_to_detect_s": None,
                "time_to_abort_s": None,
                "time_to_rollback_s": None,
                "time_to_recover_s": None,
            },
            "figures": {},
            "recovered_by": None,
            "trigger": "schedule",
            "calendar_entry": "thursday-db",
            "experiment_path": path,
            "experiment_title": title,
        },
    }


def incomplete(start: datetime = BASE, *, exp: int = 2, samples: int = 12, seed: int = 4) -> dict[str, Any]:
    """As a ``kill -9`` mid-method leaves it: no end, verdict running, last activity still running."""
    doc = passed(start, exp=exp, samples=samples, seed=seed, trigger="cli")
    t_inj = start + timedelta(seconds=1.2)
    for k in ("end", "duration"):
        doc.pop(k)
    doc["status"] = None
    doc["steady_states"]["after"] = None
    doc["run"] = [
        _ctk_run("inject-fault", "action", t_inj, 0.4),
        _ctk_run("observe", "probe", t_inj + timedelta(seconds=0.4), 0, status=None),
    ]
    doc["rollbacks"] = []
    sec = doc["chaosrunner"]
    sec.update(
        complete=False,
        verdict="running",
        reason=None,
        exit_code=None,
        ended_at=None,
        timings={
            "time_to_detect_s": None,
            "time_to_abort_s": None,
            "time_to_rollback_s": None,
            "time_to_recover_s": None,
        },
    )
    sec["activities"] = [a for a in sec["activities"] if a["phase"] in ("steady-state-before", "method")]
    sec["activities"][-1].update(status="running", end=None, duration=None)
    for entry in sec["ledger"]:
        entry.update(outcome=None, closed_at=None)
    sec["guard"]["budget"]["after"] = None
    return doc


def ctk(start: datetime = BASE, *, failed_action: bool = True) -> dict[str, Any]:
    """A plain ``chaos run`` journal: completed status although an action failed (Chaos Toolkit's way)."""
    t = start
    end = t + timedelta(seconds=3)
    return {
        "chaoslib-version": "1.44.0",
        "platform": "Linux",
        "node": "laptop",
        "experiment": {
            "version": "1.0.0",
            "title": "Plain Chaos Toolkit experiment",
            "description": "n/a",
            "method": [{"type": "action", "name": "break-things", "provider": {"type": "process", "path": "false"}}],
        },
        "start": iso(t),
        "status": "completed",
        "deviated": False,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": []},
            "after": {"steady_state_met": True, "probes": []},
            "during": [],
        },
        "run": [
            _ctk_run(
                "break-things",
                "action",
                t + timedelta(seconds=0.5),
                0.1,
                status="failed" if failed_action else "succeeded",
                error="process 'false' exited with code 1" if failed_action else None,
            )
        ],
        "rollbacks": [],
        "end": iso(end),
        "duration": 3.0,
    }


KINDS = {"passed": passed, "aborted": aborted, "refused": refused, "incomplete": incomplete}


def write_journal(root: Path, doc: dict[str, Any]) -> Path:
    rid = doc["chaosrunner"]["run_id"]
    p = root / rid[0:4] / rid[4:6] / rid[6:8] / f"{rid}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


def write_store(root: Path, n: int, *, weeks: int = 12, seed: int = 7, end: datetime = BASE) -> list[Path]:
    """``n`` journals spread over ``weeks`` weeks before ``end``, mixed kinds and experiments."""
    rng = random.Random(seed)
    paths = []
    span = weeks * 7 * 86400
    for i in range(n):
        when = end - timedelta(seconds=rng.randrange(span))
        exp = rng.randrange(len(EXPERIMENTS))
        roll = rng.random()
        if roll < 0.7:
            doc = passed(
                when,
                exp=exp,
                samples=rng.randrange(5, 30),
                seed=i,
                trigger=rng.choice(["schedule", "cli", "gameday"]),
                ttr=rng.uniform(2, 60),
            )
        elif roll < 0.85:
            doc = aborted(when, exp=exp, samples=rng.randrange(10, 30), seed=i)
        elif roll < 0.95:
            doc = refused(when, exp=exp, seed=i)
        else:
            doc = incomplete(when, exp=exp, seed=i)
        paths.append(write_journal(root, doc))
    return paths
