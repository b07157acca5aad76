"""Values after ``${var}`` substitution (``experiment.loader.check_substituted``): what chaoslib will sleep
on is checked before anything runs, and the refusal names the activity's key and says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaosrunner.core.validation import InvalidInput
from chaosrunner.experiment.loader import check_substituted


def experiment(**pauses: Any) -> dict[str, Any]:
    act = {"type": "action", "name": "a", "provider": {"type": "python", "module": "os", "func": "getcwd"}}
    return {
        "title": "t",
        "description": "d",
        "configuration": {"p": 1, "marks": "/tmp/x"},
        "steady-state-hypothesis": {"title": "s", "probes": [{**act, "type": "probe", "tolerance": True}]},
        "method": [dict(act), {**act, "pauses": pauses}],
        "rollbacks": [dict(act)],
    }


def refusal(doc: dict[str, Any], variables: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as info:
        check_substituted(doc, variables, Path("exp.yaml"))
    assert info.value.file == "exp.yaml"
    return info.value.problems[0]


def test_a_sane_variable_passes() -> None:
    check_substituted(experiment(after="${p}", before=0), {"p": 2.5}, "exp.yaml")
    check_substituted(experiment(after="${p}"), {}, "exp.yaml")  # the declared value, 1


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (-5, "negative pause"),
        ("5", "not a number of seconds"),
        (True, "not a number of seconds"),
        ([1], "not a number of seconds"),
    ],
)
def test_a_variable_that_makes_a_pause_absurd_is_refused_naming_the_key(value: Any, words: str) -> None:
    key, message = refusal(experiment(after="${p}"), {"p": value})
    assert key == "method[1].pauses.after"
    assert message.startswith("${p} is ") and words in message


def test_nan_anywhere_in_the_configuration_is_refused() -> None:
    key, message = refusal(experiment(), {"limits": {"latency_ms": float("nan")}})
    assert key == "configuration.limits.latency_ms" and "not a number" in message


def test_a_pause_placeholder_nothing_sets_is_refused() -> None:
    key, message = refusal(experiment(before="${hold}"), {})
    assert key == "method[1].pauses.before" and "is not set" in message


def test_a_pause_from_a_configuration_probe_is_refused_without_running_it() -> None:
    doc = experiment(after="${p}")
    doc["configuration"]["p"] = {"type": "probe", "name": "pick", "provider": {"type": "python",
                                                                              "module": "os", "func": "abort"}}
    key, message = refusal(doc, {})
    assert key == "method[1].pauses.after" and "probe" in message


def test_pauses_in_the_steady_state_and_rollbacks_are_checked_too() -> None:
    doc = experiment()
    doc["steady-state-hypothesis"]["probes"][0]["pauses"] = {"before": "${p}"}
    doc["rollbacks"][0]["pauses"] = {"after": "${p}"}
    with pytest.raises(InvalidInput) as info:
        check_substituted(doc, {"p": -1}, "exp.yaml")
    keys = [k for k, _ in info.value.problems]
    assert keys == ["steady-state-hypothesis.probes[0].pauses.before", "rollbacks[0].pauses.after"]


def test_environment_typed_configuration_is_read_as_chaoslib_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = experiment(after="${p}")
    doc["configuration"]["p"] = {"type": "env", "key": "HOLD_S", "env_var_type": "float"}
    monkeypatch.setenv("HOLD_S", "-3")
    key, message = refusal(doc, {})
    assert key == "method[1].pauses.after" and "negative" in message
    monkeypatch.setenv("HOLD_S", "nan")
    key, _ = refusal(doc, {})
    assert key == "configuration.p"
    monkeypatch.delenv("HOLD_S")
    key, message = refusal(doc, {})
    assert key == "configuration" and "HOLD_S" in message
    check_substituted(doc, {"p": 3}, "exp.yaml")  # a variable overrides the environment
