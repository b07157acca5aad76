"""What each process imports at start, pinned: a heavy import slipping back into a path that does not need
it is a start-up regression no timing test would catch reliably (bench/runner_overhead.py has the times).

Also shell completion, which the command line builds itself on click's scripts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

HEAVY_FOR_HELP = ("pydantic", "yaml", "chaoslib", "requests", "typer", "rich", "boto3", "kubernetes")
ONLY_WHEN_NEEDED = ("typer", "rich", "boto3", "kubernetes", "pandas", "prometheus_api_client", "jinja2", "scipy",
                    "apscheduler", "sqlalchemy", "psycopg", "aiohttp")


def imported(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages a Python process imported (from ``-X importtime``), after checking it exited 0."""
    r = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "chaosrunner" in names or "-c" in argv, "importtime output not read"
    return names


def test_help_imports_no_engine_no_validation_library() -> None:
    got = imported(["-m", "chaosrunner", "--help"])
    assert "click" in got
    assert not got & set(HEAVY_FOR_HELP), got & set(HEAVY_FOR_HELP)


def test_the_watchdog_starts_without_pydantic_yaml_or_chaoslib() -> None:
    """It is spawned by every run and usually only waits for the run's end: it loads the journal schema
    and the rollback replayer's YAML only when it must revert."""
    got = imported(["-c", "import chaosrunner.faults.watchdog"])
    assert not got & {"pydantic", "yaml", "chaoslib", "requests"}, got


def test_a_plain_run_imports_no_driver_no_guard_no_report_library(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "title": "plain", "description": "one process action",
        "method": [{"type": "action", "name": "act", "provider": {"type": "process", "path": "/bin/true"}}]}))
    env = {"CHAOSRUNNER_HOME": str(tmp_path / "home"), "CHAOSRUNNER_JOURNALS": str(tmp_path / "journals")}
    got = imported(["-m", "chaosrunner", "run", str(exp)], env)
    assert {"chaoslib", "pydantic"} <= got
    assert not got & set(ONLY_WHEN_NEEDED), got & set(ONLY_WHEN_NEEDED)


def cli(*args: str, home: Path, shell: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(home), "SHELL": shell}, stdin=subprocess.DEVNULL)


def test_show_and_install_completion_for_the_users_shell(tmp_path: Path) -> None:
    shown = cli("--show-completion", home=tmp_path, shell="/bin/bash")
    assert shown.returncode == 0 and "_CHAOSRUNNER_COMPLETE=bash_complete" in shown.stdout
    for _ in range(2):  # installing twice adds the rc line once
        assert cli("--install-completion", home=tmp_path, shell="/bin/bash").returncode == 0
    script = tmp_path / ".bash_completions" / "chaosrunner.sh"
    assert script.read_text().strip() == shown.stdout.strip()
    assert (tmp_path / ".bashrc").read_text().count(f"source {script}") == 1
    fish = cli("--install-completion", home=tmp_path, shell="/usr/bin/fish")
    assert fish.returncode == 0 and (tmp_path / ".config/fish/completions/chaosrunner.fish").is_file()
    unknown = cli("--show-completion", home=tmp_path, shell="/bin/sh")
    assert unknown.returncode == 2 and "supported: bash, zsh, fish" in unknown.stderr
    (tmp_path / "file-not-home").write_text("")
    blocked = cli("--install-completion", home=tmp_path / "file-not-home", shell="/bin/zsh")
    assert blocked.returncode == 1 and "shell completion not installed" in blocked.stderr, blocked.stderr
    assert "Traceback" not in blocked.stderr


def test_completion_answers_with_the_commands() -> None:
    r = subprocess.run([sys.executable, "-m", "chaosrunner"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "_CHAOSRUNNER_COMPLETE": "bash_complete", "COMP_WORDS": "chaosrunner jour",
                            "COMP_CWORD": "1"}, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "plain,journal" in r.stdout.splitlines(), r.stdout
