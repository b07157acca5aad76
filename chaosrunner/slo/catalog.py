"""The SLO catalog (``probes/*.yaml``): SLOs, their SLIs as PromQL templates, HTTP health probes, and
how a template is rendered for a scope (the targets, their service, or outside them).

Units: objectives are ratios in [0, 1] (``99.9`` or ``"99.9%"`` in YAML → ``0.999``); windows are seconds.

A latency SLO "p99 < 200 ms" is the same thing as "at most 1 % of requests slower than 200 ms", so
latency SLIs are error ratios too (bad = requests slower than the threshold, from the histogram), and
the same burn-rate maths applies (:mod:`chaosrunner.slo.budget`): objective 99 % ⇔ quantile 0.99.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from chaosrunner.core.units import Duration, Ratio, parse_duration
from chaosrunner.core.validation import InvalidInput, Model, load_document, validate_model

SELECTOR = "{{selector}}"
WINDOW = "{{window}}"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError("must be lower-case letters, digits, '.', '_' or '-' (at most 100)")
    return v


class ErrorRatioSli(Model):
    """Error ratio from two PromQL *rate* templates: ``bad``/``total`` or ``good``/``total``.

    Templates must contain ``{{selector}}`` (inside a label matcher, e.g. ``x{ {{selector}} }`` or
    ``x{code=~"5..", {{selector}}}``) and ``{{window}}`` (a range, e.g. ``rate(x[{{window}}])``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["error_ratio"]
    total: str
    bad: str | None = None
    good: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ErrorRatioSli:
        if (self.bad is None) == (self.good is None):
            raise ValueError("give exactly one of 'bad' or 'good' (with 'total')")
        return self

    @field_validator("total", "bad", "good")
    @classmethod
    def _templated(cls, v: str | None) -> str | None:
        if v is not None:
            _check_template(v)
        return v

    def rate_queries(self) -> tuple[str, str]:
        """(bad-rate template, total-rate template)."""
        bad = self.bad if self.bad is not None else f"({self.total}) - ({self.good})"
        return bad, self.total


class LatencySli(Model):
    """Requests slower than ``threshold`` as a share of all requests, from a Prometheus histogram.

    ``histogram`` is the metric base name (``http_request_duration_seconds``): ``_bucket`` and
    ``_count`` are appended; ``threshold`` must be one of the histogram's bucket bounds (``le``).
    ``quantile`` (e.g. 0.99) is only for display (``histogram_quantile``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["latency"]
    histogram: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    threshold: Duration
    quantile: Ratio | None = None

    @field_validator("threshold")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be a positive duration such as '200ms'")
        return v

    def _le(self) -> str:
        return format(self.threshold, "g")

    def rate_queries(self) -> tuple[str, str]:
        total = f"sum(rate({self.histogram}_count{{{SELECTOR}}}[{WINDOW}]))"
        fast = f'sum(rate({self.histogram}_bucket{{le="{self._le()}",{SELECTOR}}}[{WINDOW}]))'
        return f"({total}) - ({fast})", total

    def quantile_query(self) -> str | None:
        if self.quantile is None:
            return None
        return (
            f"histogram_quantile({self.quantile:g}, sum by (le) "
            f"(rate({self.histogram}_bucket{{{SELECTOR}}}[{WINDOW}])))"
        )


def _check_template(v: str) -> None:
    if SELECTOR not in v:
        raise ValueError(f"must contain the {SELECTOR} placeholder inside a label matcher")
    if WINDOW not in v:
        raise ValueError(f"must contain the {WINDOW} placeholder as the range of rate()")


Sli = Annotated[ErrorRatioSli | LatencySli, Field(discriminator="type")]


class FastSli(Model):
    """A second, faster reading of an error-ratio SLI straight from the services' own counters (Prometheus
    text format), beside Prometheus (docs/slo.md "The fast signal")."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    bad: dict[str, str] = Field(min_length=1)  # label -> regex on the whole value
    url: str = Field(default="{url}/metrics", min_length=1)  # per target from its attrs, or one fixed URL
    timeout: Duration = 0.3

    @field_validator("bad")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for key, pattern in v.items():
            if not _LABEL.match(key):
                raise ValueError(f"{key!r} is not a valid Prometheus label name")
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{key}: {pattern!r} is not a regular expression ({e})") from None
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if not 0.01 <= v <= 5:
            raise ValueError("must be between 10ms and 5s")
        return v


class Slo(Model):
    """One SLO of one service. ``labels`` names the Prometheus labels that carry each scope dimension."""

    model_config = ConfigDict(extra="forbid")

    name: str
    service: str = Field(min_length=1)
    objective: Ratio
    window: Duration = 30 * 86400.0
    description: str = ""
    sli: Sli
    labels: dict[Literal["service", "region", "zone", "instance"], str] = Field(default_factory=dict)
    matchers: dict[str, str] = Field(default_factory=dict)
    # where the SLI is measured: "service" (the service's own metrics, scoped to the run's zones/regions)
    # or "client" (the load balancer, synthetic clients, the clients' own metrics: the whole service as its
    # clients see it, including requests no live server answered). Client readings are judged in scope
    # and are what the RTO is measured on (docs/slo.md, docs/glossary.md).
    vantage: Literal["service", "client"] = "service"
    fast: FastSli | None = None  # error-ratio SLIs only

    @model_validator(mode="after")
    def _fast_needs_error_ratio(self) -> Slo:
        if self.fast is not None and not isinstance(self.sli, ErrorRatioSli):
            raise ValueError("fast: only an error_ratio SLI has a fast reading")
        return self

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        return _name(v)

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("must be above 0% and below 100% (e.g. 99.9)")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v < 60:
            raise ValueError("must be at least 1m (e.g. 30d)")
        return v

    @field_validator("labels")
    @classmethod
    def _label_values(cls, v: dict[str, str]) -> dict[str, str]:
        for key, name in v.items():
            if not _LABEL.match(name):
                raise ValueError(f"{key}: {name!r} is not a valid Prometheus label name")
        return v

    @field_validator("matchers")
    @classmethod
    def _label_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _LABEL.match(key):
                raise ValueError(f"{key!r} is not a valid Prometheus label name")
        return v

    def label(self, dimension: str) -> str:
        """The Prometheus label for a scope dimension (defaults: same name)."""
        return self.labels.get(dimension, dimension)  # type: ignore[call-overload]

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective


class HttpProbe(Model):
    """A fast health probe: GET ``url`` expects ``expect_status`` within ``timeout``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    url: str = Field(pattern=r"^https?://")
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout: Duration = 2.0
    service: str = ""

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        return _name(v)


class CatalogFile(Model):
    model_config = ConfigDict(extra="forbid")

    slos: list[Slo] = Field(default_factory=list)
    probes: list[HttpProbe] = Field(default_factory=list)


@dataclass
class SloCatalog:
    """Every SLO and probe from one or more catalog files, by name (names are unique across files)."""

    slos: dict[str, Slo]
    probes: dict[str, HttpProbe]

    def get(self, name: str) -> Slo:
        try:
            return self.slos[name]
        except KeyError:
            raise KeyError(f"unknown SLO {name!r}; known: {', '.join(sorted(self.slos)) or 'none'}") from None


def parse_catalog(data: Any, file: str | Path) -> CatalogFile:
    """Validate one catalog document; errors name the file and key path; duplicates are refused."""
    cat = validate_model(CatalogFile, data if data is not None else {}, file)
    problems = []
    named: tuple[tuple[str, list[str]], ...] = (
        ("slos", [s.name for s in cat.slos]),
        ("probes", [p.name for p in cat.probes]),
    )
    for kind, names in named:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                problems.append((f"{kind}[{i}].name", f"duplicate name {name!r}"))
            seen.add(name)
    if problems:
        raise InvalidInput(file, problems)
    return cat


def load_catalog(paths: Iterable[str | Path]) -> SloCatalog:
    """Load catalog files and directories (every ``*.yaml``/``*.yml``/``*.json`` in them)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json")))
        else:
            files.append(p)
    slos: dict[str, Slo] = {}
    probes: dict[str, HttpProbe] = {}
    origin: dict[str, Path] = {}
    for f in files:
        cat = parse_catalog(load_document(f), f)
        for i, slo in enumerate(cat.slos):
            if slo.name in slos:
                problem = f"{slo.name!r} already defined in {origin[slo.name]}"
                raise InvalidInput(f, [(f"slos[{i}].name", problem)])
            slos[slo.name] = slo
            origin[slo.name] = f
        for probe in cat.probes:
            probes[probe.name] = probe
    return SloCatalog(slos=slos, probes=probes)


# ----------------------------------------------------------------------------------------- scoping


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


_RE2_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def _regex_alternation(values: Iterable[str]) -> str:
    """An anchored-by-Prometheus RE2 alternation matching exactly these values."""
    return "|".join(_RE2_META.sub(r"\\\1", v) for v in sorted(set(values)))


@dataclass(frozen=True)
class Scope:
    """Where an SLO is measured. ``include``/``exclude`` map a dimension to a set of values.

    ``name`` is ``in`` (the targets' zones/regions of the targeted services), ``service`` (the whole
    service: budget accounting), or ``out:<dimension>`` (the same SLO elsewhere: impact escaped).
    """

    name: str
    include: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def in_scope(self) -> bool:
        return not self.name.startswith("out")


def selector(slo: Slo, scope: Scope) -> str:
    """Comma-joined label matchers (no braces) for ``{{selector}}``: service, extra matchers, scope."""
    parts = [f'{slo.label("service")}="{_escape(slo.service)}"']
    parts += [f'{k}="{_escape(v)}"' for k, v in sorted(slo.matchers.items())]
    for dim, values in scope.include:
        if dim == "service":
            continue
        parts.append(f'{slo.label(dim)}=~"{_escape(_regex_alternation(values))}"')
    for dim, values in scope.exclude:
        if dim == "service":
            parts[0] = f'{slo.label("service")}!~"{_escape(_regex_alternation(values))}"'
        else:
            parts.append(f'{slo.label(dim)}!~"{_escape(_regex_alternation(values))}"')
    return ",".join(parts)


def render(template: str, slo: Slo, scope: Scope, window: str) -> str:
    """Substitute ``{{selector}}`` and ``{{window}}`` (a PromQL duration such as ``5s``)."""
    return template.replace(SELECTOR, selector(slo, scope)).replace(WINDOW, window)


def promql_duration(seconds: float) -> str:
    """Seconds → a PromQL range (``5s``, ``1500ms``, ``30d``); whole units preferred."""
    ms = int(round(seconds * 1000))
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{max(ms, 1)}ms"


def scopes_for(slo: Slo, services: Iterable[str], zones: Iterable[str], regions: Iterable[str],
               *, watch_out_of_scope: bool = True) -> list[Scope]:
    """Pure: the scopes the guard samples for one SLO given what the run touches.

    * The SLO's service is targeted: ``in`` = the touched zones (else regions) of that service;
      out-of-scope = the same service's other zones (or regions); ``service`` = the whole service.
    * The SLO's service is not targeted: the whole SLO is out of scope (``out:service``).
    * A client-vantage SLO of a targeted service: ``in`` = the whole service as its clients see it.
    """
    services, zones, regions = set(services), set(zones) - {""}, set(regions) - {""}
    if slo.service not in services:
        return [Scope("out:service")] if watch_out_of_scope else []
    if slo.vantage == "client":  # clients see the whole service: one reading, in scope, nothing to split
        return [Scope("in")]
    if zones:
        dim, values = "zone", tuple(sorted(zones))
    elif regions:
        dim, values = "region", tuple(sorted(regions))
    else:
        return [Scope("in")]
    out = [Scope("in", include=((dim, values),)), Scope("service")]
    if watch_out_of_scope:
        out.append(Scope(f"out:{dim}", exclude=((dim, values),)))
    return out


def parse_window(value: Any) -> float:
    """Duration → seconds (re-exported so callers need not import units)."""
    return parse_duration(value)


def scope_dimensions(targets: Iterable[Any]) -> tuple[set[str], set[str], set[str]]:
    """(services, zones, regions) touched by targets (Target objects or dicts)."""
    services, zones, regions = set(), set(), set()
    for t in targets:
        get = t.get if isinstance(t, Mapping) else (lambda k, _t=t: getattr(_t, k, ""))
        services.add(str(get("service") or ""))
        zones.add(str(get("zone") or ""))
        regions.add(str(get("region") or ""))
    return services - {""}, zones - {""}, regions - {""}


def catalog_paths(entries: list[str], experiment_path: Path | None) -> list[Path]:
    """Catalog locations: absolute as given; relative ones against the current directory first, then
    against the experiment's directory and its parents (so ``probes`` finds the repo's ``probes/``)."""
    out = []
    for entry in entries:
        p = Path(entry)
        if p.is_absolute() or p.exists() or experiment_path is None:
            out.append(p)
            continue
        for parent in Path(experiment_path).absolute().parents:
            if (parent / p).exists():
                out.append(parent / p)
                break
        else:
            out.append(p)
    return out
