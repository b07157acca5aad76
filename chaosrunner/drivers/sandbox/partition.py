"""Network partition: cut every fault-proxy path between two sides of the sandbox, in both directions.

A side is a region (``us-east``, ``eu-west``, ``ap-south``), ``app`` (the service's instances as database
clients), ``database`` (both nodes), a node (``pg-a``, ``pg-b``) or ``primary`` (the node that is primary
now, read live). The paths cut are the proxies whose ``between`` (in the state file) names both sides:

* ``[us-east, eu-west]`` — the replication links: the standby stops receiving WAL (both directions, so a
  failed-over estate is cut the same way); both regions keep serving, the Read-Only one from a standby
  that falls behind;
* ``[ap-south, us-east]`` — the Lightweight region's link to the Full region's database;
* ``[app, primary]`` — every app instance's path to the primary: writes fail everywhere, reads fall back
  to the standby (Full and Lightweight regions) or never needed the primary (Read-Only).

The cut is :mod:`.cut` (ledger first, detached restorer, marker ``partition-<a>-<b>``). While it lasts,
:func:`measure_partition` sends reads and writes straight to one instance of every region (what degrades,
what keeps serving) and watches the database: ``writable_primaries_max`` must stay 1 (no split brain).
:func:`heal_partition` (the undo) re-enables the paths and waits for **full restoration** — a standby
streaming and caught up with the primary, a write acknowledged through the router, the clients served
again — and reports ``restoration_s`` (the practice's target: 5 min). :func:`no_split_brain` is the
steady-state check: one writable primary, and every write the clients had acknowledged is on it.
"""

from __future__ import annotations

import time
from typing import Any

from chaosrunner.drivers.sandbox import cut
from chaosrunner.drivers.sandbox.state import (
    TIMEOUT_S,
    database_nodes,
    database_roles,
    http_request,
    load_state,
    loadgen_stats,
    state_file,
    streaming_standbys,
)
from chaosrunner.sandbox.control import http_json
from chaosrunner.sandbox.state import SandboxState

FAULT = "sandbox-partition"
POLL_S = 0.25


def _sides(st: SandboxState, between: list[str]) -> list[str]:
    if len(between) != 2 or between[0] == between[1]:
        raise ValueError(f"a partition has two different sides, not {between}")
    out = []
    for side in between:
        if side == "primary":
            roles = database_roles(st)
            primaries = [n for n, r in roles.items() if r == "primary"]
            if len(primaries) != 1:
                raise RuntimeError(f"no single primary to partition from: {roles}")
            side = primaries[0]
        out.append(side)
    return out


def paths_between(st: SandboxState, between: list[str]) -> list[str]:
    """The proxies a partition between the two sides cuts; ValueError naming the sides when none."""
    a, b = _sides(st, between)
    names = [p.name for p in st.proxies if a in p.between and b in p.between]
    if not names:
        sides = sorted({s for p in st.proxies for s in p.between})
        raise ValueError(f"no path between {a!r} and {b!r} (sides: {sides}, or 'primary')")
    return names


def _mark(between: list[str]) -> str:
    return "partition-" + "-".join(between)


def partition(
    between: list[str],
    restore_deadline_s: float = 300.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Cut every path between the two sides (one ledger entry per path) under a restore deadline."""
    st = load_state(configuration, state)
    names = paths_between(st, between)
    mark = cut.cut(st, str(state_file(configuration, state)), _mark(between), FAULT, names, restore_deadline_s,
                   __name__, "heal_partition", {"between": between})
    return {"between": between, "proxies": names, "restorer_pid": mark["restorer"]}


def _database_view(st: SandboxState) -> dict[str, Any]:
    """Writable primaries now, the primary (when there is one) and the standby's replay lag behind it
    (bytes; None if unknown)."""
    nodes = {n.name: n for n in database_nodes(st)}
    roles = database_roles(st)
    primaries = [n for n, r in roles.items() if r == "primary"]
    lag = None
    if len(primaries) == 1:
        standby = next((nodes[n] for n, r in roles.items() if r == "standby"), None)
        if standby is not None:
            try:
                head = nodes[primaries[0]].execute("SELECT pg_current_wal_lsn()::text")[0][0]
                diff = standby.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())", (head,))
                lag = int(str(diff[0][0]))
            except Exception:  # noqa: BLE001 - a node unreachable: the lag is unknown, said as None
                lag = None
    return {"writable_primaries": len(primaries), "lag_bytes": lag,
            "primary": nodes[primaries[0]] if len(primaries) == 1 else None}


def measure_partition(
    duration_s: float = 10.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """For ``duration_s`` seconds: a read and a write (not to a Read-Only region: it refuses them by design)
    straight to one instance of each region in turn, and the database's writable primaries and replication
    lag. Figures: ``reads_served_<region>`` and ``writes_served_<region>`` (ratios),
    ``writable_primaries_max``, ``replication_lag_bytes_max``."""
    st = load_state(configuration, state)
    acked = http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]
    pin = acked[-1] if acked else 1
    regions = list(dict.fromkeys(i.region for i in st.instances))
    by_region = {r: [i for i in st.instances if i.region == r] for r in regions}
    reads: dict[str, list[bool]] = {r: [] for r in regions}
    writes: dict[str, list[bool]] = {r: [] for r in regions}
    primaries, lags = [], []
    deadline = time.monotonic() + duration_s
    turn = 0
    while time.monotonic() < deadline:
        for r in regions:
            inst = by_region[r][turn % len(by_region[r])]
            reads[r].append(http_request(f"{inst.url}/pins/{pin}", False)[0] < 500)
            if inst.region_type != "Read-Only":  # refuses writes by design, partition or not
                writes[r].append(http_request(f"{inst.url}/pins", True)[0] < 500)
        view = _database_view(st)
        primaries.append(view["writable_primaries"])
        if view["lag_bytes"] is not None:
            lags.append(view["lag_bytes"])
        turn += 1
        time.sleep(POLL_S)
    figures: dict[str, Any] = {}
    for r in regions:
        key = r.replace("-", "_")
        figures[f"reads_served_{key}"] = round(sum(reads[r]) / len(reads[r]), 3) if reads[r] else None
        if writes[r]:
            figures[f"writes_served_{key}"] = round(sum(writes[r]) / len(writes[r]), 3)
    figures["writable_primaries_max"] = max(primaries, default=None)
    figures["replication_lag_bytes_max"] = max(lags, default=None)
    return {"chaosrunner_figures": figures}


def heal_partition(
    proxies: list[str] | None = None,
    mark: str | None = None,
    timeout_s: float = 300.0,
    figure: str = "restoration_s",
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo (idempotent): re-enable the paths (default: every path a partition can cut) and wait for full
    restoration; figure ``restoration_s`` (seconds from the heal), ``acked_writes_lost``."""
    st = load_state(configuration, state)
    names = proxies or [p.name for p in st.proxies if p.kind in ("database", "replication", "link")]
    marks = [mark] if mark else cut.live_marks(st, "partition-")
    started = time.monotonic()
    cut.heal(st, marks, names)
    deadline = started + timeout_s
    while not _restored(st):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not restored within {timeout_s:g}s after the partition healed: "
                               f"{_database_view(st)}")
        time.sleep(POLL_S)
    restoration = round(time.monotonic() - started, 3)
    lost = acked_writes_lost(st)
    cut.settled(st, marks, FAULT, names)
    return {"healed": names, "chaosrunner_figures": {figure: restoration, "acked_writes_lost": lost}}


def _restored(st: SandboxState) -> bool:
    view = _database_view(st)
    if view["writable_primaries"] != 1 or view["lag_bytes"] is None or view["lag_bytes"] > 0:
        return False
    if streaming_standbys(view["primary"]) < 1 or http_request(f"{st.haproxy.url}/pins", True)[0] != 201:
        return False
    return (loadgen_stats(st, 2.0).get("success_ratio") or 0.0) >= 0.99


def acked_writes_lost(st: SandboxState) -> int | None:
    """Writes the clients had acknowledged that the primary does not have; None without a single primary."""
    ids = [int(x) for x in http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]]
    roles = database_roles(st)
    primaries = [n for n in database_nodes(st) if roles.get(n.name) == "primary"]
    if len(primaries) != 1:
        return None
    if not ids:
        return 0
    found = primaries[0].execute("SELECT count(*) FROM pins WHERE id = ANY(%s)", (ids,))[0][0]
    return len(set(ids)) - int(str(found))


def no_split_brain(configuration: dict[str, Any] | None = None, state: str | None = None) -> bool:
    """Steady-state probe: exactly one writable primary, and every acknowledged write is on it."""
    st = load_state(configuration, state)
    return _database_view(st)["writable_primaries"] == 1 and acked_writes_lost(st) == 0
