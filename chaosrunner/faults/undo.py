"""Executing undos: turning a ledger entry's undo back into a Chaos Toolkit activity, running it with a
timeout, and reverting a run's open entries newest first (independent ones in parallel).

A timed-out undo cannot be killed (it is a thread running third-party code); it is reported and its entry
is closed ``undo-failed``, so the operator knows the fault may still be in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.faults.ledger import ROLLBACKS_UNDO, Ledger, LedgerEntry

log = logging.getLogger("chaosrunner.faults")

DEFAULT_UNDO_TIMEOUT_S = 30.0


@dataclass
class UndoOutcome:
    """What happened when an open entry was reverted. ``seconds`` is the undo's wall time."""

    entry_id: str
    run_id: str
    fault: str
    target: str
    outcome: str  # undone | expired | undo-failed | undo-running | skipped
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in ("undone", "expired", "skipped")


def as_activity(undo: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Accept a full Chaos Toolkit activity or just its provider dict; return ``(activity, configuration)``.

    An undo may carry a ``configuration`` mapping (e.g. ``{"toxiproxy_url": ...}`` for chaostoolkit-toxiproxy,
    whose functions read their endpoint from it); it is handed to the activity the way chaoslib would.
    Never put secret values in it — it is stored in the ledger.
    """
    undo = dict(undo)
    configuration = undo.pop("configuration", None) or {}
    if not isinstance(configuration, dict):
        raise ValueError("undo configuration must be a mapping")
    if "provider" in undo:
        return {"type": "action", "name": name, **undo}, configuration
    return {"type": "action", "name": name, "provider": undo}, configuration


class UndoStillRunning(TimeoutError):
    """The undo did not finish in time and its thread is still running (it cannot be killed)."""


_running: list[tuple[str, threading.Thread]] = []
_running_lock = threading.Lock()


def still_running() -> list[str]:
    """Names of undos that timed out and whose threads are still running in this process."""
    with _running_lock:
        _running[:] = [(n, t) for n, t in _running if t.is_alive()]
        return [n for n, _ in _running]


def call_with_timeout(fn: Callable[[], Any], timeout_s: float, name: str = "undo") -> Any:
    """Run ``fn`` in a daemon thread; after ``timeout_s`` seconds raise :class:`UndoStillRunning`.

    chaoslib's python provider has no timeout; a hung undo must not hang recovery. The thread cannot be
    killed: it is tracked (:func:`still_running`) and reported, and being a daemon it never keeps the
    recovering process alive.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the caller, never raised in the thread
            box["error"] = e

    t = threading.Thread(target=target, name="chaosrunner-undo", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        with _running_lock:
            _running.append((name, t))
        raise UndoStillRunning(f"undo did not finish within {timeout_s:g} s and is still running")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_undo_activity(
    activity: dict[str, Any], configuration: dict[str, Any], secrets_: dict[str, Any], timeout_s: float
) -> Any:
    """One activity through chaoslib's activity machinery (python/process/http), bounded by ``timeout_s``."""
    from chaoslib.activity import run_activity

    return call_with_timeout(lambda: run_activity(activity, configuration or {}, secrets_ or {}), timeout_s,
                             str(activity.get("name", "undo")))


def rollbacks_undo(
    experiment_path: str | Path,
    configuration: dict[str, Any] | None,
    experiment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run-level undo: "replay the rollbacks of experiment file X with configuration C".

    Secrets are never stored: at recovery they are re-read from the experiment's ``secrets`` block
    (which names env vars); only those env var names are kept, for the record. Configuration keys the
    experiment declares as env references (``{"type": "env", "key": K}``) are stored as the reference,
    not the resolved value, since such values are often credentials.
    """
    declared = dict((experiment or {}).get("configuration") or {})
    config = dict(declared)
    for key, value in (configuration or {}).items():
        ref = declared.get(key)
        if not (isinstance(ref, dict) and ref.get("type") == "env"):
            config[key] = value
    secret_env: list[str] = []
    for scope in ((experiment or {}).get("secrets") or {}).values():
        if isinstance(scope, dict):
            for value in scope.values():
                if isinstance(value, dict) and value.get("type") == "env" and isinstance(value.get("key"), str):
                    secret_env.append(value["key"])
    return {
        "type": ROLLBACKS_UNDO,
        "experiment_path": str(Path(experiment_path).absolute()),
        "configuration": config,
        "secret_env": sorted(set(secret_env)),
    }


def replay_rollbacks(undo: dict[str, Any], timeout_s: float) -> list[str]:
    """Replay an experiment's rollbacks; returns one problem string per rollback that failed.

    Each rollback gets ``timeout_s`` seconds. A failing rollback does not stop the others.
    """
    from chaoslib.configuration import load_configuration
    from chaoslib.secret import load_secrets

    from chaosrunner.core.validation import load_document  # YAML and pydantic only when replaying (start-up)

    experiment = load_document(undo["experiment_path"])
    if not isinstance(experiment, dict):
        raise ValueError(f"{undo['experiment_path']}: not an experiment")
    configuration = load_configuration(undo.get("configuration") or {})
    secrets_ = load_secrets(experiment.get("secrets") or {}, configuration)
    named = {a.get("name"): a for a in _all_activities(experiment) if isinstance(a, dict)}
    problems = []
    for i, rollback in enumerate(experiment.get("rollbacks") or []):
        activity = named.get(rollback.get("ref")) if isinstance(rollback, dict) and "ref" in rollback else rollback
        label = (activity or {}).get("name") if isinstance(activity, dict) else None
        label = label or f"rollbacks[{i}]"
        try:
            if not isinstance(activity, dict):
                raise ValueError("unresolvable rollback")
            run_undo_activity(activity, configuration, secrets_, float(activity.get("timeout") or timeout_s))
        except BaseException as e:  # noqa: BLE001 - one failed rollback never stops the rest
            problems.append(f"{label}: {type(e).__name__}: {e}")
    return problems


def _all_activities(experiment: dict[str, Any]) -> list[Any]:
    ssh = experiment.get("steady-state-hypothesis") or {}
    probes = ssh.get("probes") or [] if isinstance(ssh, dict) else []
    return [*probes, *(experiment.get("method") or []), *(experiment.get("rollbacks") or [])]


def revert_entry(ledger: Ledger, entry: LedgerEntry, timeout_s: float = DEFAULT_UNDO_TIMEOUT_S) -> UndoOutcome:
    """Run one entry's undo and close it with the outcome. Never raises for a failing undo."""
    started = time.monotonic()
    expired = entry.expires_at is not None and time.time() >= entry.expires_at
    try:
        if entry.undo is None:
            if not expired:
                raise ValueError("no undo recorded and the fault has not expired")
        elif entry.undo.get("type") == ROLLBACKS_UNDO:
            problems = replay_rollbacks(entry.undo, timeout_s)
            if problems:
                raise RuntimeError("; ".join(problems))
        else:
            activity, configuration = as_activity(entry.undo, f"undo {entry.fault}")
            run_undo_activity(activity, configuration, {}, timeout_s)
        outcome, detail = ("expired" if expired and entry.undo is None else "undone"), ""
    except UndoStillRunning as e:
        # The fault may or may not be gone: the entry stays open, so the next keeper (watchdog, reaper,
        # recover) tries again once this process is gone, and the run's verdict is rollback-failed.
        log.error("undo of %s on %s: %s", entry.fault, entry.target, e)
        return UndoOutcome(entry.id, entry.run_id, entry.fault, entry.target, "undo-running", str(e),
                           round(time.monotonic() - started, 3))
    except BaseException as e:  # noqa: BLE001 - an undo may raise anything; recovery goes on
        log.warning("undo of %s on %s failed: %s: %s", entry.fault, entry.target, type(e).__name__, e)
        outcome = "expired" if expired else "undo-failed"
        detail = f"{type(e).__name__}: {e}"[:2000]
    try:
        ledger.close(entry.id, outcome, detail, run_id=entry.run_id, overrule=outcome == "undo-failed")
    except OSError as e:
        log.error("cannot close ledger entry %s (%s): %s — it stays open for the next keeper", entry.id, outcome, e)
    return UndoOutcome(
        entry.id,
        entry.run_id,
        entry.fault,
        entry.target,
        outcome,
        detail,
        round(time.monotonic() - started, 3),
    )


def undo_batches(newest_first: list[LedgerEntry]) -> list[list[LedgerEntry]]:
    """Pure: split entries (newest first) into batches that may be undone concurrently.

    Undo order is the reverse of injection, one entry after the other — except that a run of consecutive
    entries of the same ``fault`` on distinct targets (a driver injecting one fault into several targets,
    e.g. a region's proxies) forms one batch: they are independent by construction, and undoing them one
    by one multiplies the recovery time by the number of targets. The run-level entry is always alone.
    """
    batches: list[list[LedgerEntry]] = []
    for entry in newest_first:
        last = batches[-1] if batches else None
        if (
            last
            and entry.fault == last[0].fault
            and entry.target not in {e.target for e in last}
            and not _is_run_level(entry)
            and not _is_run_level(last[0])
        ):
            last.append(entry)
        else:
            batches.append([entry])
    return batches


def _is_run_level(entry: LedgerEntry) -> bool:
    return isinstance(entry.undo, dict) and entry.undo.get("type") == ROLLBACKS_UNDO


def revert_open(
    ledger: Ledger,
    run_id: str | None = None,
    timeout_s: float = DEFAULT_UNDO_TIMEOUT_S,
    *,
    keep: frozenset[str] = frozenset(),
) -> list[UndoOutcome]:
    """Revert every open entry (of one run, or all) but those in ``keep``, newest first — the reverse of
    injection order (same-fault entries on distinct targets together, see :func:`undo_batches`).

    Runs already being reverted by another process are skipped (outcome ``skipped``). Never raises
    for a failed undo: each outcome is reported and the rest still run.
    """
    entries = [e for e in ledger.open_entries(run_id) if e.id not in keep]
    by_run: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        by_run.setdefault(entry.run_id, []).append(entry)
    outcomes: list[UndoOutcome] = []
    for rid, run_entries in by_run.items():
        with ledger.reverting(rid) as mine:
            if not mine:
                outcomes += [
                    UndoOutcome(e.id, rid, e.fault, e.target, "skipped", "another process is reverting")
                    for e in run_entries
                ]
                continue
            for batch in undo_batches(sorted(run_entries, key=lambda e: e.recorded_at, reverse=True)):
                fresh = [f for f in (ledger.get(e.id, rid) for e in batch) if f is not None and f.status != "closed"]
                if len(fresh) == 1:
                    outcomes.append(revert_entry(ledger, fresh[0], timeout_s))
                elif fresh:
                    with ThreadPoolExecutor(max_workers=len(fresh), thread_name_prefix="chaosrunner-undo") as pool:
                        outcomes += list(pool.map(lambda e: revert_entry(ledger, e, timeout_s), fresh))
    for rid, eid, path in ledger.unreadable_open(run_id):
        detail = "ledger entry unreadable or not owner-only, not executed: revert by hand, then delete it"
        outcomes.append(UndoOutcome(eid, rid, "unknown", str(path), "undo-failed", detail))
    return outcomes
