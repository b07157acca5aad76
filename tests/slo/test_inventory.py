"""Inventory members: the sandbox state file and static targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosrunner.core.validation import InvalidInput, validate_model
from chaosrunner.inventory.base import TargetsSpec, resolve
from chaosrunner.inventory.sandbox import state_path, targets_from_state

STATE = {
    "version": 1,
    "instances": [
        {"id": "pinboard-us-east-a-1", "service": "pinboard", "region": "us-east", "region_type": "Full",
         "zone": "us-east-a", "tier": "critical", "port": 1, "program": "p1", "proxy": "x1", "url": "http://a"},
        {"id": "pinboard-eu-west-a-2", "service": "pinboard", "region": "eu-west", "region_type": "Read-Only",
         "zone": "eu-west-a", "tier": "non-critical", "port": 2, "program": "p2", "proxy": "x2", "url": "http://b"},
    ],
}


def test_sandbox_instances_become_targets_with_driver_attrs() -> None:
    targets = targets_from_state(STATE)
    assert [t.id for t in targets] == ["pinboard-us-east-a-1", "pinboard-eu-west-a-2"]
    t = targets[1]
    assert (t.service, t.region, t.zone, t.tier) == ("pinboard", "eu-west", "eu-west-a", "non-critical")
    assert t.labels == {"region_type": "Read-Only"}
    assert t.attrs["proxy"] == "x2" and t.attrs["port"] == 2 and "id" not in t.attrs


def test_resolve_reads_the_sandbox_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state.json").write_text(json.dumps(STATE))
    monkeypatch.setenv("CHAOSRUNNER_SANDBOX", str(tmp_path))
    assert state_path() == tmp_path / "state.json"
    population, chosen = resolve(TargetsSpec(inventory="sandbox", select={"region_type": "Read-Only"}))
    assert len(population) == 2 and [t.id for t in chosen] == ["pinboard-eu-west-a-2"]


def test_missing_sandbox_state_is_bad_input(tmp_path: Path) -> None:
    spec = TargetsSpec(inventory="sandbox", select={"zone": "a"}, options={"state": str(tmp_path / "none.json")})
    with pytest.raises(InvalidInput, match="sandbox up"):
        resolve(spec)


def test_targets_spec_validation_names_the_key() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_model(TargetsSpec, {"inventory": "vmware", "pick": 0}, "exp.yaml", ["extensions", 0, "targets"])
    text = e.value.render()
    assert "exp.yaml: extensions[0].targets.inventory" in text and "extensions[0].targets.pick" in text
