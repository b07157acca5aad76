"""Export a calendar to crontab lines or Kubernetes CronJobs, for teams whose engine is cron/Kubernetes.

Both call ``chaosrunner run EXP --trigger schedule --calendar CAL --entry NAME [--var k=v]``: the
runner's preflight re-checks the calendar window at run time, so holidays, blackouts, peak hours,
restricted windows and the kill switch are honoured even though cron only knows minute/hour/day.

What cannot be exported is reported, not silently dropped:

* monkey entries (random instants planned each morning: they need the daemon);
* ``every`` entries that are not whole minutes dividing an hour, or whole hours dividing a day.

Crontab: ``CRON_TZ=<zone>`` (cronie/Vixie extension) heads the file so lines fire in the calendar's
zone; ``%`` is escaped. Kubernetes: ``batch/v1`` CronJob with ``timeZone`` (GA since 1.27),
``concurrencyPolicy: Forbid`` (one run per entry at a time), ``startingDeadlineSeconds`` (the misfire
policy: a missed start younger than this runs once; ``skip`` → 60 s), ``backoffLimit: 0`` (a chaos run
is never retried), ``activeDeadlineSeconds`` = the entry's hard timeout + grace.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.calendar.cron import crontab_trigger
from chaosrunner.calendar.model import Calendar
from chaosrunner.calendar.parts import WEEKDAYS, Entry
from chaosrunner.core.storage import journal_dir, state_dir

DOW_NUM = {d: str((i + 1) % 7) for i, d in enumerate(WEEKDAYS)}  # cron: 0 = Sunday
K8S_NAME_MAX = 52  # CronJob names: the controller appends 11 characters to Job names


@dataclass
class Export:
    text: str
    exported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, why)


STATE_CLAIM = "chaosrunner-state"  # the ReadWriteMany claim CronJob pods share as their state home
POD_STATE_HOME = "/var/lib/chaosrunner"


def cron_expression(entry: Entry) -> str:
    """The 5-field crontab schedule of an entry; ValueError when it has none (monkey, odd intervals)."""
    if entry.kind == "cron":
        assert entry.cron is not None
        return entry.cron
    if entry.kind == "at":
        assert entry.at is not None and entry.days is not None
        days = ",".join(DOW_NUM[d] for d in WEEKDAYS if d in entry.days)
        return f"{entry.at.minute} {entry.at.hour} * * {days}"
    if entry.kind == "every":
        assert entry.every is not None
        s = int(entry.every)
        days = "*" if entry.days is None else ",".join(DOW_NUM[d] for d in WEEKDAYS if d in entry.days)
        if s == entry.every and s % 60 == 0 and s < 3600 and 3600 % s == 0:
            return f"*/{s // 60} * * * {days}" if s > 60 else f"* * * * {days}"
        if s == entry.every and s % 3600 == 0 and s < 86400 and 86400 % s == 0:
            return f"0 */{s // 3600} * * {days}"
        raise ValueError(f"every {entry.every:g}s is not expressible in cron (whole minutes dividing an hour, "
                         "or whole hours dividing a day)")
    raise ValueError("monkey entries plan random kill times each morning: run them with `chaosrunner scheduler "
                     "start`")


def run_argv(calendar: Calendar, entry: Entry, *, program: list[str], base: Path | None,
             calendar_ref: str | None = None) -> list[str]:
    """``chaosrunner run ...`` for an entry. Paths are made relative to ``base`` when given (the
    container's working directory for Kubernetes), else absolute."""
    exp = calendar.experiment_path(entry)
    cal = calendar.path
    assert cal is not None

    def ref(p: Path) -> str:
        if base is not None:
            try:
                return str(p.resolve().relative_to(base.resolve()))
            except ValueError:
                return str(p)
        return str(p)

    argv = [*program, "run", ref(exp), "--trigger", "schedule", "--calendar", calendar_ref or ref(cal),
            "--entry", entry.name]
    for k, v in entry.configuration.items():
        argv += ["--var", f"{k}={_scalar(v)}"]
    return argv


def exportable(calendar: Calendar, out: Export) -> Iterator[tuple[Entry, str | None]]:
    """Enabled entries with their cron expression; None (and a line in ``out.skipped``) for an entry that
    has none (a monkey entry plans its kills at run time)."""
    for e in calendar.entries:
        if not e.enabled:
            continue
        try:
            yield e, cron_expression(e)
        except ValueError as err:
            out.skipped.append((e.name, str(err)))
            yield e, None


def to_crontab(calendar: Calendar, *, program: list[str], workdir: Path | None = None,
               log_dir: Path | None = None, state_home: Path | None = None,
               journals: Path | None = None) -> Export:
    """Crontab text: a header, ``CRON_TZ``, the state home and journal store spelled out (cron's
    environment is not the shell's: a ``halt`` must reach these runs), one line per exportable entry."""
    out = Export("")
    lines = [f"# chaosrunner calendar {calendar.name!r} from {calendar.path}",
             "# The runner re-checks the calendar window (holidays, blackouts, peak, freeze, kill switch).",
             f"CRON_TZ={calendar.timezone}",
             f"CHAOSRUNNER_HOME={state_home or state_dir()}",
             f"CHAOSRUNNER_JOURNALS={journals or journal_dir()}"]
    for e, expr in exportable(calendar, out):
        if expr is None:
            lines.append(f"# {e.name}: not exported: {dict(out.skipped)[e.name]}")
            continue
        cmd = " ".join(shlex.quote(a) for a in run_argv(calendar, e, program=program, base=None))
        if workdir is not None:
            cmd = f"cd {shlex.quote(str(workdir))} && {cmd}"
        if log_dir is not None:
            cmd += f" >> {shlex.quote(str(log_dir / (e.name + '.log')))} 2>&1"
        lines.append(f"# {e.name}: {e.description or e.experiment}")
        lines.append(f"{expr} {cmd.replace('%', chr(92) + '%')}")
        out.exported.append(e.name)
    out.text = "\n".join(lines) + "\n"
    return out


def k8s_name(text: str) -> str:
    """A DNS-1123 label of at most 52 characters (CronJob name limit)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name[:K8S_NAME_MAX].rstrip("-")) or "chaosrunner"


def to_cronjobs(calendar: Calendar, *, image: str, namespace: str = "default", workdir: str = "/app",
                base: Path | None = None, program: list[str] | None = None,
                service_account: str | None = None,
                state_claim: str = STATE_CLAIM, secret: str = "chaosrunner") -> tuple[list[dict[str, Any]], Export]:
    """One ``batch/v1`` CronJob per exportable entry. ``base`` is the host directory that becomes
    ``workdir`` in the image (experiment and calendar paths are written relative to it).

    Every pod mounts the PersistentVolumeClaim ``state_claim`` (ReadWriteMany) as its state home and
    journal store: one kill switch, one ledger, one set of target locks for every pod, so a ``halt`` run
    in any of them (or on a host that mounts the same volume) reaches every run, and journals outlive pods.
    Every key of the Secret ``secret`` (optional: the pods start without it) becomes the environment: cloud
    credentials, ``CHAOSRUNNER_FLEET`` (one kill switch and target locks with every other host: docs/safety.md),
    ``CHAOSRUNNER_WEBHOOK_URL`` and the rest."""
    program = program or ["chaosrunner"]
    docs: list[dict[str, Any]] = []
    out = Export("")
    for e, expr in exportable(calendar, out):
        if expr is None:
            continue
        misfire = calendar.entry_misfire(e)
        deadline = int(calendar.defaults.misfire_grace) if misfire == "run_once" else 60
        active = int(calendar.entry_timeout(e) + calendar.defaults.term_grace)
        pod_spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": int(calendar.defaults.term_grace),
            "containers": [{
                "name": "chaosrunner",
                "image": image,
                "workingDir": workdir,
                "command": run_argv(calendar, e, program=program, base=base),
                "env": [{"name": "CHAOSRUNNER_HOME", "value": POD_STATE_HOME},
                        {"name": "CHAOSRUNNER_JOURNALS", "value": f"{POD_STATE_HOME}/journals"}],
                "envFrom": [{"secretRef": {"name": secret, "optional": True}}],
                "volumeMounts": [{"name": "chaosrunner-state", "mountPath": POD_STATE_HOME}],
            }],
            "volumes": [{"name": "chaosrunner-state", "persistentVolumeClaim": {"claimName": state_claim}}],
        }
        if service_account:
            pod_spec["serviceAccountName"] = service_account
        labels = {"app.kubernetes.io/name": "chaosrunner", "chaosrunner.io/calendar": k8s_name(calendar.name),
                  "chaosrunner.io/entry": e.name}
        docs.append({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": k8s_name(f"chaos-{e.name}"), "namespace": namespace, "labels": labels},
            "spec": {
                "schedule": expr,
                "timeZone": calendar.timezone,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": deadline,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": active,
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                    },
                },
            },
        })
        out.exported.append(e.name)
    out.text = dump_yaml(docs)
    return docs, out


MODELS = {"CronJob": "V1CronJob", "Deployment": "V1Deployment", "ConfigMap": "V1ConfigMap", "Service": "V1Service"}


def validate_manifest(doc: dict[str, Any]) -> list[str]:
    """Problems with a manifest we export, checked against the Kubernetes API models of the official
    ``kubernetes`` Python client: the document is deserialised into its model (``V1CronJob``,
    ``V1Deployment``, ``V1ConfigMap``, ``V1Service``: required fields and enums are checked by the models)
    and serialised back; any field that does not survive the round trip is unknown to the API (a typo, a
    wrong level). CronJobs also get the rules the API server applies that the models do not
    (:func:`validate_cronjob`)."""
    import json

    from kubernetes.client import ApiClient

    model = MODELS.get(str(doc.get("kind")))
    if model is None:
        return [f"kind {doc.get('kind')!r} is not one chaosrunner exports"]
    client = ApiClient()
    try:
        obj = client.deserialize(json.dumps(doc), model, "application/json")
    except (ValueError, TypeError) as e:
        return [f"not a valid {model}: {e}"]
    back = client.sanitize_for_serialization(obj)
    return [f"unknown or mistyped field: {p}" for p in _diff(doc, back, "")]


def validate_cronjob(doc: dict[str, Any]) -> list[str]:
    """:func:`validate_manifest` plus the rules the API server applies to a CronJob that the models do not:
    DNS-1123 name ≤ 52, a parseable 5-field schedule, an IANA ``timeZone``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problems = validate_manifest({**doc, "kind": "CronJob"})
    if any(p.startswith("not a valid") for p in problems):
        return problems
    name = doc.get("metadata", {}).get("name", "")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > K8S_NAME_MAX:
        problems.append(f"metadata.name {name!r} is not a DNS-1123 label of at most {K8S_NAME_MAX} characters")
    spec = doc.get("spec", {})
    try:
        crontab_trigger(str(spec.get("schedule", "")), "UTC")
    except ValueError as e:
        problems.append(f"spec.schedule: {e}")
    try:
        ZoneInfo(spec.get("timeZone", ""))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"spec.timeZone {spec.get('timeZone')!r} is not an IANA zone")
    if spec.get("concurrencyPolicy") not in ("Allow", "Forbid", "Replace"):
        problems.append("spec.concurrencyPolicy must be Allow, Forbid or Replace")
    return problems


def dump_yaml(docs: list[dict[str, Any]]) -> str:
    """Multi-document YAML without anchors/aliases (kubectl accepts them, humans stumble on them); multi-line
    strings as literal blocks."""
    import yaml

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def block(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:  # a file in a ConfigMap stays readable
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    NoAliases.add_representer(str, block)

    return yaml.dump_all(docs, Dumper=NoAliases, sort_keys=False, allow_unicode=True) if docs else ""


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return [path or "."]
        out = []
        for k, v in a.items():
            if k not in b:
                out.append(f"{path}.{k}".lstrip("."))
            else:
                out += _diff(v, b[k], f"{path}.{k}".lstrip("."))
        return out
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return [path]
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def _scalar(v: Any) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v)
