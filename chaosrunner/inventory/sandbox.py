"""``inventory: sandbox``: the instances of the local sandbox, read from its state file.

The state file is the one ``sandbox up`` writes (schema and loader: :mod:`chaosrunner.sandbox.state`).
Where it is: ``targets.options.state`` (path, relative to the current directory), else
``$CHAOSRUNNER_SANDBOX/state.json``, else ``./.sandbox/state.json``. A missing or malformed file is
bad input naming the file (and the key).
"""

from __future__ import annotations

from pathlib import Path

from chaosrunner.inventory.base import Target, TargetsSpec
from chaosrunner.sandbox.state import SandboxState, load_state, state_path
from chaosrunner.sandbox.topology import CDN_SERVICE

_TARGET_FIELDS = {"id", "service", "region", "zone", "tier", "labels"}


def targets_from_state(state: SandboxState) -> list[Target]:
    """Pure: one Target per sandbox instance, then one per CDN edge; everything else goes to ``attrs``.

    ``region_type`` (Full / Read-Only / Lightweight) is also a label, so it can be selected on. A CDN edge
    is a target of service ``pinboard-cdn`` in no region, its own zone (a CDN is another provider's
    failure domain), labelled ``kind: cdn-edge``, ``vendor`` and ``role`` (primary | secondary).
    """
    out = []
    for inst in state.instances:
        labels = {"region_type": inst.region_type} if inst.region_type else {}
        labels.update(inst.labels)
        out.append(
            Target(
                id=inst.id,
                service=inst.service,
                region=inst.region,
                zone=inst.zone,
                tier=inst.tier,
                labels=labels,
                attrs=inst.model_dump(mode="json", exclude=_TARGET_FIELDS),
            )
        )
    for edge in state.cdn.edges if state.cdn else []:
        out.append(Target(id=edge.id, service=CDN_SERVICE, region="", zone=edge.id, tier="critical",
                          labels={"kind": "cdn-edge", "vendor": edge.vendor, "role": edge.role},
                          attrs=edge.model_dump(mode="json", exclude={"id"})))
    return out


class SandboxInventory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def list_targets(self) -> list[Target]:
        return targets_from_state(load_state(self.path))


def from_spec(spec: TargetsSpec, experiment_path: Path | None = None) -> SandboxInventory:
    return SandboxInventory(state_path(spec.options.get("state")))
