"""Loading and validating experiments: Chaos Toolkit's format plus the ``chaosrunner`` extension.

Validation happens in three passes, each reporting ``file: key.path: problem``:

1. the document's shape (title, method, activities, providers…) with typed models, so a mistake is
   reported at its key path rather than as a generic chaoslib message;
2. chaoslib's own ``ensure_experiment_is_valid`` (what ``chaos validate`` runs), so anything
   chaosrunner accepts also runs under plain ``chaos run``;
3. the ``extensions: [{name: chaosrunner, ...}]`` block (docs/experiments.md).

Then, once ``--var``/``--var-file`` values are known, :func:`check_substituted` checks the values
chaoslib will substitute into ``${key}`` placeholders that chaosrunner and chaoslib act on (pauses),
so a bad variable is refused before the run starts rather than crashing it after a fault is injected.

Nothing here executes an activity.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from chaosrunner.core.documents import DocumentRefused, check_numbers, join_path
from chaosrunner.core.units import Duration, parse_duration
from chaosrunner.core.validation import InvalidInput, key_path, load_document, validate_model
from chaosrunner.experiment.spec import EXTENSION_NAME, ChaosrunnerExtension

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class Provider(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["python", "http", "process"]
    module: NonEmpty | None = None
    func: NonEmpty | None = None
    url: NonEmpty | None = None
    path: NonEmpty | None = None
    arguments: dict[str, Any] | list[Any] | str | None = None
    timeout: Duration | list[Duration] | None = None

    @model_validator(mode="after")
    def _required_per_type(self) -> Provider:
        need = {"python": ("module", "func"), "http": ("url",), "process": ("path",)}[self.type]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.type} provider needs {' and '.join(missing)}")
        if self.type == "python" and self.arguments is not None and not isinstance(self.arguments, dict):
            raise ValueError("python provider arguments must be a mapping")
        return self


_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
MAX_PAUSE_S = 86400.0  # a pause longer than a day is a typo (ms for s), and holds a fault open that long


def _pause_seconds(value: Any) -> float | str:
    if isinstance(value, str) and _PLACEHOLDER.match(value):
        return value
    if _pause_problem(value) is None:
        return float(value)
    raise ValueError("must be a number of seconds from 0 to 86400, or a ${key} configuration placeholder")


def _pause_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a pause (chaoslib passes it to ``time.sleep`` as is), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is {type(value).__name__} {value!r}, not a number of seconds (chaoslib would crash on it mid-run)"
    if not math.isfinite(value):
        return f"is {value}, not a number of seconds (a pause of {value} has no meaning)"
    if value < 0:
        return f"is {value}: a negative pause has no meaning (chaoslib would crash on it mid-run, after injecting)"
    if value > MAX_PAUSE_S:
        return f"is {value} seconds, over a day (a typo for milliseconds, and it would hold the fault open)"
    return None


PauseSeconds = Annotated[float | str, BeforeValidator(_pause_seconds)]


class Pauses(BaseModel):
    """Seconds, or a ``${key}`` configuration placeholder that chaoslib substitutes at run time."""

    model_config = ConfigDict(extra="forbid")
    before: PauseSeconds | None = None
    after: PauseSeconds | None = None


class Activity(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["action", "probe"] | None = None
    name: NonEmpty | None = None
    ref: NonEmpty | None = None
    provider: Provider | None = None
    pauses: Pauses | None = None
    background: bool = False

    @model_validator(mode="after")
    def _ref_or_full(self) -> Activity:
        if self.ref is None:
            for key in ("type", "name", "provider"):
                if getattr(self, key) is None:
                    raise ValueError(f"an activity needs '{key}' (or a 'ref' to another activity)")
        return self


class SteadyStateHypothesis(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: NonEmpty
    probes: list[Activity] = Field(default_factory=list)

    @field_validator("probes")
    @classmethod
    def _probes_have_tolerance(cls, probes: list[Activity]) -> list[Activity]:
        for p in probes:
            if p.ref is None and p.model_extra is not None and "tolerance" not in p.model_extra:
                raise ValueError(f"steady-state probe '{p.name}' needs a tolerance")
        return probes


class ExperimentDocument(BaseModel):
    """The Chaos Toolkit experiment's shape (extra keys allowed, as Chaos Toolkit allows them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    title: NonEmpty
    description: NonEmpty
    tags: list[str] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    steady_state_hypothesis: SteadyStateHypothesis | None = Field(default=None, alias="steady-state-hypothesis")
    method: list[Activity] = Field(min_length=1)
    rollbacks: list[Activity] = Field(default_factory=list)
    extensions: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    path: Path
    doc: dict[str, Any]  # the plain Chaos Toolkit experiment, exactly what chaoslib runs
    extension: ChaosrunnerExtension
    extension_index: int | None

    @property
    def title(self) -> str:
        return str(self.doc.get("title", self.path.stem))


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment file; raises :class:`InvalidInput` naming the file and key."""
    p = Path(path)
    doc = load_document(p)
    if not isinstance(doc, dict):
        raise InvalidInput(p, [("", "an experiment must be a mapping with title, description and method")])
    validate_model(ExperimentDocument, doc, p)
    _chaoslib_validation(doc, p)
    index, ext = _extension(doc, p)
    return Experiment(path=p.absolute(), doc=doc, extension=ext, extension_index=index)


def _chaoslib_validation(doc: dict[str, Any], path: Path) -> None:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    logging.getLogger("chaostoolkit").setLevel(logging.WARNING)
    try:
        ensure_experiment_is_valid(doc)
    except ChaosException as e:
        raise InvalidInput(path, [("", f"Chaos Toolkit validation: {e}")]) from None
    except Exception as e:  # chaoslib may stumble on inputs its own checks did not anticipate
        raise InvalidInput(path, [("", f"Chaos Toolkit validation failed: {type(e).__name__}: {e}")]) from None


def _extension(doc: dict[str, Any], path: Path) -> tuple[int | None, ChaosrunnerExtension]:
    found = [(i, e) for i, e in enumerate(doc.get("extensions") or []) if e.get("name") == EXTENSION_NAME]
    if len(found) > 1:
        raise InvalidInput(path, [(f"extensions[{found[1][0]}]", "only one chaosrunner extension is allowed")])
    if not found:
        return None, ChaosrunnerExtension()
    index, raw = found[0]
    return index, validate_model(ChaosrunnerExtension, raw, path, prefix=("extensions", index))


def check_substituted(doc: dict[str, Any], variables: Mapping[str, Any], source: str | Path) -> None:
    """Check the values that ``${key}`` placeholders become once ``variables`` (``--var``/``--var-file``,
    overriding the experiment's ``configuration``) are substituted, as chaoslib will substitute them.

    Pauses must then be numbers of seconds from 0 to 86400; the effective configuration must hold no
    NaN or infinity (the fault ledger and journal are strict JSON). Raises :class:`InvalidInput` naming
    ``source`` and the key (``method[1].pauses.after``), before anything runs. Executes nothing:
    configuration values chaoslib would fetch by running a probe are refused where a pause needs them.
    """
    configuration = effective_configuration(doc, variables, source)
    problems: list[tuple[str, str]] = []
    for loc, pauses in _pauses(doc):
        for when in ("before", "after"):
            raw = pauses.get(when)
            if not (isinstance(raw, str) and "${" in raw):
                continue  # literal pauses were checked when the experiment was loaded
            value = _substitute(raw, configuration)
            if isinstance(value, dict) and value.get("type") == "probe":
                problem: str | None = "comes from a probe that chaoslib runs at start; a pause must be known beforehand"
            elif isinstance(value, str) and "${" in value:
                problem = "is not set: no such key in configuration, --var or --var-file"
            else:
                problem = _pause_problem(value)
            if problem is not None:
                problems.append((key_path([*loc, "pauses", when]), f"{raw} {problem}"))
    if problems:
        raise InvalidInput(source, problems)


def effective_configuration(doc: dict[str, Any], variables: Mapping[str, Any], source: str | Path) -> dict[str, Any]:
    """The configuration chaoslib will run with: the experiment's, environment-typed keys read, and
    ``variables`` over it (chaosrunner adds them after chaoslib loaded the experiment's). Dynamic
    (probe-typed) values are left as their declarations: nothing is executed here."""
    # chaoslib is imported here, as in _chaoslib_validation: `chaosrunner validate` without vars,
    # and everything that only imports the models, stays free of its import cost.
    from chaoslib.configuration import load_configuration
    from chaoslib.exceptions import ChaosException

    declared = doc.get("configuration") or {}
    try:
        configuration = dict(load_configuration(declared, dict(variables)))  # it pops from the dict it gets
    except ChaosException as e:
        raise InvalidInput(source, [("configuration", str(e))]) from None
    except (TypeError, ValueError) as e:  # env_var_type conversions of what the environment holds
        raise InvalidInput(source, [("configuration", f"cannot be loaded: {e}")]) from None
    configuration.update(variables)
    try:
        check_numbers(configuration)
    except DocumentRefused as e:
        raise InvalidInput(source, [(join_path("configuration", e.key), e.message)]) from None
    return configuration


def _substitute(raw: str, configuration: Mapping[str, Any]) -> Any:
    from chaoslib import substitute  # see effective_configuration

    return substitute(raw, dict(configuration), {})


def _pauses(doc: dict[str, Any]) -> Iterator[tuple[list[str | int], dict[str, Any]]]:
    """``(key path of the activity, its pauses)`` for every activity chaoslib may run."""
    ssh = doc.get("steady-state-hypothesis")
    sections: list[tuple[list[str | int], Any]] = [
        (["steady-state-hypothesis", "probes"], ssh.get("probes") if isinstance(ssh, dict) else None),
        (["method"], doc.get("method")),
        (["rollbacks"], doc.get("rollbacks")),
    ]
    for prefix, activities in sections:
        for i, activity in enumerate(activities or []):
            if isinstance(activity, dict) and isinstance(activity.get("pauses"), dict):
                yield [*prefix, i], activity["pauses"]


def activity_timeout(activity: dict[str, Any], default_s: float) -> float | None:
    """The wall-clock limit (seconds) chaosrunner enforces on a python activity, or None for http/process
    providers (they carry their own ``timeout``, which chaoslib enforces)."""
    provider = activity.get("provider") or {}
    if provider.get("type") != "python":
        return None
    own = provider.get("timeout")
    if own is None:
        return default_s

    return parse_duration(own[0] if isinstance(own, list) else own)
