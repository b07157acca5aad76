"""The fault proxy answers the Toxiproxy 2.12 HTTP API: every route, its status codes, shapes and headers.

Tests taking ``toxiproxy`` run against every implementation present (ours; a real toxiproxy-server when on PATH).
Tests taking ``fault_proxy`` cover what is ours only: the self-expiry extension, the deliberate 400s where Toxiproxy
accepts values that hang or crash a stream, the ``--proxies`` start-up file, populate's undo after a listen failure.
"""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest
import requests

from chaosrunner.core.ports import LOOPBACK, free_port, wait_port
from chaosrunner.sandbox.faultproxy.model import ApiError, parse_new_toxic
from chaosrunner.sandbox.processes import ManagedProcess
from tests.sandbox.conftest import tcp_roundtrip
from tests.sandbox.faultproxy_harness import Api, T

LATENCY = {"name": "lat", "type": "latency", "stream": "downstream", "toxicity": 1.0,
           "attributes": {"latency": 50, "jitter": 0}}


def _port(proxy: dict) -> int:
    return int(proxy["listen"].rsplit(":", 1)[1])


def _error(r: requests.Response, status: int, message: str) -> None:
    """Toxiproxy writes API errors with http.Error: text/plain, JSON body, trailing newline."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text.endswith("\n") and json.loads(r.text) == {"error": message, "status": status}


# ---------------------------------------------------------------- proxies
def test_version_body_is_toxiproxys_byte_for_byte(toxiproxy: Api) -> None:
    r = toxiproxy.call("GET", "/version")
    assert r.status_code == 200 and r.content == b'{"version": "2.12.0"}\n'
    assert r.headers["Content-Type"] == "application/json;charset=utf-8"


def test_proxy_routes_and_their_errors(toxiproxy: Api, http_upstream: int) -> None:
    body = {"name": "svc", "listen": f"{LOOPBACK}:0", "upstream": f"{LOOPBACK}:{http_upstream}"}
    created = toxiproxy.call("POST", "/proxies", body)
    assert created.status_code == 201
    proxy = created.json()
    assert list(proxy) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert proxy["enabled"] is True and proxy["toxics"] == [] and _port(proxy) > 0
    assert b"200 OK" in tcp_roundtrip(_port(proxy))
    _error(toxiproxy.call("POST", "/proxies", body), 409, "proxy already exists")
    _error(toxiproxy.call("POST", "/proxies", {"upstream": "127.0.0.1:1"}), 400, "missing required field: name")
    _error(toxiproxy.call("POST", "/proxies", {"name": "x"}), 400, "missing required field: upstream")
    r = requests.post(f"{toxiproxy.url}/proxies", data=b"", timeout=T)
    _error(r, 400, "bad request body: EOF")
    assert toxiproxy.call("GET", "/proxies").json() == {"svc": proxy}
    assert toxiproxy.call("GET", "/proxies/svc").json() == proxy
    _error(toxiproxy.call("GET", "/proxies/none"), 404, "proxy not found")
    for method in ("POST", "PATCH"):
        r = toxiproxy.call(method, "/proxies/svc", {"enabled": method == "PATCH"})
        assert r.status_code == 200 and r.json()["enabled"] is (method == "PATCH")
    _error(toxiproxy.call("PATCH", "/proxies/none", {"enabled": True}), 404, "proxy not found")
    assert toxiproxy.call("DELETE", "/proxies/svc").status_code == 204
    _error(toxiproxy.call("DELETE", "/proxies/svc"), 404, "proxy not found")


def test_disable_stops_listening_and_enable_restores_same_port(toxiproxy: Api, http_upstream: int) -> None:
    port = toxiproxy.proxy("svc", http_upstream)
    toxiproxy.call("POST", "/proxies/svc", {"enabled": False})
    with pytest.raises(ConnectionRefusedError):
        tcp_roundtrip(port)
    toxiproxy.call("POST", "/proxies/svc", {"enabled": True})
    assert b"200 OK" in tcp_roundtrip(port)


def test_listen_address_in_use_is_a_500(toxiproxy: Api, http_upstream: int) -> None:
    r = toxiproxy.call("POST", "/proxies", {"name": "x", "listen": f"{LOOPBACK}:{http_upstream}",
                                            "upstream": f"{LOOPBACK}:1"})
    assert r.status_code == 500 and "address already in use" in r.json()["error"]
    assert toxiproxy.call("GET", "/proxies/x").status_code == 404


# ---------------------------------------------------------------- toxics
def test_toxic_routes_and_their_errors(toxiproxy: Api, http_upstream: int) -> None:
    toxiproxy.proxy("svc", http_upstream)
    r = toxiproxy.call("POST", "/proxies/svc/toxics", LATENCY)
    assert r.status_code == 200
    assert r.json() == {"attributes": {"latency": 50, "jitter": 0}, "name": "lat", "type": "latency",
                        "stream": "downstream", "toxicity": 1.0}
    _error(toxiproxy.call("POST", "/proxies/svc/toxics", LATENCY), 409, "toxic already exists")
    _error(toxiproxy.call("POST", "/proxies/svc/toxics", {"type": "boom"}), 400, "invalid toxic type")
    _error(toxiproxy.call("POST", "/proxies/svc/toxics", {"type": "latency", "stream": "sideways"}), 400,
           "stream was invalid, can be either upstream or downstream")
    _error(toxiproxy.call("POST", "/proxies/none/toxics", LATENCY), 404, "proxy not found")
    assert toxiproxy.call("GET", "/proxies/svc/toxics/lat").json()["name"] == "lat"
    _error(toxiproxy.call("GET", "/proxies/svc/toxics/none"), 404, "toxic not found")
    for method, value in (("POST", 70), ("PATCH", 80)):
        r = toxiproxy.call(method, "/proxies/svc/toxics/lat", {"attributes": {"latency": value}})
        assert r.status_code == 200 and r.json()["attributes"] == {"latency": value, "jitter": 0}
    _error(toxiproxy.call("POST", "/proxies/svc/toxics/none", {"attributes": {}}), 404, "toxic not found")
    assert toxiproxy.call("DELETE", "/proxies/svc/toxics/lat").status_code == 204
    _error(toxiproxy.call("DELETE", "/proxies/svc/toxics/lat"), 404, "toxic not found")


def test_toxic_defaults_name_stream_and_toxicity(toxiproxy: Api, http_upstream: int) -> None:
    toxiproxy.proxy("svc", http_upstream)
    r = toxiproxy.call("POST", "/proxies/svc/toxics", {"type": "latency", "attributes": {"latency": 10}})
    assert r.json() == {"attributes": {"latency": 10, "jitter": 0}, "name": "latency_downstream",
                        "type": "latency", "stream": "downstream", "toxicity": 1.0}


def test_noop_is_a_toxic_type(toxiproxy: Api, http_upstream: int) -> None:
    toxiproxy.proxy("svc", http_upstream)
    r = toxiproxy.call("POST", "/proxies/svc/toxics", {"type": "noop"})
    assert r.status_code == 200 and r.json()["attributes"] == {}


def test_update_ignores_type_and_stream(toxiproxy: Api, http_upstream: int) -> None:
    toxiproxy.proxy("svc", http_upstream)
    toxiproxy.call("POST", "/proxies/svc/toxics", LATENCY)
    r = toxiproxy.call("POST", "/proxies/svc/toxics/lat", {"type": "bandwidth", "stream": "upstream",
                                                          "toxicity": 0.5, "attributes": {"jitter": 5}})
    assert r.status_code == 200
    assert r.json() == {"attributes": {"latency": 50, "jitter": 5}, "name": "lat", "type": "latency",
                        "stream": "downstream", "toxicity": 0.5}


@pytest.mark.parametrize("value", [200.5, 200.0, "200", True])
def test_attributes_must_be_whole_numbers(toxiproxy: Api, http_upstream: int, value: object) -> None:
    toxiproxy.proxy("svc", http_upstream)
    r = toxiproxy.call("POST", "/proxies/svc/toxics", {"type": "latency", "attributes": {"latency": value}})
    assert r.status_code == 400 and json.loads(r.text)["error"].startswith("bad request body")
    assert toxiproxy.call("GET", "/proxies/svc/toxics").json() == []


def test_toxics_are_listed_upstream_first_then_downstream(toxiproxy: Api, http_upstream: int) -> None:
    toxiproxy.proxy("svc", http_upstream)
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        toxiproxy.call("POST", "/proxies/svc/toxics", {"name": name, "type": "latency", "stream": stream})
    names = [t["name"] for t in toxiproxy.call("GET", "/proxies/svc/toxics").json()]
    assert names == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in toxiproxy.call("GET", "/proxies/svc").json()["toxics"]] == names


def test_reset_enables_every_proxy_and_removes_every_toxic(toxiproxy: Api, http_upstream: int) -> None:
    port = toxiproxy.proxy("svc", http_upstream)
    toxiproxy.call("POST", "/proxies/svc/toxics", LATENCY)
    toxiproxy.call("POST", "/proxies/svc", {"enabled": False})
    assert toxiproxy.call("POST", "/reset").status_code == 204
    after = toxiproxy.call("GET", "/proxies/svc").json()
    assert after["enabled"] is True and after["toxics"] == []
    assert b"200 OK" in tcp_roundtrip(port)


# ---------------------------------------------------------------- populate
def test_populate_creates_and_keeps_unchanged_proxies_with_their_toxics(toxiproxy: Api, http_upstream: int) -> None:
    a, b = free_port(), free_port()
    items = [{"name": "a", "listen": f"{LOOPBACK}:{a}", "upstream": f"{LOOPBACK}:{http_upstream}"},
             {"name": "b", "listen": f"{LOOPBACK}:{b}", "upstream": f"{LOOPBACK}:{http_upstream}"}]
    r = toxiproxy.call("POST", "/populate", items)
    assert r.status_code == 201 and [p["name"] for p in r.json()["proxies"]] == ["a", "b"]
    toxiproxy.call("POST", "/proxies/a/toxics", LATENCY)
    toxiproxy.call("POST", "/proxies/b/toxics", LATENCY)
    items[1]["upstream"] = f"{LOOPBACK}:1"  # b changes: replaced (a new proxy, without toxics)
    r = toxiproxy.call("POST", "/populate", items)
    assert r.status_code == 201
    assert [len(p["toxics"]) for p in r.json()["proxies"]] == [1, 0]
    assert toxiproxy.call("GET", "/proxies/a").json()["toxics"][0]["name"] == "lat"
    assert b"200 OK" in tcp_roundtrip(a)


def test_populate_with_an_invalid_entry_changes_nothing(toxiproxy: Api, http_upstream: int) -> None:
    items = [{"name": "a", "listen": f"{LOOPBACK}:0", "upstream": f"{LOOPBACK}:{http_upstream}"},
             {"name": "b", "listen": f"{LOOPBACK}:0"}]
    r = toxiproxy.call("POST", "/populate", items)
    assert r.status_code == 400 and r.json()["error"] == "missing required field: upstream at proxy 2"
    assert toxiproxy.call("GET", "/proxies").json() == {}


def test_populate_undoes_everything_when_a_proxy_cannot_listen(fault_proxy: str, http_upstream: int) -> None:
    api = Api(fault_proxy)
    a = free_port()
    api.call("POST", "/populate", [{"name": "a", "listen": f"{LOOPBACK}:{a}", "upstream": f"{LOOPBACK}:1"}])
    api.call("POST", "/proxies/a/toxics", LATENCY)
    r = api.call("POST", "/populate", [
        {"name": "a", "listen": f"{LOOPBACK}:{a}", "upstream": f"{LOOPBACK}:{http_upstream}"},  # replace a
        {"name": "new", "listen": f"{LOOPBACK}:0", "upstream": f"{LOOPBACK}:{http_upstream}"},
        {"name": "clash", "listen": f"{LOOPBACK}:{http_upstream}", "upstream": f"{LOOPBACK}:1"},  # in use
    ])
    assert r.status_code == 500 and r.json()["proxies"] is None
    proxies = api.call("GET", "/proxies").json()
    assert set(proxies) == {"a"} and proxies["a"]["upstream"] == f"{LOOPBACK}:1"
    assert [t["name"] for t in proxies["a"]["toxics"]] == ["lat"]
    with socket.create_connection((LOOPBACK, a), timeout=T):
        pass  # the restored proxy listens again


# ---------------------------------------------------------------- HTTP manners
def test_browsers_are_refused_and_every_routed_answer_has_a_request_id(toxiproxy: Api) -> None:
    r = requests.get(f"{toxiproxy.url}/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"}, timeout=T)
    assert r.status_code == 403 and r.text == "User agent not allowed\n"
    ids = {toxiproxy.call("GET", "/proxies").headers["X-Toxiproxy-Request-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 20 for i in ids)
    assert "X-Toxiproxy-Request-Id" in toxiproxy.call("GET", "/proxies/none").headers


def test_unknown_routes_and_methods(toxiproxy: Api) -> None:
    r = toxiproxy.call("GET", "/nope")
    assert r.status_code == 404 and r.text == "404 page not found\n"
    assert toxiproxy.call("DELETE", "/version").status_code == 405


def test_metrics_count_proxied_bytes(toxiproxy: Api, http_upstream: int) -> None:
    port = toxiproxy.proxy("svc", http_upstream)
    tcp_roundtrip(port)
    deadline = time.monotonic() + 5  # Toxiproxy adds a connection's bytes when it ends

    def series(text: str, name: str, direction: str) -> float:
        for line in text.splitlines():
            if line.startswith(f'{name}{{direction="{direction}",') and 'proxy="svc"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    while series(text := toxiproxy.call("GET", "/metrics").text, "toxiproxy_proxy_sent_bytes_total",
                 "downstream") <= 0:
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert series(text, "toxiproxy_proxy_received_bytes_total", "upstream") == len(b"GET /1 HTTP/1.0\r\n\r\n")
    assert "_created" not in text


# ---------------------------------------------------------------- ours only: deliberate 400s, self-expiry
@pytest.mark.parametrize("body, problem", [
    ({"type": "latency", "attributes": {"latency": -1}}, "attributes.latency must be >= 0"),
    ({"type": "latency", "toxicity": 1.5}, "toxicity must be between 0 and 1"),
    ({"type": "latency", "attributes": {"rate": 1}}, "unknown attribute 'rate'"),
    ({"type": "bandwidth", "attributes": {"rate": 0}}, "rate must be > 0"),
    ({"type": "slicer", "attributes": {"average_size": 0}}, "average_size must be > 0"),
    ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 11}}, "size_variation must be <="),
])
def test_values_toxiproxy_would_take_but_that_hang_or_crash_are_a_clear_400(body: dict, problem: str) -> None:
    with pytest.raises(ApiError, match=problem) as info:
        parse_new_toxic(body, 0, set())
    assert info.value.status == 400 and "Toxiproxy would accept it" in info.value.message


def test_expiry_is_accepted_inside_attributes_for_toxiproxy_python() -> None:
    t = parse_new_toxic({"type": "latency", "attributes": {"latency": 5, "expires_in_s": 2}}, 100.0, set())
    assert t.expires_at == 102.0 and "expires_in_s" not in t.attributes
    with pytest.raises(ApiError, match="expires_in_s"):
        parse_new_toxic({"type": "latency", "expires_in_s": 0}, 0, set())


def test_toxic_expires_by_itself(fault_proxy: str, http_upstream: int) -> None:
    api = Api(fault_proxy)
    api.proxy("svc", http_upstream)
    r = api.call("POST", "/proxies/svc/toxics", {"name": "lat", "type": "latency", "attributes": {"latency": 1},
                                                 "expires_in_s": 0.5})
    assert r.json()["expires_at"] > time.time()
    deadline = time.monotonic() + 5
    while api.call("GET", "/proxies/svc/toxics").json():
        assert time.monotonic() < deadline, "toxic did not expire"
        time.sleep(0.05)


# ---------------------------------------------------------------- the two client libraries, unchanged
def _timed(port: int) -> float:
    start = time.monotonic()
    assert b"200 OK" in tcp_roundtrip(port)
    return time.monotonic() - start


def test_toxiproxy_python_drives_it(toxiproxy: Api, http_upstream: int) -> None:
    from toxiproxy import Toxiproxy
    from toxiproxy.api import APIConsumer
    from toxiproxy.exceptions import NotFound, ProxyExists

    host, port = toxiproxy.url.removeprefix("http://").split(":")
    server = Toxiproxy()
    server.update_api_consumer(host, int(port))
    assert server.running()
    proxy = server.create(upstream=f"127.0.0.1:{http_upstream}", name="tp", listen="127.0.0.1:0")
    with pytest.raises(ProxyExists):
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


def test_chaostoolkit_toxiproxy_drives_it(toxiproxy: Api, http_upstream: int) -> None:
    from chaostoxi.proxy import actions as proxy_actions
    from chaostoxi.proxy import probes as proxy_probes
    from chaostoxi.toxic import actions as toxic_actions

    cfg: dict = {"toxiproxy_url": toxiproxy.url}
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
    assert requests.get(f"{toxiproxy.url}/proxies/ctk/toxics", timeout=T).json() == []
    proxy_actions.delete_proxy("ctk", configuration=cfg)
    assert not proxy_probes.proxy_exist("ctk", configuration=cfg)


def test_proxies_file_recreates_proxies_at_start(tmp_path, http_upstream: int) -> None:
    """A restarted fault proxy (supervisord autorestart) comes back with its proxies, without toxics."""
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
