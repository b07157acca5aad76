"""CDN outage: one edge of the sandbox's CDN tier goes dark; the steering layer must switch to the other.

"Dark" = the fault-proxy path between the steering layer and the edge is cut (:mod:`.cut`: connections
refused and dropped, under a restore deadline with a detached restorer). The steering layer (HAProxy,
``backup`` secondary) marks the edge DOWN after three failed 1 s health checks and sends every fetch to
the secondary edge, whose cache is cold; when the edge comes back it takes over again after two good
checks.

Figures come from the clients' own record (the load generator's ``/cdn/log``: every image fetch with the
edge that answered, HIT/MISS and the outcome), not from the steering layer's view of itself:

* ``switch_time_s`` — fault → the first of ``stable`` consecutive successful fetches answered by another
  edge (the practice's target: 30 s);
* ``cdn_success_ratio_during`` — share of fetches served (status < 500) from the fault to the window's end;
* ``cdn_failed_fetches`` — how many were not;
* ``hit_ratio_before`` (10 s before the fault) and ``hit_ratio_during`` (after the switch): the cold
  secondary's cost; ``hit_ratio_after`` (:func:`cdn_hit_ratio`) once the primary is back;
* ``time_to_return_s`` (the undo) — heal → every edge UP at the steering layer and the primary answering.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from chaosrunner.drivers.sandbox import cut
from chaosrunner.drivers.sandbox.state import TIMEOUT_S, chosen_ids, load_state, ratio_reaching, state_file
from chaosrunner.sandbox.control import haproxy_servers, http_json
from chaosrunner.sandbox.state import Cdn, SandboxState

FAULT = "sandbox-cdn-edge-dark"
MARK = "cdn-dark-"  # one cut per edge: cdn-dark-<edge>
POLL_S = 0.1
BEFORE_S = 10.0


def _cdn(st: SandboxState) -> Cdn:
    if st.cdn is None:
        raise RuntimeError(f"the sandbox at {st.root} has no CDN tier: `chaosrunner sandbox down` then `up`")
    return st.cdn


def serving_edge(st: SandboxState) -> str | None:
    """The edge the steering layer sends fetches to now: the primary while it is UP, else an UP one."""
    cdn = _cdn(st)
    return cdn.serving(haproxy_servers(cdn.stats_socket, cdn.backend))


def edge_goes_dark(
    edge: str | None = None,
    restore_deadline_s: float = 120.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Cut the steering layer's path to ``edge`` (default: the chosen target, else the serving edge)."""
    st = load_state(configuration, state)
    cdn = _cdn(st)
    if edge is None:
        targets = (configuration or {}).get("chaosrunner_targets")
        edge = chosen_ids(configuration)[0] if targets else serving_edge(st)
    if edge is None:
        raise RuntimeError("no CDN edge is serving: nothing to take dark")
    proxy = cdn.edge(edge).proxy
    mark = cut.cut(st, str(state_file(configuration, state)), MARK + edge, FAULT, [proxy], restore_deadline_s,
                   __name__, "restore_edge", {"edge": edge})
    return {"edge": edge, "proxies": mark["proxies"], "restorer_pid": mark["restorer"]}


def switch_figures(out_at: float, rows: list[list[Any]], dark: set[str], stable: int) -> dict[str, Any]:
    """Pure: the figures above from fetches ``[t, edge, cache, ok, ms]`` (t: unix seconds, answered)."""
    before = [r for r in rows if out_at - BEFORE_S <= r[0] < out_at and r[3]]
    during = [r for r in rows if r[0] >= out_at]
    switched_at, run = None, 0
    for i, r in enumerate(during):
        if r[3] and r[1] not in dark | {"none"}:
            run += 1
            if run == stable:
                switched_at = during[i - stable + 1][0]
                break
        else:
            run = 0
    after_switch = [r for r in during if switched_at is not None and r[0] >= switched_at and r[3]]

    def hits(rs: list[list[Any]]) -> float | None:
        return round(sum(1 for r in rs if r[2] == "HIT") / len(rs), 4) if rs else None

    return {
        "switch_time_s": None if switched_at is None else round(max(0.0, switched_at - out_at), 3),
        "cdn_success_ratio_during": round(sum(1 for r in during if r[3]) / len(during), 4) if during else None,
        "cdn_failed_fetches": sum(1 for r in during if not r[3]),
        "hit_ratio_before": hits(before),
        "hit_ratio_during": hits(after_switch),
        "served_by_after_switch": sorted({r[1] for r in after_switch}),
    }


def measure_cdn_switch(
    duration_s: float = 15.0,
    stable: int = 10,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Wait until ``duration_s`` seconds after the first edge went dark, then read the clients' fetch log."""
    st = load_state(configuration, state)
    marks = [cut.read_marker(st, m) for m in cut.live_marks(st, MARK)]
    if not marks:
        raise RuntimeError(f"no CDN edge is dark in {st.root}: nothing to measure")
    out_at = min(m["out_at"] for m in marks)
    dark = {str(m["edge"]) for m in marks}
    time.sleep(max(0.0, out_at + duration_s - time.time()))
    rows = http_json(f"{st.loadgen.url}/cdn/log?since={out_at - BEFORE_S}", timeout_s=TIMEOUT_S)["requests"]
    figures = switch_figures(out_at, rows, dark, stable)
    return {"dark": sorted(dark), "served_by_after_switch": figures.pop("served_by_after_switch"),
            "chaosrunner_figures": figures}


def _fetch_edge(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/images/0", timeout=TIMEOUT_S) as r:
            r.read()
            return str(r.headers.get("X-Edge") or "")
    except (urllib.error.URLError, OSError):
        return None


def restore_edge(
    proxies: list[str] | None = None,
    timeout_s: float = 30.0,
    mark: str | None = None,
    figure: str = "time_to_return_s",
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo (idempotent): re-enable the edges' paths (default: every edge), wait for those edges UP at the
    steering layer and a fetch answered (by the primary, when it is among them). Figure ``time_to_return_s``."""
    st = load_state(configuration, state)
    cdn = _cdn(st)
    names = proxies or [e.proxy for e in cdn.edges]
    marks = [mark] if mark else cut.live_marks(st, MARK)
    started = time.monotonic()
    cut.heal(st, marks, names)
    # wait only for the edges restored here: recovery undoes a two-edge fault one ledger entry at a time
    back = [e for e in cdn.edges if e.proxy in names]
    primary = next((e.id for e in back if e.role == "primary"), None)
    deadline = started + timeout_s
    while True:
        status = haproxy_servers(cdn.stats_socket, cdn.backend)
        answered = _fetch_edge(cdn.url)
        if all(status.get(e.id) == "UP" for e in back) and answered and answered == (primary or answered):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CDN edges not back within {timeout_s:g}s: {status}")
        time.sleep(POLL_S)
    cut.settled(st, marks, FAULT, names)
    return {"restored": names, "chaosrunner_figures": {figure: round(time.monotonic() - started, 3)}}


def cdn_hit_ratio(
    window_s: float = 5.0,
    wait_s: float = 0.0,
    figure: str = "hit_ratio_after",
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Probe: after ``wait_s`` seconds, the clients' cache hit ratio over the last ``window_s`` seconds."""
    st = load_state(configuration, state)
    time.sleep(max(0.0, wait_s))
    body = http_json(f"{st.loadgen.url}/cdn?window={window_s:g}", timeout_s=TIMEOUT_S)
    return {"by_edge": body.get("by_edge"), "chaosrunner_figures": {figure: body.get("hit_ratio")}}


def cdn_success_ratio(
    window_s: float = 5.0,
    wait_s: float = 0.0,
    min_ratio: float = 0.99,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> float:
    """Steady-state probe: the share of the clients' image fetches served over the last ``window_s`` seconds,
    polling (at most ``wait_s`` seconds) until it reaches ``min_ratio``; 0.0 when nothing was fetched."""
    st = load_state(configuration, state)
    return ratio_reaching(lambda: http_json(f"{st.loadgen.url}/cdn?window={window_s:g}", timeout_s=TIMEOUT_S)
                          .get("success_ratio"), wait_s, min_ratio)
