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

import hashlib
import logging
import math
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from chaosrunner.core.documents import CONTENT_LIMITS, DocumentRefused, check_numbers, join_path
from chaosrunner.core.storage import ensure_private_dir, state_dir
from chaosrunner.core.units import Duration, parse_duration
from chaosrunner.core.validation import InvalidInput, Model, key_path, load_document, validate_model
from chaosrunner.experiment.spec import EXTENSION_NAME, ChaosrunnerExtension

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Present = Annotated[str, StringConstraints(min_length=1)]  # chaoslib's test: any non-empty string


class Provider(Model):
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


MAX_SOURCE_BYTES = CONTENT_LIMITS.max_bytes  # an experiment fetched from a URL is content like a file
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")  # what chaoslib's string.Template substitutes


def _pause_seconds(value: Any) -> float | str:
    if isinstance(value, str) and _PLACEHOLDER.match(value):
        return value
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        raise ValueError(
            f"chaoslib cannot substitute {value} (placeholder names are letters, digits and _), so the pause "
            "would stay a string and abort the run; Chaos Toolkit's validation lets it through"
        )
    if _pause_problem(value) is None:
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError("must not be negative (chaoslib would fail the run when it sleeps)")
    raise ValueError("must be a number of seconds, or a ${key} configuration placeholder")


def _pause_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a pause (chaoslib passes it to ``time.sleep`` as is), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is {type(value).__name__} {value!r}, not a number of seconds (chaoslib would crash on it mid-run)"
    if not math.isfinite(value):
        return f"is {value}, not a number of seconds (a pause of {value} has no meaning)"
    if value < 0:
        return f"is {value}: a negative pause has no meaning (chaoslib would crash on it mid-run, after injecting)"
    return None


PauseSeconds = Annotated[float | str, BeforeValidator(_pause_seconds)]


class Pauses(Model):
    """Seconds, or a ``${key}`` configuration placeholder that chaoslib substitutes at run time. Other
    keys are kept (Chaos Toolkit ignores them)."""

    model_config = ConfigDict(extra="allow")
    before: PauseSeconds | None = None
    after: PauseSeconds | None = None


class Activity(Model):
    model_config = ConfigDict(extra="allow")

    type: Literal["action", "probe"] | None = None
    name: Present | None = None
    ref: Present | None = None
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


class SteadyStateHypothesis(Model):
    model_config = ConfigDict(extra="allow")
    title: Present
    probes: list[Activity] = Field(default_factory=list)

    @field_validator("probes")
    @classmethod
    def _probes_have_tolerance(cls, probes: list[Activity]) -> list[Activity]:
        for p in probes:
            if p.ref is None and p.model_extra is not None and "tolerance" not in p.model_extra:
                raise ValueError(f"steady-state probe '{p.name}' needs a tolerance")
        return probes


class ExperimentDocument(Model):
    """The Chaos Toolkit experiment's shape (extra keys allowed, as Chaos Toolkit allows them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    title: Present
    description: Present
    tags: list[str] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    steady_state_hypothesis: SteadyStateHypothesis | None = Field(default=None, alias="steady-state-hypothesis")
    method: list[Activity]  # may be empty: a steady-state-only experiment, as chaoslib allows
    rollbacks: list[Activity] = Field(default_factory=list)
    extensions: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    path: Path
    doc: dict[str, Any]  # the plain Chaos Toolkit experiment, exactly what chaoslib runs
    extension: ChaosrunnerExtension
    extension_index: int | None
    source: str | None = None  # the HTTP(S) URL it was fetched from; ``path`` is then the local copy

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
    _refs_resolve(doc, p)
    _chaoslib_validation(doc, p)
    index, ext = _extension(doc, p)
    return Experiment(path=p.absolute(), doc=doc, extension=ext, extension_index=index)


URL_TIMEOUT_S = 10.0
SOURCES_DIR = "sources"  # under the state home: local copies of experiments fetched over HTTP


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def load_experiment_source(source: str, *, verify_tls: bool = True) -> Experiment:
    """A file path or an HTTP(S) URL, as ``chaos run SOURCE`` takes it. A URL is fetched once (at most
    the content size limit, :data:`URL_TIMEOUT_S` seconds) into the
    state home, so the run, its ledger and a later ``recover`` all read the same bytes."""
    if not is_url(source):
        return load_experiment(source)
    local = fetch_source(source, verify_tls=verify_tls)
    exp = load_experiment(local)
    return Experiment(exp.path, exp.doc, exp.extension, exp.extension_index, source=source)


def fetch_source(url: str, *, verify_tls: bool = True, timeout_s: float = URL_TIMEOUT_S) -> Path:
    """Download ``url`` into ``<state home>/sources/<sha256>.<json|yaml>``; InvalidInput on any failure."""
    context = None
    if url.startswith("https://") and not verify_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/yaml, text/yaml, */*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:  # noqa: S310
            body = response.read(MAX_SOURCE_BYTES + 1)
            ctype = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raise InvalidInput(url, [("", f"HTTP {e.code} {e.reason}")]) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise InvalidInput(url, [("", f"cannot fetch: {reason}")]) from None
    if len(body) > MAX_SOURCE_BYTES:
        raise InvalidInput(url, [("", f"larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")])
    path_part = urllib.parse.urlparse(url).path.lower()
    suffix = ".json" if path_part.endswith(".json") or "json" in ctype else ".yaml"
    try:
        folder = ensure_private_dir(state_dir() / SOURCES_DIR)
        local = folder / f"{hashlib.sha256(body).hexdigest()[:32]}{suffix}"
        local.write_bytes(body)
    except OSError as e:
        raise InvalidInput(url, [("", f"cannot keep a local copy in the state home: {e}")]) from None
    return local


def _refs_resolve(doc: dict[str, Any], path: Path) -> None:
    """Every ``ref`` names an activity chaoslib can find at run time: one of the method or the
    steady-state probes (chaoslib caches only those). Chaos Toolkit validates method refs only; an
    unresolvable ref in the rollbacks makes ``chaos run`` crash when it reaches it, after the faults
    are in place, so it is refused here."""
    ssh = doc.get("steady-state-hypothesis") or {}
    known = {
        a.get("name")
        for a in [*(doc.get("method") or []), *(ssh.get("probes") or [] if isinstance(ssh, dict) else [])]
        if isinstance(a, dict) and a.get("name")
    }
    problems = []
    for section in ("method", "rollbacks"):
        for i, activity in enumerate(doc.get(section) or []):
            ref = activity.get("ref") if isinstance(activity, dict) else None
            if isinstance(ref, str) and ref not in known:
                why = (
                    "chaos run would crash at the rollbacks, leaving the faults in place"
                    if section == "rollbacks"
                    else "chaoslib cannot resolve it"
                )
                problems.append((f"{section}[{i}].ref", f"no activity named '{ref}' in the method or the "
                                 f"steady-state probes ({why})"))
    if problems:
        raise InvalidInput(path, problems)


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

    Pauses must then be finite numbers of seconds, 0 or more; the effective configuration must hold no
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


def activity_timeout(
    activity: dict[str, Any], default_s: float, background_default_s: float | None = None
) -> float | None:
    """The wall-clock limit (seconds) chaosrunner enforces on a python activity, or None for http/process
    providers (they carry their own ``timeout``, which chaoslib enforces). A ``background: true``
    activity gets ``background_default_s`` when given (see :class:`~chaosrunner.experiment.spec.Timeouts`)."""
    provider = activity.get("provider") or {}
    if provider.get("type") != "python":
        return None
    own = provider.get("timeout")
    if own is None:
        if activity.get("background") is True and background_default_s is not None:
            return background_default_s
        return default_s

    return parse_duration(own[0] if isinstance(own, list) else own)
