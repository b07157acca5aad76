"""Exported crontab lines parse; exported CronJobs validate as Kubernetes objects."""

from __future__ import annotations

import copy
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from chaosrunner.calendar.cron import crontab_trigger
from chaosrunner.calendar.model import load_calendar
from chaosrunner.calendar.triggers import iter_fires
from chaosrunner.core.storage import journal_dir, state_dir
from chaosrunner.schedule.export import cron_expression, k8s_name, to_cronjobs, to_crontab, validate_cronjob

REPO = Path(__file__).resolve().parents[2]
WEEKLY = REPO / "schedules" / "weekly.yaml"


@pytest.fixture
def weekly():  # noqa: ANN201
    return load_calendar(WEEKLY, check_files=False)


def crontab_jobs(text: str) -> tuple[dict[str, str], list[tuple[str, list[str]]]]:
    """Parse crontab text: environment lines and (schedule, argv) job lines."""
    env, jobs = {}, []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if "=" in line.split()[0]:
            k, v = line.split("=", 1)
            env[k] = v
            continue
        fields = line.split(None, 5)
        jobs.append((" ".join(fields[:5]), shlex.split(fields[5])))
    return env, jobs


def test_crontab_lines_parse_and_fire_at_the_calendar_times(weekly) -> None:  # noqa: ANN001
    out = to_crontab(weekly, program=[sys.executable, "-m", "chaosrunner"])
    env, jobs = crontab_jobs(out.text)
    assert env == {"CRON_TZ": "America/Los_Angeles", "CHAOSRUNNER_HOME": str(state_dir()),
                   "CHAOSRUNNER_JOURNALS": str(journal_dir())}  # cron's environment is not the shell's
    assert len(jobs) == 4 and out.exported == ["tue-latency", "wed-resource-starvation", "thu-database-failover",
                                               "fri-regional-failover"]
    assert [name for name, _ in out.skipped] == ["mon-chaos-monkey"]
    zone = ZoneInfo(env["CRON_TZ"])
    start, end = datetime(2026, 6, 1, tzinfo=zone), datetime(2026, 6, 8, tzinfo=zone)
    for (expr, argv), name in zip(jobs, out.exported, strict=True):
        trig = crontab_trigger(expr, zone)  # raises on a bad line
        cron_fires = list(iter_fires(weekly, weekly.entry(name), start, end, trigger=trig))
        assert cron_fires == list(iter_fires(weekly, weekly.entry(name), start, end))
        assert argv[argv.index("run") + 1].endswith(".yaml")
        assert argv[argv.index("--trigger") + 1] == "schedule"
        assert argv[argv.index("--calendar") + 1] == str(WEEKLY)
        assert argv[argv.index("--entry") + 1] == name
    assert "latency_ms=20" in jobs[0][1]


def test_percent_signs_are_escaped_for_cron(write_calendar) -> None:  # noqa: ANN001
    cal = load_calendar(write_calendar({"timezone": "UTC", "entries": [
        {"name": "e", "cron": "0 10 * * 1", "configuration": {"share": "50%"}}]}))
    line = [x for x in to_crontab(cal, program=["chaosrunner"]).text.splitlines() if x.startswith("0 10")][0]
    assert "share=50\\%" in line


def test_every_entries_export_when_cron_can_express_them(write_calendar) -> None:  # noqa: ANN001
    cal = load_calendar(write_calendar({"timezone": "UTC", "entries": [
        {"name": "a", "every": "15m"}, {"name": "b", "every": "6h"}, {"name": "c", "every": "7m"},
        {"name": "d", "every": "45s"}]}))
    assert cron_expression(cal.entry("a")) == "*/15 * * * *"
    assert cron_expression(cal.entry("b")) == "0 */6 * * *"
    out = to_crontab(cal, program=["chaosrunner"])
    assert [n for n, _ in out.skipped] == ["c", "d"]


def test_cronjobs_validate_as_kubernetes_objects(weekly) -> None:  # noqa: ANN001
    docs, out = to_cronjobs(weekly, image="registry.example/chaosrunner:1.0", base=REPO)
    assert len(docs) == 4 and [n for n, _ in out.skipped] == ["mon-chaos-monkey"]
    parsed = list(yaml.safe_load_all(out.text))
    assert parsed == docs
    for doc in parsed:
        assert validate_cronjob(doc) == [], doc["metadata"]["name"]
        spec = doc["spec"]
        assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "CronJob"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["timeZone"] == "America/Los_Angeles"
        assert spec["startingDeadlineSeconds"] > 0
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] == 0
        cmd = job["template"]["spec"]["containers"][0]["command"]
        assert cmd[:2] == ["chaosrunner", "run"] and cmd[2].startswith("experiments/sandbox/")
        assert cmd[cmd.index("--calendar") + 1] == "schedules/weekly.yaml"
    fri = next(d for d in docs if d["metadata"]["name"] == "chaos-fri-regional-failover")
    assert fri["spec"]["startingDeadlineSeconds"] == 60  # misfire: skip


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d["spec"].update(concurencyPolicy="Forbid"), "unknown or mistyped field: spec.concurencyPolicy"),
    (lambda d: d["spec"].pop("jobTemplate"), "not a valid V1CronJob"),
    (lambda d: d["spec"].update(startingDeadlineSeconds="soon"), "not a valid V1CronJob"),
    (lambda d: d["spec"].update(schedule="61 * * * *"), "spec.schedule"),
    (lambda d: d["spec"].update(timeZone="Mars/Base"), "spec.timeZone"),
    (lambda d: d["metadata"].update(name="Not_A_Name"), "DNS-1123"),
    (lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].pop("name"),
     "not a valid V1CronJob"),
])
def test_cronjob_validation_catches_broken_manifests(weekly, mutate, problem) -> None:  # noqa: ANN001
    docs, _ = to_cronjobs(weekly, image="x")
    doc = copy.deepcopy(docs[0])
    mutate(doc)
    problems = validate_cronjob(doc)
    assert any(problem in p for p in problems), problems


def test_k8s_names_are_dns_labels() -> None:
    assert k8s_name("chaos-Tue_Latency!!") == "chaos-tue-latency"
    assert len(k8s_name("x" * 80)) == 52


def test_cli_export_both_formats(write_calendar, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_calendar({"timezone": "Europe/Berlin", "entries": [{"name": "e", "day": "mon", "at": "10:00"}]})
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "export", str(path), "--format", "cron"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "CRON_TZ=Europe/Berlin" in r.stdout and "\n0 10 * * 1 " in r.stdout
    out = tmp_path / "jobs.yaml"
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "export", str(path), "--format", "k8s",
                        "-o", str(out), "--image", "img:1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (doc,) = yaml.safe_load_all(out.read_text())
    assert validate_cronjob(doc) == []
    r = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "export", str(path), "--format", "xml"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2


def test_cronjob_pods_share_one_state_home_and_journal_store(weekly) -> None:  # noqa: ANN001
    """Without a shared home every pod had its own kill switch that `halt` could never reach, and its
    journals died with it: every pod mounts the same claim as its state home and journal store."""
    docs, _ = to_cronjobs(weekly, image="registry.example/chaosrunner:1", state_claim="chaos-state")
    for doc in docs:
        assert validate_cronjob(doc) == []
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"CHAOSRUNNER_HOME": "/var/lib/chaosrunner",
                       "CHAOSRUNNER_JOURNALS": "/var/lib/chaosrunner/journals"}
        assert container["volumeMounts"] == [{"name": "chaosrunner-state", "mountPath": "/var/lib/chaosrunner"}]
        assert pod["volumes"] == [{"name": "chaosrunner-state", "persistentVolumeClaim": {"claimName": "chaos-state"}}]
        # the Secret's keys are the environment: CHAOSRUNNER_FLEET joins every pod to the fleet's kill switch
        assert container["envFrom"] == [{"secretRef": {"name": "chaosrunner", "optional": True}}]


def test_the_daemon_exports_as_kubernetes_objects_that_run_the_real_command(weekly) -> None:  # noqa: ANN001
    """ConfigMap (the calendar), Deployment (HA daemons on the PostgreSQL store, the shared state claim,
    /metrics as liveness), Service — each valid for the API models, and the container's command is one our
    own CLI accepts (mapped back to this repository: what the image holds at /app)."""
    from click.testing import CliRunner

    from chaosrunner.cli import app
    from chaosrunner.schedule.export import validate_manifest
    from chaosrunner.schedule.k8s_daemon import STORE_KEY, to_daemon

    docs, out = to_daemon(weekly, image="registry.example/chaosrunner:1.0", base=REPO, secret="chaos-creds")
    assert list(yaml.safe_load_all(out.text)) == docs
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service"]
    for doc in docs:
        assert validate_manifest(doc) == [], doc["kind"]
    cm, dep, svc = docs
    assert cm["data"] == {"weekly.yaml": WEEKLY.read_text()}
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["type"] == "Recreate"
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/var/lib/chaosrunner", "/app/schedules/weekly.yaml"}
    assert next(v for v in pod["volumes"] if v["name"] == "calendar")["configMap"]["name"] == cm["metadata"]["name"]
    assert c["command"][c["command"].index("--store") + 1] == f"$({STORE_KEY})"
    assert {"name": STORE_KEY, "valueFrom": {"secretKeyRef": {"name": "chaos-creds", "key": STORE_KEY}}} in c["env"]
    assert pod["terminationGracePeriodSeconds"] > int(weekly.defaults.term_grace)
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    argv = [a.replace("/app/", f"{REPO}/").replace(f"$({STORE_KEY})", "sqlite:///x.db") for a in c["command"][1:]]
    r = CliRunner().invoke(app, [*argv, "--help"])
    assert r.exit_code == 0 and "--metrics-port" in r.stdout, r.stdout
    broken = copy.deepcopy(dep)
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert validate_manifest(broken) == ["unknown or mistyped field: spec.template.spec.containers[0].livenesProbe"]


def test_the_image_recipe_copies_what_the_manifests_run() -> None:
    """No container runtime here to build it: what can drift is checked — every COPY source exists, the
    package is installed before the content, the working directory and state home are the manifests'."""
    from chaosrunner.schedule.export import POD_STATE_HOME

    lines = [x.strip() for x in (REPO / "deploy" / "docker" / "Dockerfile").read_text().splitlines()]
    copies = [x.split()[1:-1] for x in lines if x.startswith("COPY ")]
    assert copies and all((REPO / src).exists() for srcs in copies for src in srcs), copies
    assert "WORKDIR /app" in lines and f"ENV CHAOSRUNNER_HOME={POD_STATE_HOME} \\" in lines
    calendar = load_calendar(WEEKLY, check_files=False)
    for e in calendar.entries:  # the week's experiments are inside the copied directories
        assert (WEEKLY.parent / e.experiment).resolve().relative_to(REPO).parts[0] in {s for c in copies for s in c}


@pytest.mark.parametrize("unit", ["chaosrunner-reaper.service", "chaosrunner-scheduler.service"])
def test_the_systemd_units_run_commands_our_cli_accepts(unit: str) -> None:
    """No systemd here to load them: what can drift is checked — ExecStart is a command line our own CLI
    parses (paths and ${VARS} mapped to this repository), the state home is the manifests', stop signals
    only the daemon (runs roll back in their own sessions) and waits longer than the calendar's term_grace."""
    from click.testing import CliRunner

    from chaosrunner.cli import app
    from chaosrunner.schedule.export import POD_STATE_HOME

    text = (REPO / "deploy" / "systemd" / unit).read_text()
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert keys["Environment"] == f"CHAOSRUNNER_HOME={POD_STATE_HOME}" and keys["KillMode"] == "process"
    argv = shlex.split(keys["ExecStart"])
    assert argv[0] == "/usr/local/bin/chaosrunner"
    args = [a.replace("${CHAOSRUNNER_STORE_URL}", "sqlite:///x.db") for a in argv[1:]]
    args = [str(REPO / a) if a.endswith(".yaml") else a for a in args]
    r = CliRunner().invoke(app, [*args, "--help"])
    assert r.exit_code == 0, r.output
    if "TimeoutStopSec" in keys:
        grace = load_calendar(WEEKLY, check_files=False).defaults.term_grace
        assert int(keys["TimeoutStopSec"]) > grace
