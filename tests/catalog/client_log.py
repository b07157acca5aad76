"""An RTO measured without chaosrunner: from the load generator's own request log.

The journal's RTO is *fault injected → restored as clients see it*, computed from the guard's samples
(server-side metrics, through Prometheus, as windowed rates). This module measures the same thing from
the other end, with none of that machinery: every request the load generator sent, when its answer came,
whether it succeeded and how long it took (``GET /log``).

At each tick (every ``STEP_S`` from the injection), the clients' SLIs over the trailing guard window:
the error ratio against the availability objective and, when the experiment guards latency, the ratio of
requests slower than the latency threshold against the latency objective. A tick without requests is not
within objective. *Restored* is the first tick after the last bad one; no bad tick at all is "no impact"
(RTO 0). The definitions of the words are in docs/glossary.md; nothing here imports chaosrunner's.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STEP_S = 0.1
AVAILABILITY_OBJECTIVE = 0.999  # probes/sandbox.yaml: pinboard-availability, pinboard-read-availability
LATENCY_OBJECTIVE, LATENCY_THRESHOLD_MS = 0.99, 200.0  # pinboard-latency


@dataclass
class ClientRecovery:
    rto_s: float | None  # None: not restored by the end of the log
    bad_ticks: int
    requests: int
    errors: int


def request_log(loadgen_url: str, since: float) -> list[tuple[float, str, bool, float]]:
    with urllib.request.urlopen(f"{loadgen_url}/log?since={since}", timeout=5) as r:
        rows = json.loads(r.read())["requests"]
    return [(float(t), str(kind), bool(ok), float(ms)) for t, kind, ok, ms in rows]


def injected_at(journal: dict[str, Any]) -> float:
    """Unix time of the first fault the run recorded in its ledger (before it was injected)."""
    cr = journal["chaosrunner"]
    ledger = cr.get("ledger") or []
    times = [e["recorded_at"] for e in ledger if e.get("fault") != "experiment"]  # not the run-level undo
    if not times:
        times = [a["start"] for a in journal["run"] if a["activity"]["type"] == "action"][:1]
    return min(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in times)


def client_recovery(
    log: list[tuple[float, str, bool, float]], t_inj: float, window_s: float, *, latency: bool,
    reads_only: bool = False, allowance: float = 1.0,
) -> ClientRecovery:
    """``allowance`` scales what each objective allows (1.0: exactly the objective; 0.8 stricter, 1.25
    more lenient): a windowed ratio has sampling noise, so a service that sits at its objective reads
    just in or just out depending on where a window falls (2 slow requests of 199 are 1.005 %)."""
    rows = [r for r in log if not reads_only or r[1] == "read"]
    end = max(t for t, *_ in rows)
    bad_ticks, last_bad = 0, None
    t = t_inj
    while t <= end:
        recent = [r for r in rows if t - window_s < r[0] <= t]
        errors = sum(1 for r in recent if not r[2])
        slow = sum(1 for r in recent if r[3] > LATENCY_THRESHOLD_MS)
        bad = (not recent or errors / len(recent) > (1 - AVAILABILITY_OBJECTIVE) * allowance
               or (latency and slow / len(recent) > (1 - LATENCY_OBJECTIVE) * allowance))
        if bad:
            bad_ticks, last_bad = bad_ticks + 1, t
        t += STEP_S
    after = [r for r in rows if r[0] >= t_inj]
    errors = sum(1 for r in after if not r[2])
    if last_bad is None:
        return ClientRecovery(0.0, 0, len(after), errors)
    restored = last_bad + STEP_S
    return ClientRecovery(None if restored > end else round(restored - t_inj, 3), bad_ticks, len(after), errors)
