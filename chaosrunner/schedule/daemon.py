"""The scheduler daemon: runs a calendar for months without anyone watching.

* APScheduler 3 (``BackgroundScheduler``) with a persistent ``SQLAlchemyJobStore`` - SQLite under
  the state dir by default, PostgreSQL when several daemons share the work (one leader at a time,
  ``leader.py``). Jobs: ``coalesce=True``, ``max_instances=1`` (concurrency: forbid).
* A custom executor (:class:`FireExecutor`) receives the *scheduled* time of each fire, so every
  fire is claimed exactly once in the fire ledger (table ``chaosrunner_fires``, primary key
  ``(entry, scheduled_at)``) before anything runs: a restart after ``kill -9``, or a new leader taking
  over, can never run the same fire twice.
* Misfires - fires scheduled before this daemon became leader (it was down, or a standby was taking
  over): ``misfire: run_once`` runs the latest missed fire once (coalesced) if it is younger than
  ``misfire_grace``, ``skip`` never runs it; either way a skipped fire leaves a ``refused`` journal
  saying why. Lateness of a fire scheduled while leading is never a misfire (load, not downtime).
* Children get ``CHAOSRUNNER_SCHEDULED_AT`` (ISO UTC) and ``CHAOSRUNNER_CALENDAR_ENTRY`` in their env.
* Before each run: kill switch, calendar window (work day, holiday, blackout, hours, peak,
  restricted), error-budget freeze (fail closed when the budget cannot be read).
* Each run is a child process ``python -m chaosrunner run EXP --trigger schedule --calendar CAL
  --entry NAME [--var k=v]...`` in its own session, with a hard timeout (SIGTERM to its process
  group, ``term_grace`` for rollbacks, then SIGKILL).
* Restricted windows: when one begins, running children get SIGTERM (the runner aborts, rolls back,
  exits 3).
* SIGHUP: re-read the calendar file and re-sync the jobs (an invalid file is refused, the running
  calendar kept).
* SIGTERM to the daemon (``stop`` event): stop scheduling, forward SIGTERM to running children, wait
  up to ``term_grace`` for their rollbacks, exit.

Decisions use the injected clock (``clock.now()``); durations (timeouts) use the real monotonic
clock because they bound real processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.triggers.date import DateTrigger

from chaosrunner.calendar.model import Calendar, load_calendar
from chaosrunner.calendar.parts import Entry
from chaosrunner.calendar.triggers import trigger_for
from chaosrunner.core.clock import Clock, SystemClock
from chaosrunner.core.storage import ensure_private_dir, state_dir
from chaosrunner.core.validation import InvalidInput
from chaosrunner.faults.reaper import serve as serve_reaper
from chaosrunner.journal.writer import record_refusal
from chaosrunner.schedule.children import ChildRun, FireExecutor, child_var, journal_from_log
from chaosrunner.schedule.fires import FireLedger, fire_key
from chaosrunner.schedule.leader import FileLeader, Leadership, PgAdvisoryLeader
from chaosrunner.schedule.metrics import FireCounts
from chaosrunner.schedule.monkey import Instance, plan_day
from chaosrunner.schedule.wiring import default_budget_reader, default_inventory, default_killswitch

log = logging.getLogger("chaosrunner.scheduler")

BUSY = "previous run of this entry still in progress (concurrency: forbid)"

JOBS_TABLE = "chaosrunner_jobs"

BudgetReader = Callable[[Calendar], float | None]  # remaining error budget (ratio) or None if unknown
InventoryReader = Callable[[Calendar, Entry], Sequence[Instance]]


def default_store_url(state: Path) -> str:
    return f"sqlite:///{state / 'scheduler.sqlite'}"


def scheduled_job(**_: Any) -> None:
    """Placeholder job function (APScheduler needs a textual reference); :class:`FireExecutor` runs
    the fire instead of calling this."""


def _leader_file(url: str, state: Path) -> Path:
    """The flock file of a SQLite store: next to the database (two daemons on one file → one leads)."""
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if url.startswith("sqlite") and db and db != ":memory:":
        return Path(db).absolute().with_suffix(".leader")
    return state / "scheduler.leader"


@dataclass
class FireResult:
    entry: str
    scheduled_at: datetime
    outcome: str  # ran | skipped | duplicate | planned
    exit_code: int | None = None
    detail: str = ""
    journal: str | None = None


@dataclass
class DaemonOptions:
    store_url: str | None = None  # default: sqlite under the state dir
    ha_group: str = "default"
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    poll_s: float = 0.5  # tick: restricted windows, leadership
    leader_poll_s: float = 1.0
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None  # child stdout/stderr files; default <state>/scheduler-logs
    state: Path | None = None


class Daemon:
    """Runs the calendar; see the module doc. ``serve(stop)`` blocks until ``stop`` is set."""

    def __init__(self, calendar: Calendar, options: DaemonOptions | None = None, *, clock: Clock | None = None,
                 budget_reader: BudgetReader | None = None, killswitch: Callable[[], str | None] | None = None,
                 leader: Leadership | None = None, inventory: InventoryReader | None = None) -> None:
        from sqlalchemy import create_engine


        if calendar.path is None:
            raise ValueError("the daemon needs a calendar loaded from a file (children re-read it)")
        self.calendar = calendar
        self.opts = options or DaemonOptions()
        self.state = ensure_private_dir(self.opts.state or state_dir())
        self.clock = clock or SystemClock()
        self.budget_reader = budget_reader if budget_reader is not None else default_budget_reader
        self.killswitch = killswitch if killswitch is not None else default_killswitch
        self.inventory = inventory if inventory is not None else default_inventory
        url = self.opts.store_url or default_store_url(self.state)
        self.store_url = url
        engine_kw: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            engine_kw["connect_args"] = {"timeout": 10, "check_same_thread": False}
        elif url.startswith("postgresql"):
            engine_kw["connect_args"] = {"connect_timeout": 3}
        self.engine = create_engine(url, **engine_kw)
        if leader is None:
            if url.startswith("postgresql"):
                leader = PgAdvisoryLeader(url, self.opts.ha_group, self.opts.leader_poll_s)
            else:
                leader = FileLeader(_leader_file(url, self.state), self.opts.leader_poll_s)
        self.leader = leader
        self.fires = FireLedger(self.engine)
        self.fires.create()
        self.log_dir = ensure_private_dir(self.opts.log_dir or self.state / "scheduler-logs")
        self.children: dict[str, ChildRun] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.scheduler: Any = None
        self.results: list[FireResult] = []
        self.counts = FireCounts()  # what /metrics reports (schedule/metrics.py)
        self.is_leader = threading.Event()
        self.lead_started_at: datetime | None = None  # fires scheduled before this were missed
        self.reload_requested = threading.Event()  # set by SIGHUP: re-read the calendar file

    # --- lifecycle ---------------------------------------------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        """Reap (every host's daemon, leader or not, is a reaper for its state home), wait for
        leadership, schedule until ``stop`` (or leadership is lost)."""
        reaper = threading.Thread(target=serve_reaper, kwargs={"stop": self.stopping}, name="reaper", daemon=True)
        reaper.start()
        try:
            while not stop.is_set():
                log.info("standing by for leadership (%s)", type(self.leader).__name__)
                if not self.leader.acquire(stop):
                    break
                self.is_leader.set()
                try:
                    self._lead(stop)
                finally:
                    self.is_leader.clear()
                    self.leader.release()
        finally:
            self._stop_children("daemon stopping")
            self.stopping.set()
            reaper.join(5)
            self.engine.dispose()

    def _lead(self, stop: threading.Event) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        sched = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)},
            executors={"default": FireExecutor(self)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=self.calendar.zone,
        )
        sched.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        sched.start(paused=True)
        self.scheduler = sched
        try:
            self.sync_jobs()
            # Fires due before this instant were missed (judged by the misfire policy). Set right
            # before the first wake-up, so no fire can fall between "leading" and "scheduling".
            self.lead_started_at = self.clock.now()
            log.info("leading since %s: scheduling %s", fire_key(self.lead_started_at), self.calendar.path)
            sched.resume()
            while not stop.wait(self.opts.poll_s):
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                self.tick()
                if not self.leader.still_leader():
                    log.error("lost leadership: stepping down")
                    break
        finally:
            sched.shutdown(wait=False)
            self.scheduler = None

    def sync_jobs(self) -> None:
        """Make the store's jobs match the calendar, keeping unchanged jobs (and their pending
        missed fires) as they are."""
        sched = self.scheduler
        wanted = {e.name: e for e in self.calendar.entries if e.enabled}
        for job in sched.get_jobs():
            base = job.id.split("@", 1)[0]
            if base not in wanted or ("@" not in job.id and job.kwargs.get("fingerprint")
                                      != self.calendar.fingerprint(wanted[base])):
                sched.remove_job(job.id)
        for name, e in wanted.items():
            if sched.get_job(name) is None:
                sched.add_job(scheduled_job, trigger_for(self.calendar, e, start=self.clock.now()), id=name,
                              name=name, kwargs={"entry": name, "fingerprint": self.calendar.fingerprint(e)})

    def reload(self) -> bool:
        """Re-read the calendar file (SIGHUP) and re-sync the jobs. An invalid file is refused and the
        running calendar kept: a typo must not stop - or unleash - the schedule."""

        assert self.calendar.path is not None
        try:
            new = load_calendar(self.calendar.path)
        except InvalidInput as e:
            log.error("calendar reload refused, keeping the running calendar:\n%s", e.render())
            return False
        self.calendar = new
        if self.scheduler is not None:
            self.sync_jobs()
        log.info("calendar reloaded: %d entries", len(new.entries))
        return True

    def tick(self) -> list[str]:
        """Halt running children when a restricted window begins. Returns the entries halted."""
        r = self.calendar.restricted_at(self.clock.now())
        halted = []
        if r is not None:
            with self._lock:
                running = list(self.children.values())
            for child in running:
                if child.term_sent is None and child.proc.poll() is None:
                    child.terminate(f"restricted window {r.name} began")
                    log.warning("halting %s: restricted window %s began", child.entry, r.name)
                    halted.append(child.entry)
        return halted

    def _stop_children(self, reason: str) -> None:
        with self._lock:
            running = list(self.children.values())
        for child in running:
            child.terminate(reason)
        deadline = time.monotonic() + max((c.term_grace for c in running), default=0.0)
        for child in running:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)

    # --- one fire ------------------------------------------------------------------------------------
    def fire(self, job_id: str, scheduled_at: datetime, kwargs: dict[str, Any]) -> FireResult:
        """Everything that happens for one scheduled fire (called from an executor thread)."""
        entry_name = str(kwargs.get("entry") or job_id.split("@", 1)[0])
        try:
            entry = self.calendar.entry(entry_name)
        except KeyError:
            return FireResult(entry_name, scheduled_at, "skipped", detail="entry no longer in the calendar")
        if not self.fires.claim(job_id, scheduled_at, self.opts.owner):
            log.info("fire %s@%s already claimed: not running it again", job_id, fire_key(scheduled_at))
            return self._done(FireResult(job_id, scheduled_at, "duplicate", detail="already claimed"), record=False)
        if entry.kind == "monkey" and "@" not in job_id:
            return self._done(self._plan_monkey(entry, scheduled_at))
        res = FireResult(job_id, scheduled_at, "skipped")
        reason, code = self.precheck(entry, scheduled_at)
        if reason is not None:
            res.detail = reason
            res.journal = self._record_skip(entry, reason, code)
            return self._done(res)
        extra = {"monkey_target": kwargs["monkey_target"]} if kwargs.get("monkey_target") else {}
        return self._done(self._run_child(job_id, entry, scheduled_at, extra))

    def precheck(self, entry: Entry, scheduled_at: datetime) -> tuple[str | None, str]:
        """Why this fire must not run (``(reason, check name)``), or ``(None, "ok")``."""
        now = self.clock.now()
        late = (now - scheduled_at).total_seconds()
        if self.lead_started_at is not None and scheduled_at < self.lead_started_at:
            policy = self.calendar.entry_misfire(entry)
            if policy == "skip":
                return f"missed by {late:.0f}s while no daemon was leading (misfire policy: skip)", "misfire"
            if late > self.calendar.defaults.misfire_grace:
                return (f"missed by {late:.0f}s, older than misfire_grace "
                        f"{self.calendar.defaults.misfire_grace:.0f}s (misfire policy: run_once)"), "misfire"
        try:
            halted = self.killswitch()
        except Exception as e:  # noqa: BLE001 - fail closed
            halted = f"kill switch unreadable: {e}"
        if halted:
            return f"kill switch engaged: {halted}", "kill-switch"
        budget = None
        if self.calendar.freeze is not None:
            try:
                budget = self.budget_reader(self.calendar)
            except Exception as e:  # noqa: BLE001 - fail closed
                return f"error budget unreadable ({type(e).__name__}: {e}): freeze check fails closed", "freeze"
            if budget is None:
                return "error budget unknown: freeze check fails closed", "freeze"
        chk = self.calendar.check(entry, now, budget_remaining=budget)
        if not chk.ok:
            return chk.detail, "calendar-window" if chk.code != "freeze" else "freeze"
        if self._running(entry.name):
            return BUSY, "concurrency"
        return None, "ok"

    def _running(self, entry_name: str) -> bool:
        with self._lock:
            return any(c.entry == entry_name for c in self.children.values())

    def command(self, entry: Entry, extra: dict[str, Any] | None = None) -> list[str]:
        """The child's argv: ``python -m chaosrunner run EXP --trigger schedule --calendar --entry``."""
        assert self.calendar.path is not None
        argv = [self.opts.python, "-m", "chaosrunner", "run", str(self.calendar.experiment_path(entry)),
                "--trigger", "schedule", "--calendar", str(self.calendar.path), "--entry", entry.name, "--json"]
        for k, v in {**entry.configuration, **(extra or {})}.items():
            argv += ["--var", f"{k}={child_var(v)}"]
        return argv

    def _run_child(self, job_id: str, entry: Entry, scheduled_at: datetime, extra: dict[str, Any]) -> FireResult:
        argv = self.command(entry, extra)
        logfile = self.log_dir / f"{entry.name}-{scheduled_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.log"
        timeout = self.calendar.entry_timeout(entry)
        with self._lock:  # one lock for the check and the registration: no second child can slip in
            if self.stopping.is_set():
                return FireResult(job_id, scheduled_at, "skipped", detail="daemon stopping")
            if any(c.entry == entry.name for c in self.children.values()):
                return FireResult(job_id, scheduled_at, "skipped", detail=BUSY,
                                  journal=self._record_skip(entry, BUSY, "concurrency"))
            with open(logfile, "ab") as out:
                env = {**os.environ, **self.opts.env, "CHAOSRUNNER_SCHEDULED_AT": fire_key(scheduled_at),
                       "CHAOSRUNNER_CALENDAR_ENTRY": entry.name}
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env=env)
            now = time.monotonic()
            grace = self.calendar.defaults.term_grace
            child = ChildRun(entry.name, scheduled_at, argv, proc, now, now + timeout, grace)
            self.children[job_id] = child
        log.info("started %s (pid %d) for fire %s", entry.name, proc.pid, fire_key(scheduled_at))
        try:
            rc = child.wait()
        finally:
            with self._lock:
                self.children.pop(job_id, None)
        detail = f"exit {rc}" + (f" after SIGTERM ({child.reason})" if child.reason else "")
        return FireResult(job_id, scheduled_at, "ran", rc, detail, journal_from_log(logfile))

    def _plan_monkey(self, entry: Entry, scheduled_at: datetime) -> FireResult:
        """The daily monkey job: plan today's kills and add each as a one-off job."""
        day = scheduled_at.astimezone(self.calendar.zone).date()
        try:
            instances = list(self.inventory(self.calendar, entry))
        except Exception as e:  # noqa: BLE001 - no inventory, no kills
            reason = f"monkey: inventory unavailable ({type(e).__name__}: {e})"
            return FireResult(entry.name, scheduled_at, "skipped", detail=reason,
                              journal=self._record_skip(entry, reason, "inventory"))
        plan = plan_day(self.calendar, entry.name, day, instances)
        now = self.clock.now()
        added = 0
        for k in plan.kills:
            if k.at <= now or self.scheduler is None:
                continue
            self.scheduler.add_job(scheduled_job, DateTrigger(k.at), id=f"{entry.name}@{fire_key(k.at)}",
                                   name=entry.name, kwargs={"entry": entry.name, "monkey_target": k.instance},
                                   replace_existing=True)
            added += 1
        return FireResult(entry.name, scheduled_at, "planned",
                          detail=f"{added} kill(s) planned for {day} among {plan.eligible} eligible "
                                 f"(zone {plan.zone}) {plan.note}".strip())

    def _record_skip(self, entry: Entry, reason: str, check: str) -> str | None:
        log.warning("skipping %s: %s", entry.name, reason)
        path = record_refusal(str(self.calendar.experiment_path(entry)), "schedule", entry.name, reason,
                              checks=[{"name": check, "ok": False, "detail": reason, "numbers": {}}])
        return str(path)

    def _done(self, res: FireResult, record: bool = True) -> FireResult:
        if record:
            try:
                self.fires.finish(res.entry, res.scheduled_at, res.outcome, res.exit_code, res.detail, res.journal)
            except Exception:  # noqa: BLE001 - the fire ran (or was skipped); only its bookkeeping row is lost
                log.exception("cannot record the outcome of fire %s@%s", res.entry, fire_key(res.scheduled_at))
        with self._lock:
            self.results.append(res)
            self.counts.add(res)
        return res

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        entry_name = event.job_id.split("@", 1)[0]
        with contextlib.suppress(KeyError):
            entry = self.calendar.entry(entry_name)
            for at in event.scheduled_run_times:
                if self.fires.claim(event.job_id, at, self.opts.owner):
                    self._done(FireResult(event.job_id, at, "skipped", detail=BUSY,
                                          journal=self._record_skip(entry, BUSY, "concurrency")))
