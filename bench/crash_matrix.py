"""The crash matrix on the real sandbox: every way a run can be cut, across the five shipped experiments.

``.venv/bin/python -m bench.crash_matrix [--trials 60] [--hits kill-group,stop-runner,…] [--only cdn-outage,…]
[--out FILE]`` brings a private
sandbox up (its own root, ports and PostgreSQL) and the host's reaper (``chaosrunner reaper``, as the systemd
unit runs it), runs each ``experiments/sandbox/*.yaml`` once uncut to learn how long it runs, then hits
``chaosrunner run`` at ``--trials`` random moments from its run-level ledger entry to its end, round-robin over
experiment × hit:

* ``kill-group``              — SIGKILL the runner's process group (the watchdog, in its own session, reverts);
* ``kill-runner-and-watchdog`` — SIGKILL the runner's group and its watchdog at once (only the reaper is left);
* ``watchdog-then-runner``    — SIGKILL the watchdog, then the runner's group 0.5 s later (the reaper);
* ``stop-runner``             — SIGSTOP the runner's group (the watchdog sees the heartbeat stale, kills, reverts);
* ``stop-watchdog``           — SIGSTOP the watchdog (the run must finish and roll back by itself);
* ``prometheus-stopped``      — SIGSTOP the sandbox's Prometheus (the guard must fail closed: abort, roll back);
* ``store-full``              — fill the journal store (a 256 MiB tmpfs) to the last byte mid-run (the record
  moves next to the ledger; the run goes on and rolls back) — needs root to mount; skipped otherwise.

After each hit it polls the sandbox's *real* state until it is whole (``drivers.sandbox.state.
steady_state_problems``: programs RUNNING, proxies enabled without toxics, no stress-ng of this sandbox, one
primary with a streaming standby, Full-region routers UP) with no open ledger entry, then reads what the run's
journal says. "Seconds to whole" counts from the hit, except for ``stop-watchdog`` (from the run's own end: the
fault is meant to be in place until then). Stopped processes are resumed after the trial. Writes
``bench/results/crash_matrix.json``; tears the sandbox down even when stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

from bench.crash_revert import DEADLINE_S, REPO, RESULTS, _env, _open_entries

HITS = (
    "kill-group",
    "kill-runner-and-watchdog",
    "watchdog-then-runner",
    "stop-runner",
    "stop-watchdog",
    "prometheus-stopped",
    "store-full",
)
STORE_BYTES = 256 * 1024 * 1024


def _own_stress(sandbox: Path) -> list[int]:
    """stress-ng processes started for *this* sandbox (others' tests may run their own on the machine)."""
    out = []
    for p in psutil.process_iter(["name"]):
        try:
            if (p.info["name"] or "").startswith("stress-ng") and p.status() != psutil.STATUS_ZOMBIE:
                if p.environ().get("CHAOSRUNNER_SANDBOX") == str(sandbox):
                    out.append(p.pid)
        except psutil.Error:
            continue
    return out


def _sandbox_problems(sandbox: Path) -> list[str]:
    from chaosrunner.drivers.sandbox.state import steady_state_problems
    from chaosrunner.sandbox.state import STATE_FILE, SandboxStateMissing, load_state

    try:
        state = load_state(sandbox / STATE_FILE)
    except SandboxStateMissing:
        return ["no sandbox state"]
    problems = [p for p in steady_state_problems(state) if p != "stress-ng is running"]
    if _own_stress(sandbox):
        problems.append("stress-ng of this sandbox is running")
    return problems


def _wait_steady(sandbox: Path, home: Path, limit_s: float) -> tuple[float | None, list[str]]:
    t0 = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - t0 < limit_s:
        problems = _sandbox_problems(sandbox)
        if _open_entries(home):
            problems.append(f"{_open_entries(home)} ledger entries open")
        if not problems:
            return time.monotonic() - t0, []
        time.sleep(0.1)
    return None, problems


def _journals(home: Path) -> list[Path]:
    files = [*(home / "journals").rglob("*.json"), *(home / "state" / "fallback-journals").glob("*.json")]
    return sorted(files, key=lambda p: p.stat().st_mtime)


def _latest_phase(home: Path) -> str:
    """The phase of the activity under way, from the newest journal (written after every activity)."""
    files = _journals(home)
    if not files:
        return "before-journal"
    try:
        acts = json.loads(files[-1].read_text())["chaosrunner"].get("activities") or []
    except (OSError, ValueError, KeyError):
        return "unknown"
    return f"{acts[-1]['phase']}:{acts[-1]['status']}" if acts else "preflight"


def _journal_after(home: Path, known: set[Path], limit_s: float) -> dict[str, object]:
    """What the trial's journal (the one not in ``known``) says once the dust settles (polls)."""
    deadline = time.monotonic() + limit_s
    seen: dict[str, object] = {"found": False}
    while time.monotonic() < deadline:
        new = [p for p in _journals(home) if p not in known]
        if new:
            try:
                cr = json.loads(new[-1].read_text())["chaosrunner"]
            except (OSError, ValueError, KeyError):
                cr = {}
            seen = {"found": True, "complete": cr.get("complete"), "verdict": cr.get("verdict"),
                    "reason": str(cr.get("reason") or "")[:300],
                    "recovered_by": cr.get("recovered_by"), "fallback": "fallback-journals" in str(new[-1])}
            if cr.get("complete") and cr.get("verdict"):
                return seen
        time.sleep(0.1)
    return seen


def _procs(match: str, *words: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "name"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if match in cmd and all(w in cmd for w in words):
            out.append(p)
    return out


def _signal(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        with suppress(psutil.Error):
            p.send_signal(sig)


def _fill(store: Path) -> Path:
    """Fill the journal store's filesystem to the last byte; returns the filler."""
    filler = store / ".filler"
    with suppress(OSError), open(filler, "wb") as f:  # open itself fails when the store is already full
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


class Matrix:
    def __init__(self, directory: Path, hits: list[str], only: list[str] | None = None) -> None:
        self.experiments = sorted(p for p in directory.absolute().glob("*.yaml") if not only or p.stem in only)
        if not self.experiments:
            raise SystemExit(f"no {directory}/*.yaml: nothing to crash")
        self.home = Path(tempfile.mkdtemp(prefix="crash-matrix-"))
        self.sandbox = self.home / "sandbox"
        self.env = {**_env(self.home), "CHAOSRUNNER_SANDBOX": str(self.sandbox)}
        os.environ["CHAOSRUNNER_SANDBOX"] = str(self.sandbox)
        self.hits = hits
        self.mounted = False
        self.reaper: subprocess.Popen[bytes] | None = None
        self.calibration: dict[str, dict[str, object]] = {}

    def start(self) -> None:
        from chaosrunner.sandbox import estate

        if "store-full" in self.hits:
            (self.home / "journals").mkdir()
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STORE_BYTES}", "tmpfs",
                                   str(self.home / "journals")], capture_output=True, text=True)
            self.mounted = done.returncode == 0
            if not self.mounted:
                print(f"store-full skipped: cannot mount a tmpfs ({done.stderr.strip()})", flush=True)
                self.hits.remove("store-full")
        state = estate.up(estate.SandboxOptions(root=self.sandbox))
        estate.wait_scraped(state, 60)
        self.reaper = subprocess.Popen([sys.executable, "-m", "chaosrunner", "reaper", "--interval", "1"],
                                       env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=open(self.home / "reaper.log", "wb"))
        took, problems = _wait_steady(self.sandbox, self.home, 90)
        if took is None:
            raise SystemExit(f"sandbox never steady: {problems}")

    def stop(self) -> None:
        from chaosrunner.sandbox import estate

        try:
            if self.reaper is not None:
                self.reaper.terminate()
                self.reaper.wait(timeout=30)
            estate.down(self.sandbox)
        finally:
            if self.mounted:
                subprocess.run(["umount", "-l", str(self.home / "journals")], check=False)
            shutil.rmtree(self.home, ignore_errors=True)

    def _run(self, exp: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(exp), "--json"], env=self.env,
                                cwd=REPO, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _until_ledger_entry(self, run: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 120
        while not _open_entries(self.home) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def calibrate(self) -> None:
        for exp in self.experiments:  # uncut, to learn how long it runs from its ledger entry to its end
            run = self._run(exp)
            self._until_ledger_entry(run)
            t0 = time.monotonic()
            run.wait(timeout=900)
            self.calibration[exp.name] = {"seconds": round(time.monotonic() - t0, 1),
                                          "verdict": _journal_after(self.home, set(), 0.1).get("verdict")}
            print(f"calibration {exp.name}: {self.calibration[exp.name]}", flush=True)
            _wait_steady(self.sandbox, self.home, 120)

    def trial(self, exp: Path, hit: str, rng: random.Random) -> dict[str, Any]:
        known = set(_journals(self.home))
        span = max(1.0, float(self.calibration[exp.name]["seconds"]))  # type: ignore[arg-type]
        run = self._run(exp)
        self._until_ledger_entry(run)
        delay = rng.uniform(0.0, span * 0.9)
        time.sleep(delay)
        phase = _latest_phase(self.home)
        finished = run.poll() is not None
        watchdogs = _procs("chaosrunner.faults.watchdog", str(self.home / "state"), f"--pid {run.pid}")
        prometheus = [p for p in _procs(str(self.sandbox)) if (p.info.get("name") or "") == "prometheus"]
        stopped: list[psutil.Process] = []
        filler: Path | None = None
        t0 = time.monotonic()
        if hit in ("kill-group", "kill-runner-and-watchdog", "watchdog-then-runner", "stop-runner"):
            if hit == "kill-runner-and-watchdog":
                _signal(watchdogs, signal.SIGKILL)
            if hit == "watchdog-then-runner":
                _signal(watchdogs, signal.SIGKILL)
                time.sleep(0.5)
            with suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGSTOP if hit == "stop-runner" else signal.SIGKILL)
        elif hit == "stop-watchdog":
            _signal(watchdogs, signal.SIGSTOP)
            stopped = watchdogs
        elif hit == "prometheus-stopped":
            _signal(prometheus, signal.SIGSTOP)
            stopped = prometheus
        elif hit == "store-full":
            filler = _fill(self.home / "journals")
        if hit in ("stop-watchdog", "prometheus-stopped", "store-full"):
            with suppress(subprocess.TimeoutExpired):
                run.wait(timeout=span + 120)
            if hit == "stop-watchdog":
                t0 = time.monotonic()  # the fault is meant to be in place until the run ends
        steady_s, problems = _wait_steady(self.sandbox, self.home, DEADLINE_S)
        late_s = None
        if steady_s is None:  # not within the deadline: keep measuring, so the report shows how late
            more, _ = _wait_steady(self.sandbox, self.home, 120)
            late_s = None if more is None else round(time.monotonic() - t0, 3)
        _signal(stopped, signal.SIGCONT)
        if hit == "stop-runner":  # what the watchdog left of the stopped group (activities' children)
            with suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGCONT)
                os.killpg(run.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            run.wait(timeout=60)
        if filler is not None:
            filler.unlink(missing_ok=True)
        journal = _journal_after(self.home, known, 30.0)
        for p in _procs("chaosrunner.faults.watchdog", str(self.home / "state")):  # this run's watchdog, once done
            with suppress(psutil.Error):
                p.wait(timeout=30)
        _wait_steady(self.sandbox, self.home, 120)
        return {
            "experiment": exp.name, "hit": hit, "hit_after_s": round(delay, 3), "phase": phase,
            "finished_before_hit": finished, "steady_s": None if steady_s is None else round(steady_s, 3),
            "late_steady_s": late_s, "problems_at_deadline": problems, "journal": journal,
        }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for hit in dict.fromkeys(r["hit"] for r in rows):
        mine = [r for r in rows if r["hit"] == hit]
        steady = [float(r["steady_s"]) for r in mine if r["steady_s"] is not None]
        out[hit] = {
            "trials": len(mine),
            "left_behind": sum(r["steady_s"] is None for r in mine),
            "median_s": round(statistics.median(steady), 3) if steady else None,
            "worst_s": round(max(steady), 3) if steady else None,
            "journals_with_verdict": sum(bool(r["journal"].get("complete") and r["journal"].get("verdict"))
                                         for r in mine),
            "verdicts": sorted({str(r["journal"].get("verdict")) for r in mine}),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="the crash matrix on a real private sandbox")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--hits", default=",".join(HITS), help=f"comma-separated subset of {', '.join(HITS)}")
    parser.add_argument("--experiments", type=Path, default=REPO / "experiments" / "sandbox")
    parser.add_argument("--only", default="", help="comma-separated experiment file stems (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS.with_name("crash_matrix.json"))
    args = parser.parse_args()
    hits = [h for h in args.hits.split(",") if h]
    unknown = set(hits) - set(HITS)
    if unknown:
        raise SystemExit(f"unknown hits: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still tears its sandbox down
    rng = random.Random(args.seed)
    matrix = Matrix(args.experiments, hits, [x for x in args.only.split(",") if x])
    rows: list[dict[str, Any]] = []
    try:
        matrix.start()
        matrix.calibrate()
        combos = [(e, h) for h in matrix.hits for e in matrix.experiments]
        rng.shuffle(combos)
        for i in range(args.trials):
            exp, hit = combos[i % len(combos)]
            rows.append(matrix.trial(exp, hit, rng))
            r = rows[-1]
            print(f"{i + 1:>3} {exp.name:30} {hit:25} {r['phase']:26} hit {r['hit_after_s']:6.2f}s → whole "
                  f"{r['steady_s'] if r['steady_s'] is not None else 'NOT within 10 s'}  journal "
                  f"{r['journal'].get('verdict')}{' (fallback)' if r['journal'].get('fallback') else ''}"
                  f"{': ' + str(r['journal'].get('reason'))[:90] if r['journal'].get('verdict') != 'passed' else ''}"
                  f"{'' if not r['problems_at_deadline'] else '  ' + '; '.join(r['problems_at_deadline'])}",
                  flush=True)
    finally:
        matrix.stop()
    summary = summarize(rows)
    steady = [float(r["steady_s"]) for r in rows if r["steady_s"] is not None]
    result = {
        "bench": "crash_matrix", "seed": args.seed, "deadline_s": DEADLINE_S, "trials": len(rows),
        "left_behind": sum(r["steady_s"] is None for r in rows),
        "journals_with_verdict": sum(s["journals_with_verdict"] for s in summary.values()),
        "median_s": round(statistics.median(steady), 3) if steady else None,
        "worst_s": round(max(steady), 3) if steady else None,
        "by_hit": summary, "calibration": matrix.calibration, "rows": rows,
    }
    print(f"\n{'hit':26} {'trials':>6} {'left':>4} {'median s':>8} {'worst s':>7} {'journal ✓':>9}  verdicts")
    for hit, s in summary.items():
        print(f"{hit:26} {s['trials']:>6} {s['left_behind']:>4} {s['median_s'] or '-':>8} {s['worst_s'] or '-':>7} "
              f"{s['journals_with_verdict']:>9}  {', '.join(s['verdicts'])}")
    print(f"{'all':26} {len(rows):>6} {result['left_behind']:>4} {result['median_s'] or '-':>8} "
          f"{result['worst_s'] or '-':>7} {result['journals_with_verdict']:>9}")
    out = args.out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
