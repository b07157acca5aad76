"""Running the same experiment under `chaos run` and `chaosrunner run`, side by side, and reading
what each recorded. Both CLIs run as child processes with this directory on PYTHONPATH, HOME in the
test's tmp dir (no developer settings file), and the corpus' @TOKENS@ replaced by real paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
VENV_BIN = Path(sys.executable).parent


def env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(HERE), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out["HOME"] = str(tmp / "home")  # chaos and chaosrunner both read ~/.chaostoolkit/settings.yaml
    (tmp / "home").mkdir(exist_ok=True)
    out.update(extra or {})
    return out


def render(name: str, tmp: Path, url: str = "http://127.0.0.1:9") -> tuple[Path, Path]:
    """The corpus file ``name`` with @TRACE@/@DIR@/@URL@/@PYTHON@ filled in; returns (experiment, trace)."""
    work = tmp / Path(name).stem
    work.mkdir(parents=True, exist_ok=True)
    trace = work / "trace"
    text = (CORPUS / name).read_text()
    for token, value in {"@TRACE@": str(trace), "@DIR@": str(work), "@URL@": url, "@PYTHON@": sys.executable}.items():
        text = text.replace(token, value)
    out = work / name
    out.write_text(text)
    return out, trace


@dataclass
class Outcome:
    code: int
    journal: dict[str, Any]
    trace: list[str]
    stderr: str


def _run(cmd: list[str], tmp: Path, trace: Path, journal: Path, extra_env: dict[str, str] | None,
         timeout: float) -> Outcome:
    """``journal`` is a file, or a journal store directory holding at most one journal."""
    if trace.exists():
        trace.unlink()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env(tmp, extra_env), timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=tmp)
    if journal.is_dir():
        found = sorted(journal.rglob("*.json"))
        assert len(found) <= 1, found
        journal = found[0] if found else journal / "none.json"
    data = json.loads(journal.read_text()) if journal.exists() else {}
    lines = trace.read_text().splitlines() if trace.exists() else []
    return Outcome(done.returncode, data, lines, done.stderr)


def chaos_run(experiment: Path, trace: Path, tmp: Path, *args: str, group: tuple[str, ...] = (),
              extra_env: dict[str, str] | None = None, timeout: float = 120) -> Outcome:
    journal = experiment.parent / "chaos-journal.json"
    cmd = [str(VENV_BIN / "chaos"), "--no-version-check", "--no-log-file", *group, "run",
           "--rollback-strategy", "always", "--journal-path", str(journal), *args, str(experiment)]
    return _run(cmd, tmp, trace, journal, extra_env, timeout)


def chaosrunner_run(experiment: Path | str, trace: Path, tmp: Path, *args: str,
                    extra_env: dict[str, str] | None = None, timeout: float = 120,
                    store: Path | None = None) -> Outcome:
    """``experiment`` may be a URL (give ``store`` then). The journal is read from a fresh store
    (``--journal-dir``), the way every chaosrunner version writes it."""
    store = store or Path(experiment).parent / "chaosrunner-journals"
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    cmd = [sys.executable, "-m", "chaosrunner", "run", "--journal-dir", str(store), *args, str(experiment)]
    return _run(cmd, tmp, trace, store, extra_env, timeout)


def chaosrunner(*args: str, tmp: Path, extra_env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True,
                          env=env(tmp, extra_env), timeout=timeout, stdin=subprocess.DEVNULL, cwd=tmp)


def chaos(*args: str, tmp: Path, extra_env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "chaos"), "--no-version-check", "--no-log-file", *args],
                          capture_output=True, text=True, env=env(tmp, extra_env), timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=tmp)


def entries(journal: dict[str, Any], key: str) -> list[tuple[str, str | None]]:
    """(name, status) of every run/rollbacks entry; a control's non-record entry as ('note', None)."""
    out = []
    for e in journal.get(key) or []:
        if isinstance(e, dict) and isinstance(e.get("activity"), dict):
            out.append((e["activity"].get("name"), e.get("status")))
        else:
            out.append(("note", None))
    return out


def hypothesis(journal: dict[str, Any], when: str) -> tuple[bool | None, list[tuple[str, str]]] | None:
    state = (journal.get("steady_states") or {}).get(when)
    if not state:
        return None
    return state.get("steady_state_met"), [(p["activity"]["name"], p["status"]) for p in state.get("probes", [])]


def same_record(ours: Outcome, theirs: Outcome, *, ordered: bool = True) -> None:
    """The same activities in the same order with the same statuses, the same hypotheses, the same
    Chaos Toolkit status and deviation, and the same side effects."""
    for key in ("run", "rollbacks"):
        a, b = entries(ours.journal, key), entries(theirs.journal, key)
        assert (a if ordered else sorted(a, key=str)) == (b if ordered else sorted(b, key=str)), (key, a, b)
    for when in ("before", "after"):
        assert hypothesis(ours.journal, when) == hypothesis(theirs.journal, when), when
    assert ours.journal.get("status") == theirs.journal.get("status")
    assert ours.journal.get("deviated") == theirs.journal.get("deviated")
    assert (ours.trace if ordered else sorted(ours.trace)) == (theirs.trace if ordered else sorted(theirs.trace))
    for key in ("experiment", "status", "start", "end", "duration", "deviated", "steady_states", "run", "rollbacks"):
        assert key in ours.journal, key
