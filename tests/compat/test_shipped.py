"""Our shipped sandbox experiments keep the docs' promise under plain `chaos run`: the targets come from
the same selector as the extension's (a dynamic configuration probe), a --var-file may set them (the key
is declared), and both validators accept every shipped experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from chaoslib.configuration import load_configuration, load_dynamic_configuration

from chaosrunner.drivers.sandbox.state import chosen_ids
from chaosrunner.sandbox.state import save_state
from tests.compat.harness import chaos, chaosrunner
from tests.sandbox.states import written_state

SHIPPED = Path(__file__).parents[2] / "experiments" / "sandbox"
WITH_TARGETS = ["mon-instance-kill.yaml", "wed-resource-starvation.yaml", "fri-regional-failover.yaml"]


def _doc(name: str) -> dict:
    return yaml.safe_load((SHIPPED / name).read_text())


@pytest.mark.parametrize("name", WITH_TARGETS)
def test_plain_chaos_run_resolves_the_extension_selector(name: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _doc(name)
    ext = next(e for e in doc["extensions"] if e["name"] == "chaosrunner")
    args = doc["configuration"]["chaosrunner_targets"]["provider"]["arguments"]
    assert args == {"select_labels": ext["targets"]["select"], "pick": ext["targets"]["pick"]}, "selector drifted"

    save_state(written_state(tmp_path))
    monkeypatch.setenv("CHAOSRUNNER_SANDBOX", str(tmp_path))
    config = load_dynamic_configuration(load_configuration(doc["configuration"]))  # what chaos run does
    targets = config["chaosrunner_targets"]
    assert targets and all(all(t.get(k, t["labels"].get(k)) == v for k, v in ext["targets"]["select"].items())
                           for t in targets)
    if ext["targets"]["pick"] != "all":
        assert len(targets) == ext["targets"]["pick"]
    assert chosen_ids(config)  # the drivers now have a target instead of "no target"


@pytest.mark.parametrize("name", WITH_TARGETS)
def test_targets_from_a_var_file_reach_plain_chaos_run(name: str) -> None:
    doc = _doc(name)
    given = [{"id": "pinboard-us-east-a-1", "region": "us-east"}]
    config = load_configuration(doc["configuration"], {"chaosrunner_targets": given})
    assert load_dynamic_configuration(config)["chaosrunner_targets"] == given


def test_every_shipped_experiment_validates_under_both_tools(tmp_path: Path) -> None:
    for path in sorted(SHIPPED.glob("*.yaml")):
        theirs = chaos("validate", str(path), tmp=tmp_path)
        ours = chaosrunner("validate", str(path), tmp=tmp_path)
        assert theirs.returncode == 0, (path.name, theirs.stderr)
        assert ours.returncode == 0, (path.name, ours.stderr)
