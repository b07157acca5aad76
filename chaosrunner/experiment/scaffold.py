"""``chaosrunner init``: a first experiment and its SLO catalog entries, written from a few answers.

What it writes is a complete, runnable experiment — never a template with blanks: the fault is the
command the user gives (``--inject``), its undo the other (``--undo``, recorded in the ledger as the run's
rollback before anything runs), the guard watches two SLOs written into ``probes/<service>.yaml`` from the
user's metric names, on the user's Prometheus. Both files are validated with the same loaders as
``chaosrunner validate`` and ``chaosrunner slo validate`` before anything is written; existing files are
never overwritten (docs/getting-started.md).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaosrunner.core.units import parse_duration
from chaosrunner.core.validation import InvalidInput
from chaosrunner.experiment.loader import load_experiment
from chaosrunner.slo.catalog import load_catalog

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass
class Answers:
    name: str  # the experiment's file name (lower-case, digits, -)
    service: str
    prometheus: str
    inject: str  # a shell-like command line: the fault
    undo: str  # the command line that reverts it
    target: str | None = None  # the target's id (default: the service)
    zone: str | None = None
    region: str | None = None
    hold: str = "30s"  # how long the fault stays before the rollback
    objective: str = "99.9%"
    requests_metric: str = "http_requests_total"
    code_label: str = "code"
    histogram: str = "http_request_duration_seconds"
    latency_threshold: str = "200ms"
    service_label: str = "service"
    budget_gate: bool = True


def _problems(a: Answers) -> list[tuple[str, str]]:
    out = []
    if not NAME.match(a.name):
        out.append(("name", f"{a.name!r}: lower-case letters, digits and '-', at most 63"))
    if not NAME.match(a.service):
        out.append(("--service", f"{a.service!r}: lower-case letters, digits and '-', at most 63"))
    if not re.match(r"^https?://", a.prometheus):
        out.append(("--prometheus", f"{a.prometheus!r}: an http(s):// URL"))
    for key, cmd in (("--inject", a.inject), ("--undo", a.undo)):
        try:
            if not shlex.split(cmd):
                out.append((key, "an empty command"))
        except ValueError as e:
            out.append((key, f"{cmd!r}: {e}"))
    try:
        parse_duration(a.hold)
    except ValueError as e:
        out.append(("--hold", str(e)))
    return out


def _process(name: str, command: str) -> dict[str, Any]:
    path, *args = shlex.split(command)
    return {"type": "action", "name": name,
            "provider": {"type": "process", "path": path, "arguments": args, "timeout": 60}}


def experiment_doc(a: Answers, catalog_rel: str) -> dict[str, Any]:
    target: dict[str, Any] = {"id": a.target or a.service, "service": a.service, "tier": "non-critical"}
    target.update({k: v for k, v in (("zone", a.zone), ("region", a.region)) if v})
    method = _process("inject-the-fault", a.inject)
    method["pauses"] = {"after": parse_duration(a.hold)}
    return {
        "version": "1.0.0",
        "title": f"{a.name}: a first fault on {a.service}",
        "description": f"Written by `chaosrunner init`. The fault: `{a.inject}`; its undo: `{a.undo}` (run by the "
                       "rollbacks, by the watchdog if this run dies, by `chaosrunner recover`).",
        "tags": [a.service],
        "method": [method],
        "rollbacks": [_process("undo-the-fault", a.undo)],
        "extensions": [{
            "name": "chaosrunner",
            "targets": {"inventory": "static", "static": [target], "select": {"id": target["id"]}, "pick": 1},
            "blast_radius": {"services": [a.service], "max_targets": 1, "max_duration": "5m",
                             "error_budget": "1%"},
            "slo_guard": {
                "slos": [f"{a.service}-availability", f"{a.service}-latency"],
                "catalog": [catalog_rel],
                "prometheus": a.prometheus,
                "interval": "1s",
                "abort_on": {"burn_rate": 14.4, "consecutive": 2},
                **({} if a.budget_gate else {"budget_gate": False}),  # on unless opted out (docs/slo.md)
            },
        }],
    }


def catalog_doc(a: Answers) -> dict[str, Any]:
    labels = {"service": a.service_label} if a.service_label != "service" else {}
    total = f"sum(rate({a.requests_metric}{{ {{{{selector}}}} }}[{{{{window}}}}]))"
    bad = f'sum(rate({a.requests_metric}{{{a.code_label}=~"5..",{{{{selector}}}}}}[{{{{window}}}}]))'
    return {"slos": [
        {"name": f"{a.service}-availability", "description": "Requests answered without a server error.",
         "service": a.service, "objective": a.objective, "window": "30d", **({"labels": labels} if labels else {}),
         "sli": {"type": "error_ratio", "bad": bad, "total": total}},
        {"name": f"{a.service}-latency", "description": f"Requests faster than {a.latency_threshold}.",
         "service": a.service, "objective": "99%", "window": "30d", **({"labels": labels} if labels else {}),
         "sli": {"type": "latency", "histogram": a.histogram, "threshold": a.latency_threshold, "quantile": 0.99}},
    ]}


def _has_slos(path: Path, service: str) -> bool:
    try:
        names = load_catalog([path]).slos
    except InvalidInput:
        return False
    return {f"{service}-availability", f"{service}-latency"} <= set(names)


def scaffold(a: Answers, root: Path) -> tuple[Path, Path]:
    """Write ``root/experiments/<name>.yaml`` and ``root/probes/<service>.yaml``; InvalidInput (nothing
    written) on bad answers, on existing files, or when a written file would not validate."""
    problems = _problems(a)
    exp_path = root / "experiments" / f"{a.name}.yaml"
    cat_path = root / "probes" / f"{a.service}.yaml"
    if exp_path.exists():
        problems.append(("name", f"{exp_path} exists: chaosrunner init never overwrites a file"))
    reuse = cat_path.exists() and not problems and _has_slos(cat_path, a.service)
    if cat_path.exists() and not reuse:
        problems.append(("--service", f"{cat_path} exists without {a.service}-availability and {a.service}-latency: "
                                      "chaosrunner init never overwrites a file"))
    if problems:
        raise InvalidInput("chaosrunner init", problems)
    header = "# Written by `chaosrunner init` — docs/getting-started.md explains every key.\n"
    texts = {exp_path: header + yaml.safe_dump(experiment_doc(a, f"probes/{a.service}.yaml"), sort_keys=False)}
    if not reuse:  # a second experiment on the same service uses the SLOs the first one wrote
        texts[cat_path] = header + yaml.safe_dump(catalog_doc(a), sort_keys=False)
    else:
        texts[cat_path] = cat_path.read_text()
    with tempfile.TemporaryDirectory() as tmp:  # validate exactly what will be written, where it will be
        trial = Path(tmp)
        for path, text in texts.items():
            (trial / path.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (trial / path.relative_to(root)).write_text(text)
        for path, load in ((cat_path, lambda p: load_catalog([p])), (exp_path, load_experiment)):
            try:
                load(trial / path.relative_to(root))
            except InvalidInput as e:  # name the file it would have been, not the trial copy
                raise InvalidInput(path, e.problems) from None
    for path, text in texts.items():
        if path.exists():  # the reused catalog
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never over a file made meanwhile
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return exp_path, cat_path
