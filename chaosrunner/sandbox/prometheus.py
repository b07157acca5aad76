"""A real Prometheus 2.42 server for the sandbox and the tests: config, fresh TSDB, 127.0.0.1 port.

Why a launcher: Prometheus is ready in ~40 ms, but its first scrape lands 5–6 s after start (target
discovery is throttled to 5 s). Callers must wait for ``up == 1`` of the job they need
(:meth:`PrometheusServer.wait_for_up`), never sleep blindly. Each server gets a fresh TSDB directory,
because samples from an earlier run linger for 5 minutes and would pollute rates.

Usage::

    prom = PrometheusServer(root=tmp_path / "prom", jobs={"svc": ["127.0.0.1:8081"]}).start()
    try:
        prom.wait_for_up("svc", timeout=20)
        ... prom.url ...
    finally:
        prom.stop()

``jobs`` maps a job name to ``host:port`` targets, or to a list of dicts ``{"targets": [...],
"labels": {...}}`` (static_configs with labels: service/region/zone/instance labels the SLO selectors use).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from chaosrunner.core.ports import LOOPBACK, free_port
from chaosrunner.sandbox.processes import ManagedProcess

PROMETHEUS_BIN = "prometheus"
HTTP_TIMEOUT_S = 2.0

StaticConfig = Mapping[str, Any]
JobTargets = Sequence[str] | Sequence[StaticConfig]


def render_config(
    jobs: Mapping[str, JobTargets],
    *,
    scrape_interval_s: float = 1.0,
    evaluation_interval_s: float = 1.0,
    rule_files: Sequence[str] = (),
) -> dict[str, Any]:
    """Pure: the prometheus.yml document for ``jobs`` (scrape timeout = interval, at most 10 s)."""
    scrape_configs = []
    for job, targets in jobs.items():
        statics: list[dict[str, Any]] = []
        plain = [t for t in targets if isinstance(t, str)]
        if plain:
            statics.append({"targets": list(plain)})
        for t in targets:
            if not isinstance(t, str):
                entry: dict[str, Any] = {"targets": list(t["targets"])}
                if t.get("labels"):
                    entry["labels"] = {str(k): str(v) for k, v in t["labels"].items()}
                statics.append(entry)
        scrape_configs.append({"job_name": job, "static_configs": statics})
    interval = _prom_duration(scrape_interval_s)
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": _prom_duration(min(scrape_interval_s, 10.0)),
            "evaluation_interval": _prom_duration(evaluation_interval_s),
        },
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs,
    }


def _prom_duration(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class PrometheusServer:
    """One Prometheus process on 127.0.0.1 with its own config and fresh TSDB under ``root``."""

    def __init__(
        self,
        root: Path,
        jobs: Mapping[str, JobTargets],
        *,
        port: int | None = None,
        scrape_interval_s: float = 1.0,
        retention: str = "1d",
        binary: str = PROMETHEUS_BIN,
    ) -> None:
        self.root = Path(root).absolute()
        self.jobs = dict(jobs)
        self.port = port or free_port()
        self.scrape_interval_s = scrape_interval_s
        self.retention = retention
        self.binary = binary
        self.config_path = self.root / "prometheus.yml"
        self.data_dir = self.root / "data"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        doc = render_config(self.jobs, scrape_interval_s=self.scrape_interval_s)
        self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    def start(self, ready_timeout_s: float = 15.0) -> PrometheusServer:
        """Start with a fresh TSDB and wait until ``/-/ready`` answers; raises RuntimeError otherwise."""
        if shutil.which(self.binary) is None:
            raise RuntimeError(f"{self.binary} is not installed (apt-get install prometheus)")
        self.write_config()
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        self.process = ManagedProcess(
            name="prometheus",
            argv=[
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            log_path=self.root / "prometheus.log",
        ).start()
        try:
            self.wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                tail = self.process.log_tail() if self.process else ""
                raise RuntimeError(f"prometheus exited during start:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT_S) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready after {timeout_s:.1f}s on {self.url}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query over HTTP (2 s timeout) → the ``result`` vector; raises on API errors."""
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=HTTP_TIMEOUT_S) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus query failed: {body.get('error')}")
        return list(body["data"]["result"])

    def wait_for_up(self, job: str, timeout: float = 20.0, count: int | None = None) -> None:
        """Poll until ``up{job=...} == 1`` for every target of ``job`` (or at least ``count`` of them).

        The first scrape lands 5–6 s after start; with many targets a few more seconds. TimeoutError
        after ``timeout`` seconds, naming how many targets were up.
        """
        want = count if count is not None else self._target_count(job)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            try:
                res = self.query(f'up{{job="{job}"}} == 1')
                seen = len(res)
                if seen >= max(want, 1):
                    return
            except (urllib.error.URLError, OSError, RuntimeError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"job {job!r}: {seen}/{want} targets up after {timeout:.1f}s")

    def _target_count(self, job: str) -> int:
        n = 0
        for t in self.jobs.get(job, []):
            n += 1 if isinstance(t, str) else len(t["targets"])
        return n

    def reload(self, jobs: Mapping[str, JobTargets] | None = None) -> None:
        """Rewrite the config (optionally with new jobs) and POST ``/-/reload``."""
        if jobs is not None:
            self.jobs = dict(jobs)
        self.write_config()
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S):
            pass

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.process is not None:
            self.process.stop(timeout_s)

    def kill(self) -> None:
        """SIGKILL the server (tests use it to make SLO data disappear mid-run)."""
        if self.process is not None and self.process.proc is not None:
            self.process.proc.kill()
            self.process.proc.wait(timeout=5)
