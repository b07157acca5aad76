"""Friday: regional failover — take the Full region out, the router fails over to the Read-Only region.

"Out" = every instance proxy of the region is disabled through the Toxiproxy API (its listener closes:
connections are refused, as when a region's network is gone). HAProxy marks the servers DOWN after two
failed 500 ms checks and sends everything to the Read-Only region (its ``backup`` servers): reads continue
from the standby, writes answer 503 at once with ``region eu-west is read-only``.

Restore deadline: disabling a proxy has no expiry in the Toxiproxy API (and a ``reset_peer`` toxic, which
could expire, let health checks through now and then: the servers flapped). So the cut runs under a
detached restorer (:mod:`chaosrunner.drivers.sandbox.cut`) that re-enables the proxies after
``restore_deadline_s`` even if the runner and its watchdog are gone; :func:`restore_region` stops it.

The router's ``backup`` servers are every region that is not Full: with the Full region out, the Read-Only
region serves reads from its standby and refuses writes, and the Lightweight region serves reads and
writes over its link to the Full region's database (which stays up: the region's serving tier is what
goes out). What each type can take over is :mod:`chaosrunner.core.regions`.

Figures (seconds, ratios in [0, 1]): ``read_rto_s`` — fault → the first of ``stable_reads`` consecutive
successful reads through the router (0 when no read ever failed); ``read_success_ratio`` and
``requests_served_ratio`` (reads and writes answered < 500) over the measured window, from our own
probe requests; ``write_fail_p50_ms`` / ``write_fail_p99_ms`` — latency of the writes the Read-Only region refused (fail
fast, not a timeout; the p99 includes writes caught in HAProxy's ~1 s detection window, whose connection
retries wait HAProxy's 1 s turn-around timer before landing on the Read-Only region);
``write_error`` — the message clients got; ``writes_taken_over`` — writes the Lightweight region
accepted in the Full region's place. The rollback reports ``time_to_return_s``: restore → every
Full-region server UP and a write acknowledged through the router.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaosrunner.drivers.sandbox import cut
from chaosrunner.drivers.sandbox.state import TIMEOUT_S, http_request, load_state, state_file
from chaosrunner.sandbox.control import haproxy_servers, http_json
from chaosrunner.sandbox.loadgen import percentile
from chaosrunner.sandbox.state import Instance, SandboxState

FAULT = "sandbox-region-out"
POLL_S = 0.05


def _region_instances(st: SandboxState, region: str | None, configuration: dict[str, Any] | None) -> list[Instance]:
    """The instances of the region to take out: ``region``, else the chosen targets' (one region only)."""
    if region is None:
        regions = {str(t.get("region")) for t in (configuration or {}).get("chaosrunner_targets") or []}
        if len(regions) != 1:
            raise ValueError(f"take out exactly one region; targets span {sorted(regions) or 'none'}")
        region = regions.pop()
    out = [i for i in st.instances if i.region == region]
    if not out:
        raise ValueError(f"no sandbox instance in region {region!r}")
    return out


MARK = "region-out"


def take_region_out(
    region: str | None = None,
    restore_deadline_s: float = 120.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Disable every instance proxy of the region (one ledger entry per proxy) under a restore deadline."""
    st = load_state(configuration, state)
    insts = _region_instances(st, region, configuration)
    mark = cut.cut(st, str(state_file(configuration, state)), MARK, FAULT, [i.proxy for i in insts],
                   restore_deadline_s, __name__, "restore_region", {"region": insts[0].region})
    return {"region": insts[0].region, "proxies": mark["proxies"], "restorer_pid": mark["restorer"]}


def measure_failover(
    duration_s: float = 8.0,
    stable_reads: int = 10,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Alternate reads and writes through the router for ``duration_s`` seconds while the region is out."""

    st = load_state(configuration, state)
    out_at = cut.read_marker(st, MARK)["out_at"]
    acked = http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]
    pin = acked[0] if acked else 1
    base = st.haproxy.url
    reads: list[tuple[float, bool]] = []
    writes: list[tuple[int, float, str]] = []
    deadline = time.monotonic() + duration_s
    i = 0
    while time.monotonic() < deadline:
        write = i % 4 == 3
        code, secs, msg = http_request(f"{base}/pins" if write else f"{base}/pins/{pin}", write)
        if write:
            writes.append((code, secs, msg))
        else:
            reads.append((time.time(), code < 500))
        i += 1
        time.sleep(POLL_S)
    return {"chaosrunner_figures": failover_figures(out_at, reads, writes, stable_reads, percentile)}


def failover_figures(out_at: float, reads: list[tuple[float, bool]], writes: list[tuple[int, float, str]],
                     stable_reads: int, percentile: Any) -> dict[str, Any]:
    """Pure: read RTO (s), shares served, write failure latency (ms) from timed probe outcomes."""
    rto = None
    last_fail = None
    run = 0
    for t, ok in reads:
        if ok:
            run += 1
            if run >= stable_reads and rto is None:
                rto = 0.0 if last_fail is None else max(0.0, last_fail - out_at)
        else:
            run, last_fail, rto = 0, t, None
    served = sum(1 for _, ok in reads if ok) + sum(1 for c, _, _ in writes if c < 500)
    failed_writes = [w for w in writes if w[0] >= 500]
    refused = [w for w in failed_writes if "read-only" in w[2]] or failed_writes
    refused_ms = [w[1] * 1000.0 for w in refused]
    p50, p99 = percentile(refused_ms, 50), percentile(refused_ms, 99)
    return {
        "read_rto_s": None if rto is None else round(rto, 3),
        "read_success_ratio": round(sum(1 for _, ok in reads if ok) / len(reads), 4) if reads else None,
        "requests_served_ratio": round(served / (len(reads) + len(writes)), 4) if reads or writes else None,
        "writes_refused": len(failed_writes),
        "writes_taken_over": sum(1 for c, _, _ in writes if c < 500),  # by a Lightweight region, over its link
        "write_fail_p50_ms": None if p50 is None else round(p50, 2),
        "write_fail_p99_ms": None if p99 is None else round(p99, 2),
        "write_error": refused[-1][2][:200] if refused else None,
    }


def restore_region(
    proxies: list[str] | None = None,
    region: str | None = None,
    timeout_s: float = 30.0,
    mark: str = MARK,
    figure: str = "time_to_return_s",
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo (idempotent): enable the proxies (default: every instance proxy), stop the restorer, wait for
    every Full-region server UP and a write acknowledged through the router.
    Figure ``time_to_return_s`` (seconds from the restore)."""

    st = load_state(configuration, state)
    names = proxies or [i.proxy for i in st.instances]
    started = time.monotonic()
    cut.heal(st, [mark], names)
    # Wait only for the servers behind the proxies restored here: the fault has one ledger entry per
    # proxy, and recovery undoes them one by one (waiting for the whole region deadlocked each undo).
    full = {i.id for i in st.instances if i.region_type == "Full" and i.proxy in names}
    deadline = time.monotonic() + timeout_s
    while True:
        status = haproxy_servers(st.haproxy.stats_socket, st.haproxy.backend)
        if all(status.get(s) == "UP" for s in full) and http_request(f"{st.haproxy.url}/pins", True)[0] == 201:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"Full region not back within {timeout_s:g}s: {status}")
        time.sleep(POLL_S)
    cut.settled(st, [mark], FAULT, names)
    return {"restored": names, "chaosrunner_figures": {figure: round(time.monotonic() - started, 3)}}


def region_serves_reads(
    region_type: str = "Read-Only",
    concurrency: int = 3,
    warm_up_s: float = 15.0,
    settle_s: float = 7.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> bool:
    """Steady-state probe: every instance of the standby region serves reads straight (not via HAProxy).

    A standby region that has served nothing yet has cold database pools: the first second of a failover
    then answered 503 while they connected (measured: 20 % read errors in that region) — a warm standby
    is part of the steady state a regional failover relies on. So this probe warms each instance: rounds
    of ``concurrency`` parallel reads (opening that many pooled connections) until a round succeeds
    entirely, for at most ``warm_up_s`` seconds. True when every instance ended warm.

    A warm-up read that failed is counted by that instance's metrics like any other: so when one did,
    the probe waits ``settle_s`` seconds after it (longer than the guard's 5 s window plus a scrape), or
    the guard would start the run by blaming the Read-Only region for the warm-up's own errors.
    """
    st = load_state(configuration, state)
    acked = http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]
    pin = acked[0] if acked else 1
    urls = [f"{i.url}/pins/{pin}" for i in st.instances if i.region_type == region_type]
    deadline = time.monotonic() + warm_up_s
    cold = list(urls)
    last_error: float | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while cold and time.monotonic() < deadline:
            url = cold[0]
            codes = list(pool.map(lambda u: http_request(u, False)[0], [url] * max(1, concurrency)))
            if all(c < 500 for c in codes):
                cold.pop(0)
            else:
                last_error = time.monotonic()
                time.sleep(0.2)
    if last_error is not None:
        time.sleep(max(0.0, last_error + settle_s - time.monotonic()))
    return bool(urls) and not cold
