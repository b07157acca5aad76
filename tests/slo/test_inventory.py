"""Inventory members: the sandbox state file and static targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner.core.validation import InvalidInput, validate_model
from chaosrunner.inventory.base import TargetsSpec, resolve
from chaosrunner.inventory.sandbox import targets_from_state
from chaosrunner.sandbox.state import save_state, state_path
from tests.sandbox.states import written_state


def test_sandbox_instances_become_targets_with_driver_attrs(tmp_path: Path) -> None:
    targets = targets_from_state(written_state(tmp_path))
    assert len(targets) == 12 and targets[0].id == "pinboard-us-east-a-1"
    edges = [t for t in targets if t.service == "pinboard-cdn"]
    assert [(t.id, t.labels["role"], t.region, t.zone) for t in edges] == [
        ("edge-a", "primary", "", "edge-a"), ("edge-b", "secondary", "", "edge-b")]
    t = next(t for t in targets if t.id == "pinboard-eu-west-a-2")
    assert (t.service, t.region, t.zone, t.tier) == ("pinboard", "eu-west", "eu-west-a", "non-critical")
    assert t.labels == {"region_type": "Read-Only"}
    assert t.attrs["proxy"] == "pinboard-eu-west-a-2" and t.attrs["url"] == f"http://127.0.0.1:{t.attrs['port']}"
    assert "id" not in t.attrs


def test_resolve_reads_the_sandbox_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_state(written_state(tmp_path))
    monkeypatch.setenv("CHAOSRUNNER_SANDBOX", str(tmp_path))
    assert state_path() == tmp_path / "state.json"
    population, chosen = resolve(TargetsSpec(inventory="sandbox", select={"region_type": "Read-Only"}))
    assert len(population) == 12 and [t.region for t in chosen] == ["eu-west"]


def test_missing_sandbox_state_is_bad_input(tmp_path: Path) -> None:
    spec = TargetsSpec(inventory="sandbox", select={"zone": "a"}, options={"state": str(tmp_path / "none.json")})
    with pytest.raises(InvalidInput, match="sandbox up"):
        resolve(spec)


def test_targets_spec_validation_names_the_key() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_model(TargetsSpec, {"inventory": "vmware", "pick": 0}, "exp.yaml", ["extensions", 0, "targets"])
    text = e.value.render()
    assert "exp.yaml: extensions[0].targets.inventory" in text and "extensions[0].targets.pick" in text
