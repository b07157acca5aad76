"""The live view as an SRE sees it: `chaosrunner run` in a real terminal (tmux) at 80 and 200 columns."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.guard.estate import REPO, ServiceEstate
from tests.guard.test_run_guarded import TARGET, experiment

pytestmark = pytest.mark.slow


def _tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10, check=True).stdout


@pytest.mark.parametrize("width", [80, 200])
def test_one_live_region_redrawn_in_place_with_the_logs_above_it(
    estate: ServiceEstate, tmp_path: Path, width: int
) -> None:
    path = experiment(tmp_path, estate, pause_s=4, fault={"match": {"target": TARGET}, "error_ratio": 0.0},
                      slo_guard={"slos": ["pinboard-availability", "pinboard-latency"]})
    sock = f"chaosrunner-test-{os.getpid()}-{width}"
    cmd = (f"cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} -m chaosrunner run "
           f"{shlex.quote(str(path))}; echo EXIT=$?; sleep 120")
    _tmux(sock, "new-session", "-d", "-x", str(width), "-y", "24", cmd)  # the environment is this test's
    try:
        deadline = time.monotonic() + 90
        screen = ""
        while "EXIT=" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = _tmux(sock, "capture-pane", "-p", "-J", "-S", "-500")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
    lines = screen.splitlines()
    assert "EXIT=0" in screen, screen
    title = [i for i, x in enumerate(lines) if x.startswith("passed · guarded exp.yaml")]
    assert len(title) == 1, screen  # redrawn in place: no stale copies of the region above it
    assert sum("SLO reading" in x for x in lines) == 1 and sum("elapsed" in x for x in lines) == 1, screen
    action = next(i for i, x in enumerate(lines) if "Action: make-the-service-fail" in x)
    assert action < title[0], screen  # log lines scroll above the region
    region = lines[title[0]:next(i for i, x in enumerate(lines) if x.startswith("passed: "))]
    assert all(len(x) <= width for x in region), [x for x in region if len(x) > width]  # nothing wrapped
    assert any(x.lstrip().startswith("pinboard-availability") for x in region), region
