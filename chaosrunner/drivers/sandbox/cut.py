"""Cutting fault-proxy paths under a restore deadline: what a region outage, a CDN edge going dark and a
network partition have in common.

A cut path is a proxy disabled through the Toxiproxy API: its listener closes and its connections are
dropped, in both directions — the client gets "connection refused", the server sees its peer gone. The
Toxiproxy API has no expiry for a disabled proxy, so every cut:

1. records one ledger entry per proxy first (the undo: the caller's ``undo`` function in its ``module``),
2. starts a detached restorer (``python -m chaosrunner.drivers.sandbox.cut --restore-after S``, its own
   session) that re-enables the proxies after ``restore_deadline_s`` even if the runner and its watchdog
   are gone,
3. writes a marker ``<root>/run/<name>.json`` (when, which proxies, the restorer's pid),
4. and only then disables the proxies.

:func:`heal` (for the callers' undos) stops the restorer — a stale restorer must not end a later run's
fault early — and re-enables the proxies; idempotent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.drivers.sandbox.state import load_state, toxiproxy
from chaosrunner.sandbox.state import SandboxState

MAX_DEADLINE_S = 3600


def marker(st: SandboxState, name: str) -> Path:
    return Path(st.root) / "run" / f"{name}.json"


def cut(st: SandboxState, state_file: str, name: str, fault: str, proxies: list[str], restore_deadline_s: float,
        module: str, undo: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Disable ``proxies`` (ledger entries, restorer and marker first); returns the marker's content."""
    if not 1 <= restore_deadline_s <= MAX_DEADLINE_S:
        raise ValueError(f"restore_deadline_s must be in 1..{MAX_DEADLINE_S} seconds")
    if not proxies:
        raise ValueError("nothing to cut: no proxy selected")
    known = {p.name for p in st.proxies}
    unknown = sorted(set(proxies) - known)
    if unknown:
        raise ValueError(f"no such fault-proxy path {unknown} (have {sorted(known)})")
    for proxy in proxies:
        faults.record(fault, proxy, undo, {"proxies": [proxy], "state": state_file, "mark": name}, module=module,
                      expires_at=time.time() + restore_deadline_s)
    restorer = subprocess.Popen(
        [sys.executable, "-m", __name__, "--restore-after", str(restore_deadline_s), "--state", state_file,
         "--proxies", ",".join(proxies)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    mark = {**(details or {}), "proxies": proxies, "out_at": time.time(), "restorer": restorer.pid}
    path = marker(st, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mark))
    for proxy in proxies:
        toxiproxy(st, f"/proxies/{proxy}", {"enabled": False})
    return mark


def live_marks(st: SandboxState, prefix: str) -> list[str]:
    """Names of the live cuts whose name starts with ``prefix``."""
    return sorted(m.stem for m in marker(st, prefix).parent.glob(f"{prefix}*.json"))


def read_marker(st: SandboxState, name: str) -> dict[str, Any]:
    """The marker of the live cut ``name``; raises RuntimeError when there is none."""
    try:
        return dict(json.loads(marker(st, name).read_text()))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"no live {name} cut in {st.root}") from exc


def stop_restorer(st: SandboxState, name: str) -> None:
    try:
        pid = int(json.loads(marker(st, name).read_text()).get("restorer") or 0)
    except (OSError, ValueError):
        return
    if pid > 0:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        try:  # reap it when it is our own child
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def heal(st: SandboxState, names: list[str], proxies: list[str]) -> None:
    """Stop the cuts' restorers and enable ``proxies`` (idempotent); the caller waits for its own proof and
    then calls :func:`settled`."""
    for name in names:
        stop_restorer(st, name)
    for proxy in proxies:
        toxiproxy(st, f"/proxies/{proxy}", {"enabled": True})


def settled(st: SandboxState, names: list[str], fault: str, proxies: list[str]) -> None:
    """The cuts are over: close the proxies' ledger entries and drop the markers."""
    for proxy in proxies:
        faults.settle(fault, proxy)
    for name in names:
        marker(st, name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """The detached restorer: sleep until the deadline, then enable the proxies (idempotent)."""
    p = argparse.ArgumentParser(description="re-enable cut fault-proxy paths at the restore deadline")
    p.add_argument("--restore-after", type=float, required=True, help="seconds")
    p.add_argument("--state", required=True)
    p.add_argument("--proxies", required=True, help="comma-separated proxy names")
    args = p.parse_args(argv)
    time.sleep(args.restore_after)
    st = load_state(state=args.state)
    for proxy in args.proxies.split(","):
        toxiproxy(st, f"/proxies/{proxy}", {"enabled": True})


if __name__ == "__main__":
    main()
