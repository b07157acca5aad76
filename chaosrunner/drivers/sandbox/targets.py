"""Targets for plain ``chaos run``: the extension's selector, resolved by the experiment itself.

Under ``chaosrunner run`` the runner resolves the ``targets`` block at preflight (blast radius, locks)
and passes the chosen targets as ``configuration["chaosrunner_targets"]``. Plain ``chaos run`` ignores
the extension, so the shipped sandbox experiments declare ``chaosrunner_targets`` as a Chaos Toolkit
*dynamic configuration* probe calling :func:`resolve_targets` with the same selector: chaos run resolves
it once before the run (method and rollbacks then act on the same target), chaosrunner replaces it with
its own choice, and ``--var-file`` with ``configuration: {chaosrunner_targets: [...]}`` overrides both.
The selector is never empty and never matches the whole estate (the preflight's selector rule), so a
plain ``chaos run`` cannot widen the blast radius beyond what the experiment names.
"""

from __future__ import annotations

from typing import Any

from chaosrunner.drivers.sandbox.state import state_file
from chaosrunner.inventory.base import TargetsSpec, select, selector_problem
from chaosrunner.inventory.sandbox import SandboxInventory


def resolve_targets(
    select_labels: dict[str, Any],
    pick: int | str = 1,
    state: str | None = None,
    configuration: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The chosen sandbox targets as Target dicts (what ``chaosrunner_targets`` holds); raises when the
    selector is refused or matches nothing."""
    spec = TargetsSpec.model_validate({"inventory": "sandbox", "select": select_labels, "pick": pick})
    population = SandboxInventory(state_file(configuration, state)).list_targets()
    problem = selector_problem(spec.select, population)
    if problem is not None:
        raise ValueError(f"refused: {problem}")
    _, chosen = select(population, spec.select, spec.pick)
    if not chosen:
        raise ValueError(f"no sandbox target matches {spec.select}")
    return [t.to_dict() for t in chosen]
