"""The fault proxy speaks the Toxiproxy HTTP API: status codes, shapes, toxics, expiry, both clients."""

from __future__ import annotations

import time

import pytest
import requests

from chaosrunner.sandbox.faultproxy.model import ApiError, parse_new_toxic
from tests.sandbox.conftest import tcp_roundtrip

T = 3.0


def _create(api: str, name: str, upstream_port: int) -> dict:
    r = requests.post(f"{api}/proxies", json={"name": name, "listen": "127.0.0.1:0",
                                              "upstream": f"127.0.0.1:{upstream_port}"}, timeout=T)
    assert r.status_code == 201, r.text
    return r.json()


def _port(proxy: dict) -> int:
    return int(proxy["listen"].rsplit(":", 1)[1])


# ---------------------------------------------------------------- pure model
def test_toxic_defaults_match_toxiproxy() -> None:
    t = parse_new_toxic({"type": "latency", "attributes": {"latency": 10}}, 0, set())
    assert (t.name, t.stream, t.toxicity, t.attributes) == ("latency_downstream", "downstream", 1.0,
                                                            {"latency": 10, "jitter": 0})


@pytest.mark.parametrize("body, problem", [
    ({"type": "nope"}, "invalid toxic type"),
    ({"type": "latency", "stream": "sideways"}, "stream was invalid"),
    ({"type": "latency", "toxicity": 1.5}, "toxicity"),
    ({"type": "latency", "attributes": {"rate": 1}}, "unknown attribute"),
    ({"type": "latency", "expires_in_s": 0}, "expires_in_s"),
])
def test_invalid_toxic_is_a_400(body: dict, problem: str) -> None:
    with pytest.raises(ApiError, match=problem) as info:
        parse_new_toxic(body, 0, set())
    assert info.value.status == 400


def test_expiry_is_accepted_inside_attributes_for_toxiproxy_python() -> None:
    t = parse_new_toxic({"type": "latency", "attributes": {"latency": 5, "expires_in_s": 2}}, 100.0, set())
    assert t.expires_at == 102.0 and "expires_in_s" not in t.attributes


# ---------------------------------------------------------------- HTTP API semantics
def test_status_codes_follow_toxiproxy(fault_proxy: str, http_upstream: int) -> None:
    api = fault_proxy
    assert requests.get(f"{api}/version", timeout=T).json() == {"version": "2.12.0"}
    proxy = _create(api, "svc", http_upstream)
    assert proxy["enabled"] is True and proxy["toxics"] == [] and _port(proxy) > 0
    dup = requests.post(f"{api}/proxies", json={"name": "svc", "upstream": "127.0.0.1:1"}, timeout=T)
    assert dup.status_code == 409
    assert requests.post(f"{api}/proxies", json={"name": "x"}, timeout=T).status_code == 400
    assert requests.get(f"{api}/proxies/none", timeout=T).status_code == 404
    assert set(requests.get(f"{api}/proxies", timeout=T).json()) == {"svc"}

    toxic = {"name": "lat", "type": "latency", "stream": "downstream", "toxicity": 1.0,
             "attributes": {"latency": 50, "jitter": 0}}
    r = requests.post(f"{api}/proxies/svc/toxics", json=toxic, timeout=T)
    assert r.status_code == 200 and r.json()["attributes"]["latency"] == 50
    assert requests.post(f"{api}/proxies/svc/toxics", json=toxic, timeout=T).status_code == 409
    bad = requests.post(f"{api}/proxies/svc/toxics", json={"type": "boom"}, timeout=T)
    assert bad.status_code == 400
    assert requests.post(f"{api}/proxies/none/toxics", json=toxic, timeout=T).status_code == 404
    assert [t["name"] for t in requests.get(f"{api}/proxies/svc/toxics", timeout=T).json()] == ["lat"]
    upd = requests.post(f"{api}/proxies/svc/toxics/lat", json={"attributes": {"latency": 70}}, timeout=T)
    assert upd.status_code == 200 and upd.json()["attributes"] == {"latency": 70, "jitter": 0}
    assert requests.delete(f"{api}/proxies/svc/toxics/lat", timeout=T).status_code == 204
    assert requests.delete(f"{api}/proxies/svc/toxics/lat", timeout=T).status_code == 404

    assert requests.post(f"{api}/proxies/svc/toxics", json=toxic, timeout=T).status_code == 200
    assert requests.post(f"{api}/proxies/svc", json={"enabled": False}, timeout=T).json()["enabled"] is False
    assert requests.post(f"{api}/reset", timeout=T).status_code == 204
    after = requests.get(f"{api}/proxies/svc", timeout=T).json()
    assert after["enabled"] is True and after["toxics"] == []
    assert requests.delete(f"{api}/proxies/svc", timeout=T).status_code == 204
    assert requests.get(f"{api}/proxies/svc", timeout=T).status_code == 404


def test_disable_stops_listening_and_enable_restores_same_port(fault_proxy: str, http_upstream: int) -> None:
    proxy = _create(fault_proxy, "svc", http_upstream)
    port = _port(proxy)
    assert b"200 OK" in tcp_roundtrip(port)
    requests.post(f"{fault_proxy}/proxies/svc", json={"enabled": False}, timeout=T)
    with pytest.raises(ConnectionRefusedError):
        tcp_roundtrip(port)
    requests.post(f"{fault_proxy}/proxies/svc", json={"enabled": True}, timeout=T)
    assert b"200 OK" in tcp_roundtrip(port)


def _timed(port: int) -> float:
    start = time.monotonic()
    assert b"200 OK" in tcp_roundtrip(port)
    return time.monotonic() - start


def test_latency_toxic_delays_responses_and_removal_restores(fault_proxy: str, http_upstream: int) -> None:
    port = _port(_create(fault_proxy, "svc", http_upstream))
    base = min(_timed(port) for _ in range(3))
    requests.post(f"{fault_proxy}/proxies/svc/toxics", timeout=T,
                  json={"name": "lat", "type": "latency", "attributes": {"latency": 150}})
    slow = min(_timed(port) for _ in range(3))
    assert 0.14 <= slow - base <= 0.2
    requests.delete(f"{fault_proxy}/proxies/svc/toxics/lat", timeout=T)
    assert min(_timed(port) for _ in range(3)) < base + 0.05


def test_toxic_expires_by_itself(fault_proxy: str, http_upstream: int) -> None:
    _create(fault_proxy, "svc", http_upstream)
    r = requests.post(f"{fault_proxy}/proxies/svc/toxics", timeout=T,
                      json={"name": "lat", "type": "latency", "attributes": {"latency": 1},
                            "expires_in_s": 0.5})
    assert r.json()["expires_at"] > time.time()
    deadline = time.monotonic() + 5
    while requests.get(f"{fault_proxy}/proxies/svc/toxics", timeout=T).json():
        assert time.monotonic() < deadline, "toxic did not expire"
        time.sleep(0.05)


def test_reset_peer_and_timeout_and_limit_data(fault_proxy: str, http_upstream: int) -> None:
    port = _port(_create(fault_proxy, "svc", http_upstream))
    add = f"{fault_proxy}/proxies/svc/toxics"
    requests.post(add, json={"name": "rp", "type": "reset_peer", "attributes": {"timeout": 0}}, timeout=T)
    with pytest.raises(ConnectionResetError):
        tcp_roundtrip(port)  # the request is dropped, then the connection is reset
    requests.delete(f"{add}/rp", timeout=T)

    requests.post(add, json={"name": "to", "type": "timeout", "stream": "upstream", "attributes": {"timeout": 300}}, timeout=T)
    start = time.monotonic()
    assert tcp_roundtrip(port) == b""  # data swallowed, connection closed after the timeout
    assert 0.25 <= time.monotonic() - start < 2
    requests.delete(f"{add}/to", timeout=T)

    requests.post(add, json={"name": "lim", "type": "limit_data", "attributes": {"bytes": 20}}, timeout=T)
    assert len(tcp_roundtrip(port, b"GET /1000 HTTP/1.0\r\n\r\n")) == 20


def test_bandwidth_and_slicer_still_deliver_everything(fault_proxy: str, http_upstream: int) -> None:
    port = _port(_create(fault_proxy, "svc", http_upstream))
    add = f"{fault_proxy}/proxies/svc/toxics"
    requests.post(add, json={"name": "bw", "type": "bandwidth", "attributes": {"rate": 100}}, timeout=T)
    requests.post(add, json={"name": "sl", "type": "slicer", "attributes":
                             {"average_size": 100, "size_variation": 20, "delay": 100}}, timeout=T)
    start = time.monotonic()
    out = tcp_roundtrip(port, b"GET /10000 HTTP/1.0\r\n\r\n")  # 50 kB at 100 KB/s ≈ 0.5 s
    assert out.endswith(b"hello" * 10) and len(out.split(b"\r\n\r\n", 1)[1]) == 50000
    assert time.monotonic() - start >= 0.4


def test_toxicity_zero_affects_no_connection(fault_proxy: str, http_upstream: int) -> None:
    port = _port(_create(fault_proxy, "svc", http_upstream))
    requests.post(f"{fault_proxy}/proxies/svc/toxics", timeout=T,
                  json={"name": "to", "type": "timeout", "toxicity": 0.0, "attributes": {"timeout": 0}})
    for _ in range(5):
        assert b"200 OK" in tcp_roundtrip(port)


def test_upstream_stream_toxic_delays_the_request(fault_proxy: str, http_upstream: int) -> None:
    port = _port(_create(fault_proxy, "svc", http_upstream))
    requests.post(f"{fault_proxy}/proxies/svc/toxics", timeout=T,
                  json={"name": "up", "type": "latency", "stream": "upstream", "attributes": {"latency": 100}})
    # A lower bound on the whole round trip: load can only add time, so this cannot flake under load
    # (subtracting a separately measured baseline can).
    assert _timed(port) >= 0.1


# ---------------------------------------------------------------- the two client libraries, unchanged
def test_toxiproxy_python_drives_it(fault_proxy: str, http_upstream: int) -> None:
    from toxiproxy import Toxiproxy
    from toxiproxy.exceptions import NotFound, ProxyExists

    host, port = fault_proxy.removeprefix("http://").split(":")
    server = Toxiproxy()
    server.update_api_consumer(host, int(port))
    assert server.running()
    proxy = server.create(upstream=f"127.0.0.1:{http_upstream}", name="tp")
    with pytest.raises(ProxyExists):
        from toxiproxy.api import APIConsumer
        APIConsumer.post("/proxies", json={"name": "tp", "upstream": "127.0.0.1:1"})
    listen = int(proxy.listen.rsplit(":", 1)[1])
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert _timed(listen) >= 0.1
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with proxy.down():
        with pytest.raises(ConnectionRefusedError):
            tcp_roundtrip(listen)
    assert b"200 OK" in tcp_roundtrip(listen)
    assert server.reset()
    server.destroy(server.get_proxy("tp"))
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/tp")


def test_chaostoolkit_toxiproxy_drives_it(fault_proxy: str, http_upstream: int) -> None:
    from chaostoxi.proxy import actions as proxy_actions
    from chaostoxi.proxy import probes as proxy_probes
    from chaostoxi.toxic import actions as toxic_actions

    cfg: dict = {"toxiproxy_url": fault_proxy}
    assert proxy_actions.create_proxy("ctk", "127.0.0.1", http_upstream, listen_host="127.0.0.1",
                                      configuration=cfg)
    listen = int(cfg["ctk_PORT"])
    assert proxy_probes.proxy_exist("ctk", configuration=cfg)
    assert proxy_probes.get_proxy_attribute("ctk", "enabled", configuration=cfg) is True
    assert toxic_actions.create_latency_toxic("ctk", "slow", 100, configuration=cfg)
    assert _timed(listen) >= 0.1
    assert toxic_actions.create_timeout_toxic("ctk", "to", 100, configuration=cfg)
    assert toxic_actions.delete_toxic("ctk", "to", configuration=cfg)
    assert toxic_actions.create_slicer_toxic("ctk", "sl", 10, 2, 10, configuration=cfg)
    assert toxic_actions.create_limiter_toxic("ctk", "lim", 100000, configuration=cfg)
    assert toxic_actions.create_bandwith_degradation_toxic("ctk", "bw", 1000, configuration=cfg)
    assert toxic_actions.create_slow_connection_close_toxic("ctk", "sc", 10, configuration=cfg)
    assert proxy_actions.disable_proxy("ctk", configuration=cfg)
    assert proxy_probes.get_proxy_attribute("ctk", "enabled", configuration=cfg) is False
    assert proxy_actions.enable_proxy("ctk", configuration=cfg)
    assert proxy_actions.reset(configuration=cfg)
    assert requests.get(f"{fault_proxy}/proxies/ctk/toxics", timeout=T).json() == []
    proxy_actions.delete_proxy("ctk", configuration=cfg)
    assert not proxy_probes.proxy_exist("ctk", configuration=cfg)


def test_proxies_file_recreates_proxies_at_start(tmp_path, http_upstream: int) -> None:
    """A restarted fault proxy (supervisord autorestart) comes back with its proxies, without toxics."""
    import json
    import sys

    from chaosrunner.ports import free_port, wait_port
    from chaosrunner.sandbox.processes import ManagedProcess

    listen, api_port = free_port(), free_port()
    spec = tmp_path / "proxies.json"
    spec.write_text(json.dumps([{"name": "svc", "listen": f"127.0.0.1:{listen}",
                                 "upstream": f"127.0.0.1:{http_upstream}"}]))
    proc = ManagedProcess("fp", [sys.executable, "-m", "chaosrunner.sandbox.faultproxy", "--port", str(api_port),
                                 "--proxies", str(spec)], tmp_path / "fp.log").start()
    try:
        wait_port(api_port, 15)
        assert requests.get(f"http://127.0.0.1:{api_port}/proxies/svc", timeout=T).json()["toxics"] == []
        assert b"200 OK" in tcp_roundtrip(listen)
    finally:
        proc.stop()
