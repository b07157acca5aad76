"""`chaos validate` and `chaosrunner validate` agree on the corpus and on the leniency cases; where
chaosrunner refuses what chaos validate accepts, the refusal is a documented safety refusal
(docs/compatibility.md) and the message says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compat.harness import CORPUS, chaos, chaosrunner, render

CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".json"))


def _probe(name: str = "p") -> dict[str, Any]:
    return {"type": "probe", "name": name, "tolerance": True,
            "provider": {"type": "python", "module": "ctk_activities", "func": "number", "arguments": {"value": True}}}


def _action(name: str = "a", **extra: Any) -> dict[str, Any]:
    return {"type": "action", "name": name, **extra,
            "provider": {"type": "python", "module": "ctk_activities", "func": "number", "arguments": {"value": 1}}}


BASE = {"title": "t", "description": "d", "method": [_action()]}

# Accepted by both: chaosrunner used to refuse these without protecting anyone.
LENIENT = {
    "empty-method": {**BASE, "method": [], "steady-state-hypothesis": {"title": "h", "probes": [_probe()]}},
    "pause-over-a-day": {**BASE, "method": [_action(pauses={"after": 90000})]},
    "pause-extra-key": {**BASE, "method": [_action(pauses={"after": 1, "note": "why"})]},
    "whitespace-title": {**BASE, "title": "   "},
    "underscore-placeholder": {**BASE, "configuration": {"p_s": 1}, "method": [_action(pauses={"after": "${p_s}"})]},
    "runtime-block": {**BASE, "runtime": {"rollbacks": {"strategy": "deviated"}}},
    "controls": {**BASE, "controls": [{"name": "c", "provider": {"type": "python", "module": "ctk_controls"}}]},
}

# Refused by both.
INVALID = {
    "no-title": {"description": "d", "method": []},
    "no-method": {"title": "t", "description": "d"},
    "unknown-provider": {**BASE, "method": [{"type": "action", "name": "a", "provider": {"type": "ftp"}}]},
    "probe-without-tolerance": {**BASE, "steady-state-hypothesis": {"title": "h", "probes": [
        {k: v for k, v in _probe().items() if k != "tolerance"}]}},
    "method-ref-missing": {**BASE, "method": [{"ref": "nowhere"}]},
}

# Accepted by chaos validate, refused by chaosrunner for a reason it states (compatibility.md).
SAFETY_REFUSALS = {
    "hyphen-placeholder-pause": (
        {**BASE, "configuration": {"p-s": 1}, "method": [_action(pauses={"after": "${p-s}"})]},
        "chaoslib cannot substitute",
    ),
    "rollback-ref-missing": ({**BASE, "rollbacks": [{"ref": "nowhere"}]}, "crash at the rollbacks"),
    "negative-pause": ({**BASE, "method": [_action(pauses={"before": -1})]}, "must not be negative"),
    "targets-without-blast-radius": (
        {**BASE, "extensions": [{"name": "chaosrunner", "targets": {"inventory": "static", "static": [
            {"id": "x", "service": "s"}], "select": {"service": "s"}}}]},
        "blast_radius",
    ),
}


def _validate_both(doc_or_path: Any, tmp: Path, name: str) -> tuple[int, int, str]:
    if isinstance(doc_or_path, Path):
        path = doc_or_path
    else:
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc_or_path, sort_keys=False))
    theirs = chaos("validate", str(path), tmp=tmp)
    ours = chaosrunner("validate", str(path), tmp=tmp)
    return theirs.returncode, ours.returncode, ours.stderr + theirs.stderr


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_validators_agree_on_the_corpus(name: str, tmp_path: Path) -> None:
    path, _ = render(name, tmp_path)
    theirs, ours, err = _validate_both(path, tmp_path, name)
    assert theirs == 0 and ours == 0, err


@pytest.mark.parametrize("name", sorted(LENIENT))
def test_both_accept(name: str, tmp_path: Path) -> None:
    theirs, ours, err = _validate_both(LENIENT[name], tmp_path, name)
    assert (theirs, ours) == (0, 0), err


@pytest.mark.parametrize("name", sorted(INVALID))
def test_both_refuse(name: str, tmp_path: Path) -> None:
    theirs, ours, err = _validate_both(INVALID[name], tmp_path, name)
    assert theirs == 1 and ours == 2, err


@pytest.mark.parametrize("name", sorted(SAFETY_REFUSALS))
def test_documented_safety_refusals(name: str, tmp_path: Path) -> None:
    doc, why = SAFETY_REFUSALS[name]
    theirs, ours, err = _validate_both(doc, tmp_path, name)
    assert theirs == 0 and ours == 2, err
    assert why in err
    listed = (Path(__file__).parents[2] / "docs" / "compatibility.md").read_text()
    assert f"`{name}`" in listed, f"{name} is not listed in docs/compatibility.md"
