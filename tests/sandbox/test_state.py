"""The sandbox state file: what ``sandbox up`` writes reads back the same, and a damaged file is reported
with its file and key — by the inventory, the drivers and ``sandbox status`` — before anything is touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaosrunner.core.validation import InvalidInput
from chaosrunner.drivers.sandbox.instances import kill_instance
from chaosrunner.drivers.sandbox.state import estate_whole, swap_database_roles
from chaosrunner.inventory.base import TargetsSpec, resolve
from chaosrunner.sandbox.estate import status
from chaosrunner.sandbox.state import STATE_FILE, SandboxStateMissing, load_state, save_state
from tests.sandbox.states import written_state


def _write(root: Path, doc: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / STATE_FILE
    path.write_text(json.dumps(doc))
    return path


def test_what_up_writes_reads_back_unchanged(tmp_path: Path) -> None:
    state = written_state(tmp_path)
    save_state(state)
    on_disk = json.loads((tmp_path / STATE_FILE).read_text())
    primary = on_disk["postgres"]["primary"]
    assert set(primary) == {"port", "name", "data_dir", "dsn", "proxy", "stream_proxy", "region"}
    assert primary["name"] == primary["proxy"] == "pg-a" and primary["stream_proxy"] == "stream-pg-a"
    assert len(on_disk["instances"]) == 10 and on_disk["ports"] == sorted(on_disk["ports"])
    assert [e["id"] for e in on_disk["cdn"]["edges"]] == ["edge-a", "edge-b"]
    assert on_disk["options"] == {"rps": 50.0, "image_rps": 20.0, "write_ratio": 0.2, "replacement_delay_s": 0.0,
                                  "base_port": 20000}
    assert load_state(tmp_path / STATE_FILE) == state
    assert load_state(tmp_path / STATE_FILE).to_json() == on_disk


def test_unknown_keys_are_kept_through_a_rewrite(tmp_path: Path) -> None:
    doc = written_state(tmp_path).to_json()
    doc["grafana"] = {"url": "http://127.0.0.1:3000"}
    doc["instances"][0]["weight"] = 3
    doc["postgres"]["primary"]["sync"] = True
    path = _write(tmp_path, doc)
    swap_database_roles(path, "pg-b")  # a read-modify-write through the model
    after = json.loads(path.read_text())
    assert after["grafana"] == {"url": "http://127.0.0.1:3000"} and after["instances"][0]["weight"] == 3
    assert after["postgres"]["standby"]["sync"] is True and after["postgres"]["primary"]["name"] == "pg-b"


def _damaged(tmp_path: Path, damage: str) -> Path:
    doc = written_state(tmp_path).to_json()
    if damage == "string port":
        doc["postgres"]["primary"]["port"] = "5432"
    else:
        del doc["instances"][2]["port"]
    return _write(tmp_path / "sandbox", doc)


DAMAGE = [("string port", "postgres.primary.port: Input should be a valid integer"),
          ("instance without port", "instances[2].port: Field required")]


@pytest.mark.parametrize(("damage", "problem"), DAMAGE)
def test_inventory_names_the_file_and_key_of_a_malformed_state(tmp_path: Path, damage: str, problem: str) -> None:
    path = _damaged(tmp_path, damage)
    with pytest.raises(InvalidInput) as e:
        resolve(TargetsSpec(inventory="sandbox", select={"zone": "us-east-a"}, options={"state": str(path)}))
    assert e.value.render() == f"{path}: {problem}"


@pytest.mark.parametrize(("damage", "problem"), DAMAGE)
def test_drivers_name_the_file_and_key_before_touching_anything(tmp_path: Path, damage: str, problem: str) -> None:
    path = _damaged(tmp_path, damage)
    with pytest.raises(SandboxStateMissing) as probe:
        estate_whole(state=str(path))
    with pytest.raises(SandboxStateMissing) as fault:
        kill_instance(instance="pinboard-us-east-b-1", configuration={"sandbox_state": str(path)})
    assert str(probe.value) == str(fault.value) == f"{path}: {problem}"


@pytest.mark.parametrize(("damage", "problem"), DAMAGE)
def test_status_reports_a_malformed_state_instead_of_down(tmp_path: Path, damage: str, problem: str) -> None:
    path = _damaged(tmp_path, damage)
    with pytest.raises(SandboxStateMissing) as e:
        status(path.parent)
    assert str(e.value) == f"{path}: {problem}"


def test_no_state_tells_to_bring_the_sandbox_up(tmp_path: Path) -> None:
    with pytest.raises(SandboxStateMissing, match="run `chaosrunner sandbox up` first"):
        estate_whole(state=str(tmp_path / STATE_FILE))
    assert status(tmp_path) == {"up": False, "root": str(tmp_path)}
