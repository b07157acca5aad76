"""Experiment validation (file + key path, exit 2, nothing executed), `plan`, and preflight refusals."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosrunner.core.validation import InvalidInput
from chaosrunner.experiment.loader import load_experiment
from tests.runner.harness import chaosrunner, journals, only_journal, write_experiment


def guarded(tmp_path: Path, **ext: Any) -> dict[str, Any]:
    """An experiment with the chaosrunner extension over a static inventory of three instances."""
    extension = {
        "name": "chaosrunner",
        "targets": {
            "inventory": "static",
            "select": {"service": "pinboard", "zone": "us-east-a"},
            "pick": 1,
            "static": [
                {"id": f"pinboard-{z}-{i}", "service": "pinboard", "region": "us-east", "zone": z,
                 "tier": "non-critical"}
                for z in ("us-east-a", "us-east-b") for i in (1, 2)
            ],
        },
        "blast_radius": {"services": ["pinboard"], "tiers": ["non-critical"], "max_targets": 1,
                         "zones": 1, "regions": 1, "max_duration": "1m"},
    }
    for key, value in ext.items():
        extension[key] = value
    return {
        "title": "guarded",
        "description": "static targets",
        "method": [{"type": "action", "name": "inject", "provider": {
            "type": "python", "module": "activities", "func": "mark",
            "arguments": {"path": str(tmp_path / "injected"), "text": "inject"}}}],
        "rollbacks": [],
        "extensions": [extension],
    }


def test_validate_names_file_and_key_path_and_exits_2(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["extensions"][0]["blast_radius"]["max_percent"] = "150%"
    path = write_experiment(tmp_path / "bad.yaml", doc)
    result = chaosrunner("validate", str(path))
    assert result.returncode == 2
    assert f"{path}: extensions[0].blast_radius.max_percent:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_activity_key_paths(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    del doc["method"][0]["provider"]["module"]
    result = chaosrunner("validate", str(write_experiment(tmp_path / "bad.yaml", doc)))
    assert result.returncode == 2
    assert "method[0].provider: a python provider needs module" in result.stderr


def test_validate_accepts_good_files_and_json(tmp_path: Path) -> None:
    good = write_experiment(tmp_path / "good.yaml", guarded(tmp_path))
    as_json = tmp_path / "good.json"
    as_json.write_text(json.dumps(guarded(tmp_path)))
    result = chaosrunner("validate", str(good), str(as_json), "--json")
    assert result.returncode == 0, result.stderr
    assert [r["valid"] for r in json.loads(result.stdout)] == [True, True]


def test_invalid_experiment_runs_nothing(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["extensions"][0]["blast_radius"]["zones"] = -1
    result = chaosrunner("run", str(write_experiment(tmp_path / "bad.yaml", doc)))
    assert result.returncode == 2
    assert "extensions[0].blast_radius.zones" in result.stderr
    assert not (tmp_path / "injected").exists()
    assert journals(Path(os.environ["CHAOSRUNNER_JOURNALS"])) == []


def test_plan_lists_activities_and_preflight_without_injecting(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["rollbacks"] = [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "/bin/true"}}]
    path = write_experiment(tmp_path / "e.yaml", doc)
    result = chaosrunner("plan", str(path), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(a["phase"], a["name"]) for a in plan["activities"]] == [("method", "inject"), ("rollback", "undo")]
    assert plan["activities"][0]["timeout_s"] == 120.0
    assert plan["preflight"]["allowed"] is True
    assert len(plan["targets"]) == 1 and plan["targets"][0]["zone"] == "us-east-a"
    assert not (tmp_path / "injected").exists()
    human = chaosrunner("plan", str(path))
    assert "preflight: ALLOWED" in human.stdout and "method" in human.stdout


def test_run_refused_by_blast_radius_injects_nothing_exit_4(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["extensions"][0]["targets"]["select"] = {"service": "pinboard", "region": "us-east"}
    doc["extensions"][0]["targets"]["pick"] = "all"
    path = write_experiment(tmp_path / "e.yaml", doc)
    plan = chaosrunner("plan", str(path), "--json")
    assert plan.returncode == 4
    failed = {c["name"] for c in json.loads(plan.stdout)["preflight"]["checks"] if not c["ok"]}
    assert "blast_radius.max_targets" in failed and "blast_radius.zones" in failed
    result = chaosrunner("run", str(path), "--json")
    assert result.returncode == 4
    assert json.loads(result.stdout)["verdict"] == "refused"
    assert not (tmp_path / "injected").exists()
    journal = only_journal(Path(os.environ["CHAOSRUNNER_JOURNALS"]))["chaosrunner"]
    assert journal["verdict"] == "refused" and journal["activities"] == []


def test_run_with_targets_puts_them_in_configuration(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["method"][0]["provider"]["arguments"]["text"] = "${chaosrunner_targets}"
    result = chaosrunner("run", str(write_experiment(tmp_path / "e.yaml", doc)), "--json")
    assert result.returncode == 0, result.stderr
    assert "pinboard-us-east-a-" in (tmp_path / "injected").read_text()
    journal = only_journal(Path(os.environ["CHAOSRUNNER_JOURNALS"]))["chaosrunner"]
    assert journal["blast_radius"]["touched"]["zones"] == ["us-east-a"]


# --------------------------------------------------------------------------------------------- fuzz

BASE: dict[str, Any] = {
    "title": "fuzz",
    "description": "fuzzed",
    "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "/bin/true"}}],
    "extensions": [{"name": "chaosrunner", "blast_radius": {"max_targets": 1}, "timeouts": {"activity": "5s"}}],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PATHS = [
    ("title",), ("description",), ("method",), ("method", 0), ("method", 0, "provider"),
    ("method", 0, "provider", "type"), ("method", 0, "type"), ("method", 0, "pauses"), ("extensions",),
    ("extensions", 0), ("extensions", 0, "blast_radius"), ("extensions", 0, "blast_radius", "max_targets"),
    ("extensions", 0, "blast_radius", "max_percent"), ("extensions", 0, "timeouts", "activity"),
    ("extensions", 0, "targets"), ("extensions", 0, "slo_guard"), ("rollbacks",), ("secrets",), ("configuration",),
    ("steady-state-hypothesis",),
]


def mutate(doc: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    cur: Any = out
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=json_values)
def test_fuzzed_experiments_never_traceback(tmp_path: Path, path: tuple, value: Any) -> None:
    f = tmp_path / "fuzz.json"
    f.write_text(json.dumps(mutate(BASE, path, value)))
    try:
        load_experiment(f)
    except InvalidInput as e:
        text = e.render()
        assert text.startswith(str(f)) and e.problems and all(m for _, m in e.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_files_are_invalid_input(tmp_path: Path, raw: bytes) -> None:
    f = tmp_path / "garbage.yaml"
    f.write_bytes(raw)
    try:
        load_experiment(f)
    except InvalidInput as e:
        assert e.render().startswith(str(f))


def test_fuzz_through_the_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    cases = {
        ("extensions", 0, "blast_radius", "max_targets"): "extensions[0].blast_radius.max_targets",
        ("extensions", 0, "timeouts", "activity"): "extensions[0].timeouts.activity",
        ("method", 0, "provider", "type"): "method[0].provider",
    }
    for i, (path, key) in enumerate(cases.items()):
        f = tmp_path / f"case{i}.yaml"
        f.write_text(yaml.safe_dump(mutate(BASE, path, {"nested": [1, None]})))
        result = chaosrunner("validate", str(f))
        assert result.returncode == 2, (path, result.stderr)
        assert key in result.stderr and "Traceback" not in result.stderr


def test_pauses_take_seconds_or_a_configuration_placeholder(tmp_path: Path) -> None:
    doc = guarded(tmp_path)
    doc["configuration"] = {"hold_s": 0.1}
    doc["method"][0]["provider"] = {"type": "process", "path": "/bin/true"}
    doc["method"][0]["pauses"] = {"after": "${hold_s}", "before": 0}
    load_experiment(write_experiment(tmp_path / "ok.yaml", doc))
    doc["method"][0]["pauses"] = {"after": "soon"}
    bad = write_experiment(tmp_path / "bad.yaml", doc)
    try:
        load_experiment(bad)
    except InvalidInput as e:
        assert e.problems[0][0] == "method[0].pauses.after"
    else:
        raise AssertionError("a pause of 'soon' was accepted")
