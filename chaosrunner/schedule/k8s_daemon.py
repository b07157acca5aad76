"""The scheduler daemon on Kubernetes: ``chaosrunner schedule export CAL --format k8s-daemon``.

Four manifests, each validated against the official client's API models (:func:`validate_manifest`):

* **ConfigMap** ``<name>-calendar`` — the calendar file. It is mounted over the calendar's path inside the
  image (``subPath``), so the experiments it names resolve as in the repository; edit the ConfigMap and
  roll the Deployment to change the week.
* **Deployment** ``<name>`` — ``replicas`` daemons (default 2) sharing the PostgreSQL job store, which elects
  one leader through an advisory lock (docs/calendar.md, HA); standbys take over when the leader's
  connection dies. Every pod mounts the same ReadWriteMany claim as its state home and journal store as
  the CronJob export does, so one ``halt`` reaches every run. The store URL comes from the Secret's
  ``CHAOSRUNNER_STORE_URL`` key; every other key of the Secret becomes the environment (cloud credentials,
  ``CHAOSRUNNER_WEBHOOK_URL``, …). ``/metrics`` on port 9464 is the liveness probe.
* **Service** ``<name>-metrics`` — the daemons' ``/metrics`` for Prometheus.

The Secret itself is not exported (it holds credentials): create it with ``kubectl create secret generic``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaosrunner.calendar.model import Calendar
from chaosrunner.schedule.export import POD_STATE_HOME, STATE_CLAIM, Export, dump_yaml, k8s_name

METRICS_PORT = 9464
STORE_KEY = "CHAOSRUNNER_STORE_URL"


def to_daemon(calendar: Calendar, *, image: str, namespace: str = "default", workdir: str = "/app",
              base: Path | None = None, secret: str = "chaosrunner", replicas: int = 2,
              service_account: str | None = None, state_claim: str = STATE_CLAIM,
              program: list[str] | None = None) -> tuple[list[dict[str, Any]], Export]:
    assert calendar.path is not None, "the daemon export needs a calendar loaded from a file"
    path = Path(calendar.path).resolve()
    rel = path.relative_to((base or Path.cwd()).resolve()).as_posix()
    name = k8s_name(f"chaosrunner-{calendar.name}")
    labels = {"app.kubernetes.io/name": "chaosrunner", "app.kubernetes.io/component": "scheduler",
              "chaosrunner.io/calendar": k8s_name(calendar.name)}
    cal_in_pod = f"{workdir.rstrip('/')}/{rel}"
    command = [*(program or ["chaosrunner"]), "scheduler", "start", cal_in_pod, "--store", f"$({STORE_KEY})",
               "--ha-group", name, "--metrics-port", str(METRICS_PORT), "--metrics-address", "0.0.0.0"]
    grace = int(calendar.defaults.term_grace) + 30  # runs roll back within term_grace; the daemon then exits
    pod: dict[str, Any] = {
        "terminationGracePeriodSeconds": grace,
        "containers": [{
            "name": "scheduler",
            "image": image,
            "workingDir": workdir,
            "command": command,
            "env": [{"name": "CHAOSRUNNER_HOME", "value": POD_STATE_HOME},
                    {"name": "CHAOSRUNNER_JOURNALS", "value": f"{POD_STATE_HOME}/journals"},
                    {"name": STORE_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": STORE_KEY}}}],
            "envFrom": [{"secretRef": {"name": secret}}],
            "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
            "livenessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 10,
                              "timeoutSeconds": 3, "failureThreshold": 6},
            "volumeMounts": [{"name": "chaosrunner-state", "mountPath": POD_STATE_HOME},
                             {"name": "calendar", "mountPath": cal_in_pod, "subPath": path.name,
                              "readOnly": True}],
        }],
        "volumes": [{"name": "chaosrunner-state", "persistentVolumeClaim": {"claimName": state_claim}},
                    {"name": "calendar", "configMap": {"name": f"{name}-calendar"}}],
    }
    if service_account:
        pod["serviceAccountName"] = service_account
    meta = {"namespace": namespace, "labels": labels}
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-calendar", **meta},
         "data": {path.name: path.read_text()}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, **meta},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "strategy": {"type": "Recreate"},  # never two generations of daemons racing for the lock
                  "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-metrics", **meta},
         "spec": {"selector": labels, "ports": [{"name": "metrics", "port": METRICS_PORT,
                                                  "targetPort": "metrics"}]}},
    ]
    out = Export(dump_yaml(docs), exported=[e.name for e in calendar.entries if e.enabled])
    return docs, out
