"""Thursday: database failover on the sandbox — crash the primary, promote the standby, measure RTO and RPO.

How the service is repointed: the instances' write DSN lists both database proxies with libpq's
``target_session_attrs=read-write``, so after the standby is promoted the next (re)connection finds the
new primary by itself; nothing is reconfigured. The old primary's proxy stays, pointing at a dead port
(libpq skips it).

* RTO (seconds): from the crash (``pg_ctl stop -m immediate``) to the first write acknowledged through
  the router (HAProxy → instance → new primary).
* RPO (writes): ids the load generator saw acknowledged (201) that the new primary does not have.
  The estate replicates asynchronously; with ``synchronous=True`` the primary is switched to synchronous
  replication (``synchronous_standby_names='*'``) first, so every acknowledged write is on the standby
  (RPO 0 by construction). Caveat: a lost id could be re-issued by the new primary's sequence and then
  count as present; PostgreSQL WAL-logs sequences 32 values ahead, which makes that unlikely.

The undo/rollback :func:`rebuild_standby` makes the estate whole from whatever state it finds: promotes
the surviving node if there is no primary, re-creates the other node as a streaming standby of it
(``pg_basebackup``), rewrites the state file's roles, and writes off at the load generator the
acknowledged writes the new primary does not have (measured as the run's RPO before), so later runs on
the same estate judge only their own writes.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from chaosrunner.drivers import faults
from chaosrunner.drivers.sandbox.state import (
    TIMEOUT_S,
    database_nodes,
    database_roles,
    load_state,
    state_file,
    stream_port,
    streaming_standbys,
    swap_database_roles,
)
from chaosrunner.sandbox.control import http_json
from chaosrunner.sandbox.state import SandboxState

log = logging.getLogger("chaosrunner.drivers.sandbox")
FAULT = "sandbox-db-failover"
TARGET = "pinboard database primary"
POLL_S = 0.02


def _wait(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not yet
            pass
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} not reached within {timeout_s:g}s")


def _write_through_router(st: SandboxState) -> bool:
    req = urllib.request.Request(f"{st.haproxy.url}/pins", data=json.dumps({"body": "rto-probe"}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return r.status == 201
    except (urllib.error.HTTPError, OSError):
        return False


def fail_over(
    synchronous: bool = False,
    rto_timeout_s: float = 30.0,
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Crash the primary, promote the standby, measure RTO (s) and RPO (acknowledged writes lost)."""

    st = load_state(configuration, state)
    roles = database_roles(st)
    nodes = {n.name: n for n in database_nodes(st)}
    primaries = [n for n, r in roles.items() if r == "primary"]
    standbys = [n for n, r in roles.items() if r == "standby"]
    if len(primaries) != 1 or len(standbys) != 1:
        raise RuntimeError(f"need one primary and one standby to fail over, found {roles}")
    primary, standby = nodes[primaries[0]], nodes[standbys[0]]
    # recorded before the synchronous switch too: left behind, it would block every write once the
    # standby is gone; the undo resets it
    faults.record(FAULT, TARGET, "rebuild_standby", {"state": str(state_file(configuration, state))},
                  module=__name__)
    if synchronous:
        primary.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.execute("SELECT pg_reload_conf()")
        _wait(lambda: primary.execute("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")[0][0],
              10, "synchronous replication")
    crashed_at = time.monotonic()
    primary.stop(mode="immediate")
    promote_s = standby.promote(timeout_s=10)
    _wait(lambda: _write_through_router(st), rto_timeout_s, "a write through the router")
    rto_s = time.monotonic() - crashed_at
    acked = [int(i) for i in http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]]
    present = {r[0] for r in standby.execute("SELECT id FROM pins WHERE id = ANY(%s)", (acked,))}
    lost = sorted(set(acked) - present)
    return {
        "old_primary": primary.name, "new_primary": standby.name, "lost_ids": lost[:50],
        "chaosrunner_figures": {
            "rto_s": round(rto_s, 3),
            "promote_s": round(promote_s, 3),
            "rpo_writes_lost": len(lost),
            "acked_writes_checked": len(acked),
            "replication": "synchronous" if synchronous else "asynchronous",
        },
    }


def rebuild_standby(
    timeout_s: float = 60.0,
    figure: str = "standby_rebuild_s",
    configuration: dict[str, Any] | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """Undo/rollback (idempotent): one primary + one streaming standby again, state file roles updated.

    Returns ``{"primary", "rebuilt", "chaosrunner_figures": {figure: seconds}}``.
    """
    started = time.monotonic()
    path = state_file(configuration, state)
    st = load_state(configuration, state)
    nodes = {n.name: n for n in database_nodes(st)}
    roles = database_roles(st)
    primaries = [n for n, r in roles.items() if r == "primary"]
    if not primaries:
        survivors = [n for n, r in roles.items() if r == "standby"]
        if not survivors:
            raise RuntimeError(f"no database node is up: {roles}")
        nodes[survivors[0]].promote(timeout_s=10)
        primaries = [survivors[0]]
    if len(primaries) > 1:  # split brain: keep the one the state file calls primary
        primaries = [st.postgres.primary.name]
    primary = nodes[primaries[0]]
    primary.execute("ALTER SYSTEM RESET synchronous_standby_names")  # a synchronous run may have set it
    primary.execute("SELECT pg_reload_conf()")
    other = next(n for name, n in nodes.items() if name != primary.name)
    rebuilt = False
    if roles.get(other.name) != "standby" or not streaming_standbys(primary):
        other.destroy()
        other.init_standby(primary, slot=other.name.replace("-", "_"), timeout_s=timeout_s,
                           stream_port=stream_port(st, primary.name))
        other.start(timeout_s=timeout_s)
        rebuilt = True
    _wait(lambda: streaming_standbys(primary) >= 1, timeout_s, f"{other.name} streaming from {primary.name}")
    swap_database_roles(path, primary.name)
    written_off = _write_off_lost_writes(st, primary)
    faults.settle(FAULT, TARGET)
    return {"primary": primary.name, "standby": other.name, "rebuilt": rebuilt, "acked_writes_written_off": written_off,
            "chaosrunner_figures": {figure: round(time.monotonic() - started, 3)}}


def _write_off_lost_writes(st: SandboxState, primary: Any) -> int | None:
    """The clients' books settled with the rebuilt database: acknowledged writes the primary does not have
    (an asynchronous failover's RPO, already measured and in that run's journal) are written off at the
    load generator, so the next experiment's "every acknowledged write is on the primary" judges its own
    writes, not an earlier run's reported loss. None when the load generator cannot be reached: the
    database is whole all the same, and the loss stays counted (logged)."""
    try:
        acked = [int(i) for i in http_json(f"{st.loadgen.url}/acked", timeout_s=TIMEOUT_S)["ids"]]
        present = {r[0] for r in primary.execute("SELECT id FROM pins WHERE id = ANY(%s)", (acked,))}
        lost = sorted(set(acked) - present)
        if not lost:
            return 0
        answer = http_json(f"{st.loadgen.url}/acked/write-off", {"ids": lost}, timeout_s=TIMEOUT_S)
        log.info("wrote off %d acknowledged writes the database lost: %s", len(lost), lost[:20])
        return int(answer["written_off"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("acknowledged writes not settled with the load generator (%s); a lost one stays counted", e)
        return None


def crash_primary(configuration: dict[str, Any] | None = None, state: str | None = None) -> dict[str, Any]:
    """Crash the primary and promote nothing (the over-aggressive Thursday): writes fail until the
    undo :func:`rebuild_standby` promotes the survivor and rebuilds a standby."""
    st = load_state(configuration, state)
    primaries = [n for n in database_nodes(st) if database_roles(st).get(n.name) == "primary"]
    if len(primaries) != 1:
        raise RuntimeError(f"need one primary to crash, found {database_roles(st)}")
    faults.record(FAULT, TARGET, "rebuild_standby", {"state": str(state_file(configuration, state))},
                  module=__name__)
    primaries[0].stop(mode="immediate")
    return {"crashed": primaries[0].name}
