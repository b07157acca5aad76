"""``chaosrunner demo``: sandbox up → the week's experiments now → one-screen summary → sandbox down.

The week: every ``*.yaml``/``*.yml``/``*.json`` in the experiments directory, ordered Monday → Friday by
the first weekday token in its file name (``mon``/``monday``, ``tue``…, separated by ``-``, ``_`` or
``.``; e.g. ``mon-instance-kill.yaml``), files without a weekday last, alphabetically. Each runs as a
child process ``chaosrunner run FILE --trigger gameday --json`` (one experiment per process, as
chaoslib requires) with ``CHAOSRUNNER_SANDBOX`` pointing at the estate; its one-line JSON result gives
the verdict and journal path, and the journal's ``chaosrunner.figures`` the key figure.

With no experiment yet, the demo still brings the estate up, takes its status and ``traffic_s`` seconds
of load-generator statistics, and tears it down. ``sandbox down`` always runs (``finally``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXPERIMENT_TIMEOUT_S = 15 * 60
SUFFIXES = (".yaml", ".yml", ".json")


def weekday_index(name: str) -> int | None:
    """0 for Monday … 6 for Sunday, from the first weekday token of a file name; None without one."""
    for token in re.split(r"[-_.\s]+", name.lower()):
        for i, day in enumerate(WEEKDAYS):
            if token == day or (len(token) > 3 and token.startswith(day) and token.endswith("day")):
                return i
    return None


def week_order(files: list[Path]) -> list[Path]:
    """Pure: Monday → Sunday by file-name weekday, undated files last; ties alphabetically."""
    def key(p: Path) -> tuple[int, str]:
        idx = weekday_index(p.stem)
        return (idx if idx is not None else 7, p.name)

    return sorted(files, key=key)


def find_experiments(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return week_order([p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()])


def key_figure(journal_path: str | None) -> str:
    """The most telling number of a run: its first ``chaosrunner.figures`` entry, else its timings."""
    if not journal_path:
        return "-"
    try:
        journal = json.loads(Path(journal_path).read_text())
    except (OSError, json.JSONDecodeError):
        return "-"
    section = journal.get("chaosrunner", {})
    for source in (section.get("figures") or {}, section.get("timings") or {}):
        for name, value in source.items():
            if isinstance(value, int | float):
                return f"{name}={value:.3g}"
    return "-"


def run_experiment_child(path: Path, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "chaosrunner", "run", str(path), "--trigger", "gameday", "--json"]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=EXPERIMENT_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"experiment": path.name, "verdict": "timeout", "exit_code": None, "journal": None,
                "seconds": time.monotonic() - started, "figure": "-"}
    result: dict[str, Any] = {}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    verdict = result.get("verdict") or ("invalid" if proc.returncode == 2 else f"exit {proc.returncode}")
    return {"experiment": path.name, "verdict": verdict, "exit_code": proc.returncode,
            "reason": result.get("reason") or proc.stderr.strip().splitlines()[-1:] or "",
            "journal": result.get("journal"), "seconds": round(time.monotonic() - started, 1),
            "figure": key_figure(result.get("journal"))}


def run_demo(root: Path, experiments_dir: Path, *, traffic_s: float = 10.0,
             progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The whole demo; returns the summary (see :func:`render_summary`). Never leaves the estate up."""
    from chaosrunner.sandbox.estate import SandboxOptions, down, http_json, status, up, wait_scraped

    say = progress or (lambda _msg: None)
    summary: dict[str, Any] = {"root": str(root), "runs": [], "ok": False}
    t0 = time.monotonic()
    try:
        say(f"sandbox up ({root}) …")
        state = up(SandboxOptions(root=root))
        summary["up_s"] = round(time.monotonic() - t0, 1)
        wait_scraped(state, 60)
        env = {**os.environ, "CHAOSRUNNER_SANDBOX": str(root)}
        files = find_experiments(experiments_dir)
        summary["experiments_dir"] = str(experiments_dir)
        if not files:
            say(f"no experiments in {experiments_dir}: showing {traffic_s:.0f} s of traffic instead")
            time.sleep(max(0.0, traffic_s))
            st = status(root)
            summary["status"] = {"instances_up": sum(1 for i in st["instances"] if i["up"]),
                                 "instances": len(st["instances"]),
                                 "databases": {k: v["role"] for k, v in st["databases"].items()}}
            summary["traffic"] = http_json(f"{state['loadgen']['url']}/stats?window={traffic_s}")
            summary["ok"] = bool(st["up"])
        for path in files:
            say(f"running {path.name} …")
            run = run_experiment_child(path, env)
            summary["runs"].append(run)
            say(f"  {run['verdict']} ({run['seconds']} s)")
        if files:
            summary["ok"] = all(r["verdict"] == "passed" for r in summary["runs"])
    finally:
        say("sandbox down …")
        down(root)
        summary["total_s"] = round(time.monotonic() - t0, 1)
    return summary


def render_summary(summary: dict[str, Any]) -> str:
    """Pure: the one-screen text summary."""
    lines = [f"chaosrunner demo — sandbox {summary['root']} (up in {summary.get('up_s', '?')} s, "
             f"total {summary.get('total_s', '?')} s)"]
    if summary["runs"]:
        lines.append(f"{'experiment':<36} {'verdict':<16} {'key figure':<28} journal")
        for r in summary["runs"]:
            lines.append(f"{r['experiment']:<36} {r['verdict']:<16} {r['figure']:<28} {r['journal'] or '-'}")
    else:
        t = summary.get("traffic") or {}
        st = summary.get("status") or {}
        ratio = t.get("success_ratio")
        lines.append(f"no experiments in {summary.get('experiments_dir')}")
        lines.append(f"instances up: {st.get('instances_up')}/{st.get('instances')}; databases: {st.get('databases')}")
        lines.append(f"traffic over {t.get('window_s')} s: {t.get('requests')} requests, "
                     f"success {ratio * 100 if ratio is not None else float('nan'):.2f} %, "
                     f"p50 {t.get('p50_ms') or float('nan'):.1f} ms, p99 {t.get('p99_ms') or float('nan'):.1f} ms, "
                     f"acknowledged writes {t.get('acked_writes')}")
    lines.append("verdict: " + ("all passed" if summary["ok"] else "NOT all passed"))
    return "\n".join(lines)
