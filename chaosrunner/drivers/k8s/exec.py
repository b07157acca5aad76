"""Run a command in a pod's container and report what really happened: exit code, stdout, stderr.

chaosk8s' ``exec_in_pods`` lets a refused handshake escape as a bare ``ApiException`` (status 0, the
404 buried in its text), reads no stderr, and reports a command still running at its timeout as exit
code 1 with no message. This goes through the same ``kubernetes`` client stream — the same request on
the wire, ``v5.channel.k8s.io`` offered first — but tells these apart, always closes the websocket, and
turns every failure into an :class:`~chaoslib.exceptions.ActivityFailed` that says which pod and why.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

import yaml
from chaoslib.exceptions import ActivityFailed
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

STDOUT, STDERR, STATUS = 1, 2, 3


@dataclass(frozen=True)
class ExecOutcome:
    pod_name: str
    exit_code: int
    stdout: str
    stderr: str
    message: str  # the API's status message ('' on success)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refusal(pod: str, container: str, e: ApiException) -> ActivityFailed:
    """A refused handshake (``Handshake status 404 Not Found -+-+- headers -+-+- b'{Status}'``) → a clear error."""
    text = str(e.reason or e)
    found = re.search(r"Handshake status (\d{3})", text)
    code = found.group(1) if found else str(e.status)
    message = re.search(r'"message":\s*"((?:[^"\\]|\\.)*)"', text)
    if code == "404":
        return ActivityFailed(f"exec in {pod}: the pod was not found (404): it was deleted or never existed")
    detail = message.group(1) if message else text.splitlines()[0][:300]
    return ActivityFailed(f"exec in {pod}/{container} refused ({code}): {detail}")


def run_in_pod(v1: Any, ns: str, pod: str, container: str, cmd: list[str], timeout_s: float = 60.0) -> ExecOutcome:
    """Run ``cmd`` in ``container`` of ``pod``; wait up to ``timeout_s`` seconds for its exit status.

    ActivityFailed when the API refuses the exec (missing pod, unknown container, pod not running) or no
    exit status arrived in time. A non-zero exit is *returned* (the caller decides)."""
    try:
        resp = stream(
            v1.connect_get_namespaced_pod_exec,
            pod,
            ns,
            command=list(cmd),
            container=container,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as e:
        raise _refusal(pod, container, e) from None
    try:
        deadline = time.monotonic() + timeout_s
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=max(deadline - time.monotonic(), 0.0))
        raw_status = resp.read_channel(STATUS)
        stdout, stderr = resp.read_channel(STDOUT), resp.read_channel(STDERR)
    finally:
        resp.close()
    if not raw_status.strip():
        raise ActivityFailed(f"exec in {pod}/{container}: no exit status after {timeout_s:g} s (still running?)")
    status = yaml.safe_load(raw_status)
    if status.get("status") == "Success":
        return ExecOutcome(pod, 0, stdout, stderr, "")
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    if code is None:
        raise ActivityFailed(f"exec in {pod}/{container} failed: {status.get('message') or status}")
    return ExecOutcome(pod, int(code), stdout, stderr, str(status.get("message", "")))
