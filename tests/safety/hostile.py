"""Hostile content files, as users reproduced them, and a way to run ``chaosrunner`` on one and measure it.

Shared by ``tests/safety/test_hostile_input.py`` and ``bench/hostile_input.py``. Every experiment here
has only harmless python activities (``activities.mark`` appends a line to ``marks.txt`` in the child's
working directory), so "the fault was injected" means "``marks.txt`` exists".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).parent
REPO = HERE.parent.parent
ACTIVITIES = REPO / "tests" / "runner"  # activities.mark
MARKS = "marks.txt"

# A child that regresses into expanding an alias bomb must fail fast, not take the shared machine's
# memory with it: address space is capped well above what a healthy run maps (~200 MB).
CHILD_ADDRESS_SPACE = 1536 * 1024 * 1024

HARMLESS_METHOD = [
    {
        "type": "action",
        "name": "inject",
        "provider": {"type": "python", "module": "activities", "func": "mark", "arguments": {"path": MARKS}},
    }
]

METHOD_YAML = (
    "method:\n- {type: action, name: inject, provider: {type: python, module: activities, func: mark, "
    f"arguments: {{path: {MARKS}}}}}}}\n"
)


def alias_bomb(size: int) -> str:
    """A YAML alias bomb in ``configuration``, padded to exactly ``size`` bytes: 595 bytes is 8 levels
    of 9 aliases (9**8 = 43 million strings once expanded), 717 bytes is 9 levels (387 million)."""
    levels = 8 if size < 700 else 9
    names = "abcdefghijklm"[:levels]
    lines = ["configuration:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"  {name}: &{name} [{','.join(f'*{prev}' for _ in range(9))}]")
    body = "\n".join(lines) + "\n" + METHOD_YAML
    head = "title: alias bomb\ndescription: "
    pad = size - len((head + "\n" + body).encode())
    assert pad >= 1, f"{size} bytes is too small for {levels} levels"
    text = head + "x" * pad + "\n" + body
    assert len(text.encode()) == size
    return text


def dense_yaml(size: int) -> str:
    """A valid experiment whose ``configuration`` is ``size`` bytes of dense YAML (8 values a line)."""
    head = "title: dense\ndescription: a large configuration\n" + METHOD_YAML + "configuration:\n"
    lines, used, i = [], len(head), 0
    while True:
        line = f"  k{i}: [{i}, {i}.5, x{i}, {{a: {i}}}]\n"
        if used + len(line) > size:
            break
        lines.append(line)
        used += len(line)
        i += 1
    text = head + "".join(lines)
    return text + "#" * (size - len(text) - 1) + "\n"


def deep_json(depth: int) -> str:
    """A valid experiment (JSON) with a configuration value nested ``depth`` lists deep."""
    doc = {"title": "deep", "description": "nested configuration", "method": HARMLESS_METHOD,
           "configuration": {"payload": "PAYLOAD"}}
    return json.dumps(doc).replace('"PAYLOAD"', "[" * depth + "]" * depth)


def pause_experiment() -> str:
    """``method[0]`` injects (marks.txt), ``method[1]`` pauses ``${p}`` seconds after itself."""
    doc = {
        "title": "pause from a variable",
        "description": "the pause is a configuration value a --var overrides",
        "configuration": {"p": 1},
        "method": [
            *HARMLESS_METHOD,
            {
                "type": "action",
                "name": "wait",
                "provider": {"type": "python", "module": "activities", "func": "mark",
                             "arguments": {"path": MARKS, "text": "waited"}},
                "pauses": {"after": "${p}"},
            },
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float  # the child's peak resident memory
    cpu_s: float  # user + system seconds of the child
    wall_s: float
    timed_out: bool


def run_measured(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 120.0) -> Measured:
    """``chaosrunner ARGS`` in ``cwd``, through ``measure_child.py`` so that the peak RSS and CPU are the
    command's own (``wait4`` on a child forked from a small launcher, not from this process: see there).
    The launcher's process group is killed after ``timeout_s``."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join([str(ACTIVITIES), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out, err, usage_file = cwd / ".child.out", cwd / ".child.err", cwd / ".child.usage.json"
    usage_file.unlink(missing_ok=True)
    launcher = [sys.executable, str(HERE / "measure_child.py"), str(usage_file), str(CHILD_ADDRESS_SPACE)]
    t0 = time.monotonic()
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(
            [*launcher, sys.executable, "-m", "chaosrunner", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=fo, stderr=fe, start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        try:
            os.killpg(proc.pid, 9)  # the command on a timeout, or a watchdog it may have left behind
        except ProcessLookupError:
            pass
        proc.wait()
    usage = json.loads(usage_file.read_text()) if usage_file.exists() else {}
    return Measured(
        returncode=int(usage.get("returncode", -9)),
        stdout=out.read_text(errors="replace"),
        stderr=err.read_text(errors="replace"),
        max_rss_mb=usage.get("max_rss_kb", 0) / 1024,
        cpu_s=float(usage.get("cpu_s", 0.0)),
        wall_s=time.monotonic() - t0,
        timed_out=timed_out,
    )
