"""The corpus under `chaos run --rollback-strategy always` and `chaosrunner run`, side by side: the same
activities in the same order with the same statuses, the same hypotheses and side effects. Where the
tools deliberately differ (docs/compatibility.md), the test says which difference it expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compat.harness import chaos_run, chaosrunner_run, render, same_record

# corpus file → chaosrunner's verdict; chaos run's exit code differs only where the verdict is computed
# (chaos says "completed", exit 0, for a failed action or an unhealthy system: compatibility.md §verdict).
EXPECTED = {
    "providers.yaml": "passed",
    "ref.yaml": "passed",
    "controls.yaml": "passed",
    "runtime.yaml": "passed",
    "pauses.yaml": "passed",
    "steady-state-only.yaml": "passed",
    "deviated.yaml": "deviated",
    "failing.json": "failed",
    "unhealthy-before.yaml": "failed",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_runs_like_chaos_run(name: str, tmp_path: Path, http_service: str) -> None:
    experiment, trace = render(name, tmp_path, http_service)
    theirs = chaos_run(experiment, trace, tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    assert theirs.journal, theirs.stderr
    assert ours.journal, ours.stderr
    same_record(ours, theirs)
    assert ours.journal["chaosrunner"]["verdict"] == EXPECTED[name], ours.journal["chaosrunner"]["reason"]
    if EXPECTED[name] in ("passed", "deviated"):
        assert ours.code == theirs.code, (ours.stderr, theirs.stderr)


def test_background_activities_run_like_chaos_run(tmp_path: Path) -> None:
    experiment, trace = render("background.yaml", tmp_path)
    theirs = chaos_run(experiment, trace, tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    same_record(ours, theirs, ordered=False)  # background entries start in a thread: order may vary
    assert ours.code == theirs.code == 0, ours.stderr


def test_controls_see_the_same_hooks_and_their_journal_edits_are_kept(tmp_path: Path) -> None:
    experiment, trace = render("controls.yaml", tmp_path)
    theirs = chaos_run(experiment, trace, tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    assert ours.trace == theirs.trace
    assert "top:after-method" in ours.trace and "act:before-activity:inject" in ours.trace
    assert ours.journal["control_notes"] == theirs.journal["control_notes"] == ["top saw the end"]
    assert ours.journal["run"][-1] == {"control_entry": "top: a note that is not a run record"}
    assert theirs.journal["run"][-1] == "top: a note that is not a run record"
    assert ours.journal["chaosrunner"]["verdict"] == "passed"


@pytest.mark.parametrize("dry", ["probes", "actions", "activities", "pause"])
def test_dry_modes_run_like_chaos_run(dry: str, tmp_path: Path, http_service: str) -> None:
    experiment, trace = render("providers.yaml", tmp_path, http_service)
    theirs = chaos_run(experiment, trace, tmp_path, "--dry", dry)
    ours = chaosrunner_run(experiment, trace, tmp_path, "--dry", dry)
    same_record(ours, theirs)
    assert ours.journal["experiment"]["dry"] == theirs.journal["experiment"]["dry"] == dry


@pytest.mark.parametrize("strategy", ["before-method-only", "after-method-only", "default"])
def test_hypothesis_strategy_option_runs_like_chaos_run(strategy: str, tmp_path: Path) -> None:
    experiment, trace = render("runtime.yaml", tmp_path)
    theirs = chaos_run(experiment, trace, tmp_path, "--hypothesis-strategy", strategy)
    ours = chaosrunner_run(experiment, trace, tmp_path, "--hypothesis-strategy", strategy)
    same_record(ours, theirs)


def test_continuous_hypothesis_runs_during_the_method(tmp_path: Path) -> None:
    experiment, trace = render("background.yaml", tmp_path)
    doc = experiment.read_text().replace(
        "method:", "steady-state-hypothesis:\n  title: t\n  probes:\n    - type: probe\n      name: p\n"
        "      tolerance: true\n      provider: {type: python, module: ctk_activities, func: number,"
        " arguments: {value: true}}\nmethod:", 1)
    experiment.write_text(doc)
    args = ("--hypothesis-strategy", "continuously", "--hypothesis-frequency", "0.2", "--fail-fast")
    theirs = chaos_run(experiment, trace, tmp_path, *args)
    ours = chaosrunner_run(experiment, trace, tmp_path, *args)
    assert theirs.journal["steady_states"]["during"] and ours.journal["steady_states"]["during"]
    assert ours.journal["status"] == theirs.journal["status"] == "completed"
    assert ours.code == theirs.code == 0, ours.stderr


def test_runtime_block_is_honoured_but_the_rollback_strategy_is_ours_and_said_so(tmp_path: Path) -> None:
    experiment, trace = render("runtime.yaml", tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    # after-method-only: the probe runs once, after the method; rollbacks run although "default" was asked
    assert ours.trace == ["inject", "probe", "undo"]
    assert "rollback strategy 'default' overridden" in ours.stderr
    assert any("rollback strategy 'default'" in o for o in ours.journal["chaosrunner"]["overrides"])


def test_journal_keys_are_chaos_toolkit_keys(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    theirs = chaos_run(experiment, trace, tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    missing = set(theirs.journal) - set(ours.journal)
    assert not missing, missing
    json.dumps(ours.journal)
