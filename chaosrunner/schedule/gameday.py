"""Game days: a facilitator runs a list of experiments now, in order, and gets one combined summary.

Each experiment runs as its own child process (``chaosrunner run EXP --trigger gameday --json``):
Chaos Toolkit keeps module-level state, so one experiment per process. The plan stops at the first
run that was **aborted** or **interrupted** (exit 3) unless ``keep_going``; it *always* stops after a
**rollback-failed** run (exit 5: a fault may still be in place - running more chaos on top of it is
not a game, it is an incident). Refused, failed and deviated runs do not stop the plan: they are
findings.

Plan file (YAML)::

    name: Q3 regional game day
    facilitator: sre-oncall
    keep_going: false            # the CLI flag --keep-going overrides to true
    experiments:
      - experiment: ../experiments/sandbox/thu-database-failover.yaml
        vars: {failover_timeout_s: 30}
        note: "watch the write error rate"
      - experiment: ../experiments/sandbox/fri-regional-failover.yaml
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from chaosrunner.calendar.model import Calendar
from chaosrunner.calendar.parts import WEEKDAYS
from chaosrunner.core.storage import atomic_write_json
from chaosrunner.core.units import Duration
from chaosrunner.core.validation import InvalidInput, Model, load_document, validate_model
from chaosrunner.core.verdict import VERDICT_BY_EXIT

STOP_ALWAYS = {5: "rollback failed: a fault may still be in place"}
STOP_UNLESS_KEEP_GOING = {3}  # aborted or interrupted


class PlanStep(Model):
    model_config = ConfigDict(extra="forbid")

    experiment: str
    vars: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    timeout: Duration = 3600.0  # hard timeout of this step, seconds (SIGTERM, then SIGKILL after 60 s)


class GameDayPlan(Model):
    model_config = ConfigDict(extra="forbid")

    name: str
    facilitator: str = ""
    keep_going: bool = False
    experiments: list[PlanStep] = Field(min_length=1)

    _path: Path | None = None

    def experiment_path(self, step: PlanStep) -> Path:
        p = Path(step.experiment)
        if not p.is_absolute() and self._path is not None:
            p = self._path.parent / p
        return p.resolve()


def load_plan(path: str | Path, *, check_files: bool = True) -> GameDayPlan:
    """Load + validate a plan; errors name the file and key (exit 2 at the CLI)."""
    p = Path(path)
    plan = validate_model(GameDayPlan, load_document(p), p)
    plan._path = p.absolute()
    if check_files:
        problems = [(f"experiments[{i}].experiment", f"no such file: {plan.experiment_path(s)}")
                    for i, s in enumerate(plan.experiments) if not plan.experiment_path(s).is_file()]
        if problems:
            raise InvalidInput(p, problems)
    return plan


def plan_from_calendar(calendar: Calendar) -> GameDayPlan:
    """The calendar's week as a game-day plan to run *now*, Monday first (cron entries last), every
    entry with its configuration overrides and timeout, running on after an abort. This is what
    ``make demo`` runs: the week, compressed into one sitting, with the same experiments and vars."""

    def order(entry: Any) -> tuple[int, str]:
        first = min((WEEKDAYS.index(d) for d in entry.days or []), default=len(WEEKDAYS))
        return (first, entry.name)

    steps = [
        PlanStep(
            experiment=str(calendar.experiment_path(e)),
            vars=dict(e.configuration),
            note=e.description or e.name,
            timeout=calendar.entry_timeout(e),
        )
        for e in sorted(calendar.entries, key=order)
        if e.enabled
    ]
    return GameDayPlan(name=f"{calendar.name}: the week, now", keep_going=True, experiments=steps)


@dataclass
class StepResult:
    index: int
    experiment: str
    verdict: str  # passed | deviated | failed | aborted | interrupted | refused | rollback-failed | invalid | not-run
    exit_code: int | None
    reason: str = ""
    run_id: str | None = None
    journal: str | None = None
    duration_s: float = 0.0
    note: str = ""


@dataclass
class GameDayResult:
    name: str
    started_at: str
    ended_at: str = ""
    steps: list[StepResult] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str = ""

    @property
    def exit_code(self) -> int:
        """The worst step's exit code, by severity: 5 > 3 > 4 > 1 > 2 > 0."""
        order = [5, 3, 4, 1, 2]
        codes = {s.exit_code for s in self.steps if s.exit_code is not None}
        return next((c for c in order if c in codes), 0)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.verdict] = out.get(s.verdict, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "started_at": self.started_at, "ended_at": self.ended_at,
                "exit_code": self.exit_code, "counts": self.counts(), "stopped_early": self.stopped_early,
                "stop_reason": self.stop_reason, "steps": [asdict(s) for s in self.steps]}

    def render(self) -> str:
        """Human summary (the CLI prints it; business logic does not)."""
        lines = [f"Game day: {self.name}  ({self.started_at} → {self.ended_at})"]
        for s in self.steps:
            lines.append(f"  {s.index + 1}. {s.verdict:<16} {s.duration_s:7.1f}s  {Path(s.experiment).name}"
                         + (f"  — {s.reason}" if s.reason else ""))
            if s.journal:
                lines.append(f"       journal: {s.journal}")
        summary = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
        lines.append(f"Summary: {summary}" + (f"; stopped early: {self.stop_reason}" if self.stopped_early else ""))
        return "\n".join(lines)


StepRunner = Callable[[list[str], float], tuple[int, str]]


def subprocess_step(argv: list[str], timeout_s: float) -> tuple[int, str]:
    """Run one step as a child in its own session: SIGTERM the runner at the timeout (it rolls back; its
    rollbacks' processes are not signalled), SIGKILL its group 60 s later. Returns (exit code, stdout)."""

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=None, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    return proc.returncode, out or ""


def run_plan(plan: GameDayPlan, *, keep_going: bool | None = None, python: str = sys.executable,
             step_runner: StepRunner = subprocess_step,
             on_step: Callable[[StepResult], None] | None = None) -> GameDayResult:
    """Run the plan's experiments now, in order (see module doc for when it stops)."""
    keep = plan.keep_going if keep_going is None else keep_going
    res = GameDayResult(plan.name, datetime.now(UTC).isoformat(timespec="seconds"))
    for i, step in enumerate(plan.experiments):
        exp = plan.experiment_path(step)
        if res.stopped_early:
            res.steps.append(StepResult(i, str(exp), "not-run", None, "plan stopped earlier", note=step.note))
            continue
        argv = [python, "-m", "chaosrunner", "run", str(exp), "--trigger", "gameday", "--json"]
        for k, v in step.vars.items():
            argv += ["--var", f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
        t0 = time.monotonic()
        rc, out = step_runner(argv, step.timeout)
        sr = StepResult(i, str(exp), VERDICT_BY_EXIT.get(rc, "failed"), rc, duration_s=time.monotonic() - t0,
                        note=step.note)
        data = _last_json(out)
        if data:
            sr.verdict = str(data.get("verdict") or sr.verdict)
            sr.reason = str(data.get("reason") or "")
            sr.run_id = data.get("run_id")
            sr.journal = data.get("journal")
        if sr.journal:
            annotate_journal(Path(sr.journal), plan, step)
        res.steps.append(sr)
        if on_step is not None:
            on_step(sr)
        if rc in STOP_ALWAYS:
            res.stopped_early, res.stop_reason = True, f"step {i + 1}: {STOP_ALWAYS[rc]}"
        elif rc in STOP_UNLESS_KEEP_GOING and not keep:
            res.stopped_early, res.stop_reason = True, f"step {i + 1}: {sr.verdict}"
    res.ended_at = datetime.now(UTC).isoformat(timespec="seconds")
    return res


def annotate_journal(path: Path, plan: GameDayPlan, step: PlanStep) -> None:
    """Record the plan, its facilitator and the step's note in the run's journal
    (``chaosrunner.gameday``) so the report shows who ran it and what to watch. A journal that cannot
    be read or rewritten is left as it is: the run's own record matters more than the annotation."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        section = doc.get("chaosrunner")
        if not isinstance(section, dict):
            return
        section["gameday"] = {"plan": plan.name, "facilitator": plan.facilitator, "notes": step.note}
        atomic_write_json(path, doc)
    except (OSError, ValueError):
        return


def _last_json(out: str) -> dict[str, Any] | None:
    for line in reversed(out.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None
