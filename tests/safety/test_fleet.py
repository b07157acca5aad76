"""One kill switch for a fleet (`fleet:` on a real PostgreSQL): two state homes stand for two hosts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chaosrunner.sandbox.postgres import PostgresCluster
from tests.safety.harness import chaosrunner, wait_for
from tests.safety.test_notify import experiment

pytestmark = pytest.mark.slow


@pytest.fixture
def hosts(tmp_path: Path, postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("CHAOSRUNNER_FLEET", f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres")
    monkeypatch.setenv("CHAOSRUNNER_JOURNALS", str(tmp_path / "journals"))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return {"a": tmp_path / "host-a", "b": tmp_path / "host-b"}


def on(host: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(host))
    proc = chaosrunner(*args, text=True)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_a_halt_on_one_host_aborts_a_run_on_another_and_refuses_the_next(
    hosts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(hosts["b"]))
    run = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=60)), "--json", text=True)
    wait_for(ready.exists, 30, "host b's method under way")
    code, out, err = on(hosts["a"], monkeypatch, "halt", "--reason", "incident 1234")
    halted = time.monotonic()
    assert code == 0 and "every host of the fleet" in out, out + err
    out, err = run.communicate(timeout=30)
    took = time.monotonic() - halted
    result = json.loads(out)
    assert run.returncode == 3 and result["verdict"] == "aborted", out + err
    assert "kill switch engaged: incident 1234" in result["reason"]
    assert took < 5, took  # the sentinel reads the fleet row every 0.1 s
    assert not fault.exists()  # rolled back
    assert not (hosts["b"] / "killswitch.json").exists()  # host b learnt it from the fleet, not from its file
    code, out, _ = on(hosts["b"], monkeypatch, "run", str(experiment(tmp_path, fault, ready, hold_s=0.1)), "--json")
    assert code == 4 and "incident 1234" in json.loads(out)["reason"] and not fault.exists()
    code, out, _ = on(hosts["b"], monkeypatch, "status", "--json")
    ks = json.loads(out)["kill_switch"]
    assert ks["engaged"] and ks["scope"] == "fleet" and "@" in ks["engaged_by"]
    assert on(hosts["b"], monkeypatch, "resume")[0] == 0  # resumed from another host: for the whole fleet
    code, out, _ = on(hosts["a"], monkeypatch, "run", str(experiment(tmp_path, fault, ready, hold_s=0.1)), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "passed"


def test_a_fleet_database_that_goes_away_aborts_the_run_and_refuses_the_next(
    hosts: dict[str, Path], postgres: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, ready = tmp_path / "fault", tmp_path / "ready"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(hosts["b"]))
    run = chaosrunner("run", str(experiment(tmp_path, fault, ready, hold_s=60)), "--json", text=True)
    wait_for(ready.exists, 30, "the method under way")
    postgres.stop(mode="immediate")
    out, err = run.communicate(timeout=30)
    result = json.loads(out)
    assert run.returncode == 3 and result["verdict"] == "aborted", out + err
    assert "fleet state at 127.0.0.1" in result["reason"] and "treated as engaged" in result["reason"]
    assert not fault.exists()
    code, out, err = on(hosts["b"], monkeypatch, "run", str(experiment(tmp_path, fault, ready, hold_s=0.1)), "--json")
    assert code == 4 and "treated as engaged" in json.loads(out)["reason"], out + err
    code, _, err = on(hosts["a"], monkeypatch, "halt", "--reason", "db down")
    assert code == 1 and "halted on this host only" in err
    assert (hosts["a"] / "killswitch.json").exists()


def targeted(tmp_path: Path, name: str, fault: Path, ready: Path, hold_s: float) -> Path:
    """The same experiment on one static target, so its runs take the target's lock."""
    import yaml

    doc = yaml.safe_load(experiment(tmp_path, fault, ready, hold_s).read_text())
    doc["extensions"] = [{"name": "chaosrunner", "targets": {
        "inventory": "static", "select": {"id": "db-1"}, "pick": 1,
        "static": [{"id": "db-1", "service": "db", "zone": "z1"}, {"id": "db-2", "service": "db", "zone": "z2"}]},
        "blast_radius": {"services": ["db"], "max_targets": 1, "zones": 1}}]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_overlapping_targets_are_refused_across_hosts_and_a_dead_runners_locks_go_with_its_session(
    hosts: dict[str, Path], postgres: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    fault_a, ready_a = tmp_path / "fault-a", tmp_path / "ready-a"
    fault_b, ready_b = tmp_path / "fault-b", tmp_path / "ready-b"
    monkeypatch.setenv("CHAOSRUNNER_HOME", str(hosts["a"]))
    run_a = chaosrunner("run", str(targeted(tmp_path, "a", fault_a, ready_a, hold_s=60)), "--json", text=True)
    try:
        wait_for(ready_a.exists, 30, "host a's run holding db-1")
        code, out, err = on(hosts["b"], monkeypatch, "run", str(targeted(tmp_path, "b", fault_b, ready_b, 0.1)),
                            "--json")
        result = json.loads(out)
        assert code == 4 and "another run holds a lock on static:db-1" in result["reason"], out + err
        assert " on " in result["reason"].split("static:db-1", 1)[1]  # names the host that holds it
        assert not fault_b.exists()
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT key, run_id FROM chaosrunner_locks").fetchall()
        assert [k for k, _ in rows] == ["static:db-1"]
    finally:
        import os
        import signal

        os.killpg(run_a.pid, signal.SIGKILL)  # the runner dies: its session, and the fleet's locks, go with it
        run_a.wait(10)
    wait_for(lambda: not fault_a.exists(), 30, "host a's watchdog reverting its fault")
    code, out, err = on(hosts["b"], monkeypatch, "run", str(targeted(tmp_path, "b", fault_b, ready_b, 0.1)), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "passed", out + err


def test_a_dead_hosts_faults_are_reverted_from_another_host_where_their_undo_can_run(
    hosts: dict[str, Path], postgres: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host a's runner and watchdog are killed together (its reaper is gone too: the host is down). From host b,
    `recover --fleet` reverts the fault whose undo is an API call and names host a for the one whose undo is
    a local command."""
    import os
    import signal

    import psycopg
    import yaml

    from tests.safety.test_notify import _watchdogs
    from tests.safety.webhook import Receiver

    api, local, ready = tmp_path / "api-fault", tmp_path / "local-fault", tmp_path / "ready"
    hook = Receiver()
    doc = {"title": "two faults", "description": "d", "method": [
        {"type": "action", "name": "api", "provider": {"type": "python", "module": "chaos_undo_marks",
         "func": "inject_with_undo", "arguments": {"path": str(api), "undo": {
             "type": "http", "url": hook.url, "method": "POST", "timeout": 3,
             "headers": {"Content-Type": "application/json"}, "arguments": {"undo": str(api)}}}}},
        {"type": "action", "name": "local", "provider": {"type": "python", "module": "chaos_undo_marks",
         "func": "inject_with_undo", "arguments": {"path": str(local), "undo": {
             "type": "process", "path": "rm", "arguments": ["-f", str(local)]}}}},
        {"type": "action", "name": "hold", "provider": {"type": "python", "module": "chaos_undo_marks",
         "func": "hold", "arguments": {"ready": str(ready), "seconds": 60}}}]}
    exp = tmp_path / "two.yaml"
    exp.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        monkeypatch.setenv("CHAOSRUNNER_HOME", str(hosts["a"]))
        run = chaosrunner("run", str(exp), "--json", text=True)
        wait_for(ready.exists, 30, "host a's faults in place")
        for w in _watchdogs(hosts["a"]):
            w.kill()
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT fault, target, host FROM chaosrunner_faults WHERE closed_at IS NULL").fetchall()
        assert {r[1] for r in rows} >= {str(api), str(local)} and all(str(hosts["a"]) in r[2] for r in rows)
        code, out, err = on(hosts["b"], monkeypatch, "recover", "--fleet", "--json")
        fleet = json.loads(out)["fleet"]
        assert code == 5, out + err  # the local command's fault is still in place: host a must revert it
        assert [(r["target"], r["ok"]) for r in fleet["reverted"]] == [(str(api), True)]
        assert [e["undo"] for e in hook.events] == [str(api)]  # the API undo ran, from host b
        assert [r["target"] for r in fleet["elsewhere"]] == [str(local)]
        assert all(str(hosts["a"]) in r["host"] for r in fleet["elsewhere"])
        assert local.exists()  # host b did not pretend: the local fault is there until host a reverts it
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            closed = conn.execute("SELECT detail FROM chaosrunner_faults WHERE target = %s", (str(api),)).fetchone()
        assert closed and "reverted from" in closed[0]
        code, out, err = on(hosts["a"], monkeypatch, "recover", "--json")  # host a comes back: its reaper's pass
        assert code == 0 and not local.exists(), out + err
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM chaosrunner_faults WHERE closed_at IS NULL").fetchone()[0] == 0
    finally:
        hook.close()


def test_which_undos_may_run_from_another_host() -> None:
    from chaosrunner.faults.fleet_ledger import RemoteFault

    def fault(undo: dict[str, object] | None) -> RemoteFault:
        return RemoteFault("id", "run", "host-a:/var/lib/chaosrunner", "f", "t", undo)

    assert fault({"type": "http", "url": "http://api/undo"}).revertible_here
    assert fault({"type": "python", "module": "chaosrunner.drivers.aws.network", "func": "restore_az_network"}) \
        .revertible_here  # an AWS API call
    assert not fault({"type": "python", "module": "chaosrunner.drivers.sandbox.latency",
                      "func": "remove_latency"}).revertible_here  # reads the sandbox's state file on its host
    assert not fault({"type": "process", "path": "rm"}).revertible_here
    assert not fault({"type": "python", "module": "no.such.module", "func": "x"}).revertible_here
    assert not fault(None).revertible_here
