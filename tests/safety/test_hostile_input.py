"""Hostile input, as users reproduced it: refused with exit 2 and ``file: key: message`` before anything
runs, in bounded memory. One test per reproduced defect, each through the real CLI (``validate``,
``plan``, ``run``) on an experiment whose only "fault" is a harmless python activity writing
``marks.txt``; then the same documents through the loaders in-process.

Memory is the child's own peak RSS (``wait4``); wall time is not asserted tightly (the machine is
shared), CPU time is asserted loosely.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosrunner.core.validation import InvalidInput, load_document
from chaosrunner.experiment.loader import load_experiment
from tests.safety.hostile import (
    MARKS,
    Measured,
    alias_bomb,
    deep_json,
    dense_yaml,
    pause_experiment,
    run_measured,
)

MAX_RSS_MB = 200


@pytest.fixture
def workdir(tmp_path: Path, state: Path) -> Path:
    """Where the child runs (``marks.txt`` lands here if anything is injected)."""
    d = tmp_path / "work"
    d.mkdir()
    return d


def chaosrunner(workdir: Path, *args: str) -> Measured:
    return run_measured(list(args), workdir, dict(os.environ), timeout_s=120)


def assert_refused(result: Measured, file: Path | str, key: str, *words: str) -> None:
    assert not result.timed_out, "the child had to be killed"
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    prefix = f"{file}: {key}" if key else f"{file}: "
    assert prefix in result.stderr, result.stderr[-2000:]
    for word in words:
        assert word in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.max_rss_mb < MAX_RSS_MB, f"peak RSS {result.max_rss_mb:.0f} MB"


def assert_nothing_ran(workdir: Path, journals: Path) -> None:
    assert not (workdir / MARKS).exists(), "an activity ran"
    assert not journals.exists() or not list(journals.rglob("*.json")), "a run started"


# --- YAML alias bomb in configuration -----------------------------------------------------------------


def test_validate_and_plan_refuse_a_595_byte_alias_bomb_naming_the_key(workdir: Path) -> None:
    exp = workdir / "bomb.yaml"
    exp.write_text(alias_bomb(595))
    for command in ("validate", "plan"):
        result = chaosrunner(workdir, command, str(exp))
        assert_refused(result, exp, "configuration.", "YAML aliases")


@pytest.mark.parametrize("size", [595, 717])
def test_run_refuses_an_alias_bomb_before_anything_runs_in_bounded_memory(
    size: int, workdir: Path, tmp_path: Path
) -> None:
    exp = workdir / "bomb.yaml"
    exp.write_text(alias_bomb(size))
    result = chaosrunner(workdir, "run", str(exp))
    assert_refused(result, exp, "configuration.", "YAML aliases")
    assert result.cpu_s < 10, f"{result.cpu_s:.1f} s of CPU to refuse {size} bytes"
    assert_nothing_ran(workdir, tmp_path / "journals")


def test_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text("title: t\ndescription: d\nconfiguration:\n  loop: &loop [*loop]\nmethod: []\n")
    with pytest.raises(InvalidInput) as info:
        load_experiment(path)
    assert info.value.problems[0][0] == "configuration.loop[0]", info.value.render()
    assert "recursive" in info.value.problems[0][1]


def test_more_than_a_hundred_aliases_are_refused_even_when_small(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("base: &b 1\nrefs: [" + ", ".join(["*b"] * 101) + "]\n")
    with pytest.raises(InvalidInput) as info:
        load_document(path)
    assert info.value.problems[0][0] == "refs[100]", info.value.render()


# --- dense YAML ---------------------------------------------------------------------------------------


def test_validate_refuses_8_mib_of_dense_yaml_at_once(workdir: Path) -> None:
    exp = workdir / "dense.yaml"
    exp.write_text(dense_yaml(8 * 1024 * 1024))
    result = chaosrunner(workdir, "validate", str(exp))
    assert_refused(result, exp, "", "over the 1 MiB limit")
    assert result.cpu_s < 10


def test_dense_yaml_under_the_size_limit_is_refused_by_its_value_count(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(dense_yaml(200 * 1024))  # ~55,000 values: more than 20,000
    with pytest.raises(InvalidInput) as info:
        load_experiment(path)
    key, message = info.value.problems[0]
    assert key.startswith("configuration"), info.value.render()
    assert "20,000 values" in message


# --- deep nesting -------------------------------------------------------------------------------------


def test_validate_and_run_refuse_json_nested_500_deep(workdir: Path, tmp_path: Path) -> None:
    exp = workdir / "deep.json"
    exp.write_text(deep_json(500))
    validate = chaosrunner(workdir, "validate", str(exp))
    assert_refused(validate, exp, "configuration.payload[0][0]", "nested deeper than 64 levels")
    run = chaosrunner(workdir, "run", str(exp))
    assert_refused(run, exp, "configuration.payload[0][0]", "nested deeper than 64 levels")
    assert_nothing_ran(workdir, tmp_path / "journals")


def test_json_nested_far_beyond_the_recursion_limit_is_refused_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(deep_json(200_000))
    with pytest.raises(InvalidInput) as info:
        load_experiment(path)
    assert info.value.problems[0][0].startswith("configuration.payload[0]"), info.value.render()


def test_yaml_nested_100_deep_is_refused_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("entries:\n- configuration:\n    x: " + "[" * 100 + "]" * 100 + "\n")
    with pytest.raises(InvalidInput) as info:
        load_document(path)
    assert info.value.problems[0][0].startswith("entries[0].configuration.x[0]"), info.value.render()


def test_non_finite_numbers_in_content_are_refused_with_their_key(tmp_path: Path) -> None:
    for name, text, key in [
        ("vars.yaml", "p: .nan\n", "p"),
        ("vars.json", '{"p": [1, NaN]}', "p[1]"),
        ("vars.json", '{"p": {"q": 1e999}}', "p.q"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InvalidInput) as info:
            load_document(path)
        assert info.value.problems[0][0] == key, info.value.render()


# --- --var / --var-file values that feed pauses ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key", "words"),
    [
        ("NaN", "--var: p: ", ("nan", "not a number")),
        ("-5", "method[1].pauses.after: ", ("${p} is -5", "negative pause")),
        ("1e999", "--var: p: ", ("inf",)),
        ("soon", "method[1].pauses.after: ", ("not a number of seconds",)),
    ],
)
def test_run_refuses_a_var_that_makes_a_pause_absurd_before_injecting(
    value: str, key: str, words: tuple[str, ...], workdir: Path, tmp_path: Path
) -> None:
    exp = workdir / "pause.yaml"
    exp.write_text(pause_experiment())
    file = "--var" if key.startswith("--var") else exp
    key = key.removeprefix("--var: ")
    for command in ("plan", "run"):
        result = chaosrunner(workdir, command, str(exp), "--var", f"p={value}")
        assert_refused(result, file, key, *words)
    assert_nothing_ran(workdir, tmp_path / "journals")


def test_run_refuses_a_var_file_that_makes_a_pause_negative(workdir: Path, tmp_path: Path) -> None:
    exp = workdir / "pause.yaml"
    exp.write_text(pause_experiment())
    var_file = workdir / "vars.yaml"
    var_file.write_text("configuration:\n  p: -5\n")
    result = chaosrunner(workdir, "run", str(exp), "--var-file", str(var_file))
    assert_refused(result, exp, "method[1].pauses.after: ", "negative pause")
    assert_nothing_ran(workdir, tmp_path / "journals")


def test_a_sane_var_still_runs(workdir: Path, tmp_path: Path) -> None:
    exp = workdir / "pause.yaml"
    exp.write_text(pause_experiment())
    result = chaosrunner(workdir, "run", str(exp), "--var", "p=0.1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (workdir / MARKS).read_text().splitlines() == ["x", "waited"]


def test_the_measured_peak_is_the_childs_own_not_this_processs(workdir: Path) -> None:
    """A pytest worker that has grown past the limit must not fail every RSS assert above (it did in CI:
    245 MB "peak" for a 40 MB child forked from a 245 MB worker)."""
    ballast = bytearray(400 * 1024 * 1024)  # touched: resident in this process
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    result = chaosrunner(workdir, "--version")
    assert result.returncode == 0, result.stderr
    assert 5 < result.max_rss_mb < 150, f"peak RSS {result.max_rss_mb:.0f} MB"
    del ballast
