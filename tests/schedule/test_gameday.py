"""Game days: experiments run now, in order, each in its own `chaosrunner run`; stop at the first
abort unless --keep-going; always stop after a failed rollback; one combined summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaosrunner.core.validation import InvalidInput
from chaosrunner.schedule.gameday import load_plan, run_plan
from tests.schedule.conftest import FIXTURES, MARK_EXPERIMENT, journals

REPO = Path(__file__).resolve().parents[2]


def write_plan(tmp_path: Path, marker: Path, **over: object) -> Path:
    plan = {"name": "test game day", "experiments": [
        {"experiment": str(MARK_EXPERIMENT), "vars": {"marker": str(marker), "label": "first"}},
        {"experiment": str(FIXTURES / "abort.yaml"), "vars": {"marker": str(marker)}},
        {"experiment": str(MARK_EXPERIMENT), "vars": {"marker": str(marker), "label": "third"}},
    ]}
    plan.update(over)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


@pytest.mark.slow
def test_stops_at_the_first_abort_with_one_summary(tmp_path: Path, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "gameday", "run", str(write_plan(tmp_path, marker)),
                        "--json"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 3, r.stderr
    summary = json.loads(r.stdout)
    assert [s["verdict"] for s in summary["steps"]] == ["passed", "aborted", "not-run"]
    assert summary["stopped_early"] and "step 2: aborted" in summary["stop_reason"]
    assert summary["counts"] == {"passed": 1, "aborted": 1, "not-run": 1}
    lines = marker.read_text().split()
    assert "first" in lines and "rollback-abort" in lines and "third" not in lines
    docs = journals(private_state["journals"])
    assert len(docs) == 2 and {d["chaosrunner"]["trigger"] for d in docs} == {"gameday"}
    assert {s["journal"] for s in summary["steps"][:2]} == {
        str(p) for p in private_state["journals"].rglob("*.json")}


@pytest.mark.slow
def test_keep_going_runs_every_step(tmp_path: Path, private_state) -> None:  # noqa: ANN001
    marker = tmp_path / "marker"
    plan = load_plan(write_plan(tmp_path, marker))
    result = run_plan(plan, keep_going=True)
    assert [s.verdict for s in result.steps] == ["passed", "aborted", "passed"]
    assert not result.stopped_early and result.exit_code == 3
    text = result.render()
    assert "Game day: test game day" in text and "1 aborted, 2 passed" in text


def test_rollback_failure_stops_even_with_keep_going(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, tmp_path / "m"))
    codes = iter([5, 0, 0])
    seen: list[list[str]] = []

    def step(argv: list[str], timeout_s: float) -> tuple[int, str]:
        seen.append(argv)
        return next(codes), json.dumps({"verdict": "rollback-failed", "reason": "undo failed", "run_id": "r"})

    result = run_plan(plan, keep_going=True, step_runner=step)
    assert [s.verdict for s in result.steps] == ["rollback-failed", "not-run", "not-run"]
    assert result.exit_code == 5 and "fault may still be in place" in result.stop_reason
    assert len(seen) == 1 and seen[0][3:5] == ["run", str(MARK_EXPERIMENT)]
    assert seen[0][seen[0].index("--trigger") + 1] == "gameday"


def test_refused_and_failed_steps_do_not_stop_the_plan(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, tmp_path / "m"))
    codes = iter([4, 1, 0])
    result = run_plan(plan, step_runner=lambda argv, t: (next(codes), ""))
    assert [s.verdict for s in result.steps] == ["refused", "failed", "passed"]
    assert result.exit_code == 4  # the worst: refused ranks above failed


def test_invalid_plan_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "experiments": [{"experiment": "missing.yaml"}]}))
    with pytest.raises(InvalidInput) as e:
        load_plan(path)
    assert e.value.problems[0][0] == "experiments[0].experiment"
    path.write_text(yaml.safe_dump({"name": "x", "experiments": []}))
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "gameday", "run", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and f"{path}: experiments:" in r.stderr


def test_example_plan_is_valid() -> None:
    plan = load_plan(REPO / "schedules" / "gameday.yaml", check_files=False)
    assert len(plan.experiments) == 3 and not plan.keep_going
    assert all(plan.experiment_path(s).parent == (REPO / "experiments" / "sandbox").resolve()
               for s in plan.experiments)
