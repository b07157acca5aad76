"""The command line as an SRE types it: --version, -h, shell completion, config show with sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from chaosrunner import __version__


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def test_version_and_short_help() -> None:
    assert cli("--version").stdout.strip() == f"chaosrunner {__version__}"
    short, long = cli("-h"), cli("--help")
    assert short.returncode == 0 and short.stdout == long.stdout
    assert "--install-completion" in long.stdout and "State home:" in long.stdout
    listed = [ln.split()[0] for ln in long.stdout.split("Commands:")[1].splitlines() if ln.startswith("  ")]
    assert listed.index("validate") < listed.index("plan") < listed.index("run") < listed.index("journal"), listed
    assert cli("run", "-h").stdout == cli("run", "--help").stdout


def test_config_show_names_every_value_and_where_it_came_from(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"state": str(tmp_path / "home"), "alertmanager": "http://127.0.0.1:9093"}))
    env = {"CHAOSRUNNER_CONFIG": str(cfg), "CHAOSRUNNER_PUSHGATEWAY_URL": "http://127.0.0.1:9091"}
    env_without_home = {k: v for k, v in os.environ.items() if k not in ("CHAOSRUNNER_HOME", "CHAOSRUNNER_JOURNALS")}
    out = subprocess.run([sys.executable, "-m", "chaosrunner", "config", "show", "--json"], capture_output=True,
                         text=True, timeout=60, env={**env_without_home, **env})
    shown = json.loads(out.stdout)
    assert shown["config_file"] == str(cfg)
    assert shown["state"] == {"value": str(tmp_path / "home"), "source": f"{cfg}: state"}
    assert shown["journals"]["value"] == str(tmp_path / "home" / "journals")
    assert shown["alertmanager"]["source"] == f"{cfg}: alertmanager"
    assert shown["pushgateway"] == {"value": "http://127.0.0.1:9091", "source": "$CHAOSRUNNER_PUSHGATEWAY_URL"}
    assert shown["webhook"]["value"] is None


def test_run_json_answers_on_stdout_even_for_bad_input(tmp_path: Path) -> None:
    """A script reading ``run --json`` always gets one object on stdout with the exit code (it got nothing)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1.0.0\ntitle: no method\n")
    for args in (["run", str(bad), "--json"], ["run", str(bad), "--json", "--trigger", "gamday"]):
        r = cli(*args)
        assert r.returncode == 2, r.stderr
        out = json.loads(r.stdout)
        assert out["verdict"] == "invalid" and out["exit_code"] == 2 and out["run_id"] is None, out
        assert out["reason"] and out["reason"].splitlines()[0] in r.stderr
    assert "--trigger: must be one of cli, schedule, gameday" in cli(*args).stdout


def test_chaoslib_lines_that_contradict_the_verdict_are_silenced_unless_verbose(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "version": "1.0.0", "title": "exit one", "description": "a process action that exits 1",
        "method": [{"type": "action", "name": "act", "provider": {"type": "process", "path": "/bin/false"}}]}))
    quiet, loud = cli("run", str(exp)), cli("run", str(exp), "--verbose")
    assert quiet.returncode == loud.returncode == 1
    assert "failed: activity 'act' failed with status 1" in quiet.stdout
    for line in ("Experiment ended with status: completed", "Rollbacks were explicitly requested"):
        assert line not in quiet.stderr and line in loud.stderr, line


def test_journal_list_fits_the_terminal_and_keeps_every_column_in_a_pipe(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "version": "1.0.0", "title": "a rather long experiment title that a narrow terminal cannot hold whole",
        "description": "d", "method": [{"type": "action", "name": "act", "provider": {"type": "process",
                                                                                    "path": "/bin/true"}}]}))
    assert cli("run", str(exp)).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-m", "chaosrunner", "journal", "list"], capture_output=True, text=True,
                           timeout=60, env=env, stdin=subprocess.DEVNULL).stdout.splitlines()
    assert "trigger" in piped[0] and "budget" in piped[0] and piped[1].endswith("cannot hold whole")
    for columns in (80, 120, 200):
        lines = cli("journal", "list", env={"COLUMNS": str(columns)}).stdout.splitlines()
        assert max(len(line) for line in lines) <= columns, (columns, lines)
        assert lines[0].startswith("run id") and "verdict" in lines[0] and "experiment" in lines[0]
    narrow = cli("journal", "list", env={"COLUMNS": "80"}).stdout.splitlines()
    assert "budget" not in narrow[0] and narrow[1].endswith("…")


def _leaf_commands() -> list[list[str]]:
    from chaosrunner.cli import app

    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(app, [])
    return out


def test_every_command_has_an_example_and_names_its_values_not_their_python_types() -> None:
    """Help as a user reads it: an example per command; `--since DATE|AGE`, `SOURCE`, `[RUN_IDS]...` — not
    `<str>`, `<list[str]>`, `{SOURCE}` (typer's defaults, which the help showed)."""
    commands = _leaf_commands()
    assert len(commands) >= 25, commands
    for path in commands:
        r = cli(*path, "--help")
        assert r.returncode == 0, (path, r.stderr)
        assert "Example: chaosrunner " + " ".join(path) in r.stdout, path
        for noise in ("<str>", "<path>", "<list[", "<int", "<float", "{"):
            assert noise not in r.stdout.split("Example:")[0] + r.stdout.split("Arguments:")[-1], (path, noise)


def test_json_means_one_json_document_on_stdout_even_when_the_command_fails(tmp_path: Path) -> None:
    """Scripts parse stdout: bad input, a usage error or a missing journal used to leave it empty."""
    env = {"CHAOSRUNNER_HOME": str(tmp_path / "home")}
    failing = [
        ("journal", "show", "nope", "--json"),
        ("plan", str(tmp_path / "missing.yaml"), "--json"),
        ("journal", "list", "--verdict", "great", "--json"),
        ("halt", "--json"),  # --reason missing: a usage error
        ("schedule", "show", str(tmp_path / "missing.yaml"), "--json"),
    ]
    for args in failing:
        r = cli(*args, env=env)
        doc = json.loads(r.stdout)  # exactly one document
        assert r.returncode == 2 and doc["exit_code"] == 2 and doc["error"], (args, r.stdout, r.stderr)
        assert doc["error"].splitlines()[-1] in r.stderr  # the same words a person reads
    ok = cli("status", "--json", env=env)
    assert ok.returncode == 0 and "error" not in json.loads(ok.stdout)
