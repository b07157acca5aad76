"""Recovery of faults whose run is gone: revert the open ledger entries of dead owners and leave the
record of it in each run's journal. Used by every command at start, the daemon, the watchdog and
``chaosrunner recover``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaosrunner.core import storage
from chaosrunner.core.ids import now_iso, parse_time
from chaosrunner.core.verdict import Verdict
from chaosrunner.faults import runs
from chaosrunner.faults.ledger import Ledger, owner_alive
from chaosrunner.faults.undo import DEFAULT_UNDO_TIMEOUT_S, UndoOutcome, revert_open
from chaosrunner.journal.layout import existing_journal_path


def journal_path_for(run_id: str, *, state: Path | None = None, journals: Path | None = None) -> Path | None:
    """Where the run's journal is: the lease's path while the run holds one, else the store's layout."""
    lease = runs.read(state if state is not None else storage.state_dir(), run_id)
    if lease is not None and Path(lease.journal).is_file():
        return Path(lease.journal)
    return existing_journal_path(run_id, journals)


def mark_journal(
    path: Path,
    ledger: Ledger,
    run_id: str,
    outcomes: Sequence[UndoOutcome],
    recovered_by: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Record in the run's journal that ``recovered_by`` reverted its faults; atomic write. Returns it.

    A missing or unreadable journal is replaced by a minimal one, so the record of the recovery survives.
    """
    # the journal's schema (pydantic) only when a journal is marked: a watchdog whose run ends cleanly never
    # needs it (start-up)
    from chaosrunner.journal.schema import close_ctk, close_cut_entries, final_fields

    try:
        journal = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(journal, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        journal = {"status": "interrupted"}
    cr = journal.get("chaosrunner")
    if not isinstance(cr, dict):
        cr = journal["chaosrunner"] = {"format": 1, "run_id": run_id}
    failed = [o for o in outcomes if not o.ok]
    verdict = Verdict.ROLLBACK_FAILED if failed else Verdict.ABORTED
    ended_at = now_iso()
    if reason is None:
        reason = (
            f"the runner died; {recovered_by} reverted {len(outcomes) - len(failed)} of {len(outcomes)} open fault(s)"
        )
        if failed:
            reason += "; still in place: " + ", ".join(f"{o.fault} on {o.target} ({o.detail})" for o in failed)
    cr.update({**final_fields(verdict, reason, cr.get("ended_at") or ended_at), "recovered_by": recovered_by})
    cr.setdefault("ended_at", ended_at)
    started_at = cr.get("started_at") if isinstance(cr.get("started_at"), str) else None
    try:
        duration = max(0.0, (parse_time(ended_at) - parse_time(started_at)).total_seconds()) if started_at else 0.0
    except ValueError:
        duration = 0.0
    journal = close_ctk(  # every Chaos Toolkit key, as a run chaoslib never finished
        close_cut_entries(journal, reason),
        experiment={"title": cr.get("experiment_title") or run_id},
        status="interrupted",
        start=started_at or ended_at,
        end=ended_at,
        duration_s=round(duration, 3),
    )
    views = {e.id: e.journal_view() for e in ledger.entries(run_id)}
    merged = []
    for item in cr.get("ledger") or []:
        if isinstance(item, dict) and item.get("id") in views:
            merged.append({**item, **views.pop(item["id"])})
        else:
            merged.append(item)
    cr["ledger"] = merged + list(views.values())
    storage.atomic_write_json(Path(path), journal)
    return journal


def recover_orphans(
    state: Path | None = None,
    timeout_s: float = DEFAULT_UNDO_TIMEOUT_S,
    mark_journals: bool = True,
    recovered_by: str = "recover",
    skip_runs: frozenset[str] = frozenset(),
) -> list[UndoOutcome]:
    """Revert open entries whose owning process is gone; mark their runs' journals.

    Called at the start of every command that may inject and by the daemon on start, so the nothing-open
    case is one directory listing. Runs whose owner is alive are left to their runner and watchdog.
    """
    ledger = Ledger(state if state is not None else storage.state_dir())
    markers = ledger.open_markers()
    if not markers:
        return []
    alive: dict[str, bool] = {}
    for rid, eid, pid in markers:
        if rid in alive and not alive[rid]:
            continue
        entry = ledger.get(eid, rid)
        started = entry.pid_started_at if entry is not None else None
        alive[rid] = alive.get(rid, False) or owner_alive(pid, started)
    outcomes: list[UndoOutcome] = []
    for rid in sorted(r for r, a in alive.items() if not a and r not in skip_runs):
        run_outcomes = revert_open(ledger, rid, timeout_s)
        outcomes += run_outcomes
        if mark_journals and run_outcomes and any(o.outcome != "skipped" for o in run_outcomes):

            path = journal_path_for(rid, state=ledger.state)
            if path is not None:
                with contextlib.suppress(OSError, ValueError):
                    mark_journal(path, ledger, rid, run_outcomes, recovered_by)
    return outcomes
