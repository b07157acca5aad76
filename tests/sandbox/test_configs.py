"""Pure parts of the estate: topology, ports, rendered configs (validated by the real tools), demo order."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from chaosrunner.calendar.model import load_calendar
from chaosrunner.cli.demo import render_summary
from chaosrunner.sandbox import configs
from chaosrunner.sandbox.loadgen import percentile, summarize
from chaosrunner.sandbox.topology import allocate_ports, instances
from chaosrunner.schedule.gameday import plan_from_calendar

REPO = Path(__file__).resolve().parents[2]


def test_topology_has_three_region_types_five_zones_ten_instances_and_three_critical() -> None:
    specs = instances()
    assert len(specs) == 10
    assert {(s.region, s.region_type) for s in specs} == {
        ("us-east", "Full"), ("eu-west", "Read-Only"), ("ap-south", "Lightweight")}
    assert len({s.zone for s in specs}) == 5
    assert [s.id for s in specs if s.tier == "critical"] == [
        "pinboard-us-east-a-1", "pinboard-eu-west-a-1", "pinboard-ap-south-a-1"]


def test_base_port_gives_consecutive_unique_ports() -> None:
    ports = allocate_ports(20000)
    allp = ports.all()
    assert len(allp) == len(set(allp)) == 16 + 20 + 4  # fixed, instances and their proxies, edges and theirs
    assert min(allp) == 20000 and max(allp) == 20039
    assert ports.haproxy == 20000


def test_haproxy_config_is_valid_and_read_only_region_is_backup(tmp_path: Path) -> None:
    ports = allocate_ports(21000)
    text = configs.haproxy_cfg(instances(), ports, tmp_path / "h.sock")
    assert "server pinboard-eu-west-a-1 127.0.0.1:" in text
    for line in text.splitlines():
        if "server pinboard-eu-west" in line or "server pinboard-ap-south" in line:
            assert line.endswith(" backup")
        if "server pinboard-us-east" in line:
            assert not line.endswith(" backup")
    assert "inter 500ms fall 2 rise 2" in text and "option redispatch" in text
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    result = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cdn_tier_configs_are_valid_for_haproxy_varnish_and_nginx(tmp_path: Path) -> None:
    ports = allocate_ports(23000)
    steering = tmp_path / "steering.cfg"
    steering.write_text(configs.cdn_steering_cfg(ports, tmp_path / "cdn.sock"))
    text = steering.read_text()
    assert f"server edge-a 127.0.0.1:{ports.edge_proxy['edge-a']} check\n" in text
    assert f"server edge-b 127.0.0.1:{ports.edge_proxy['edge-b']} check backup" in text
    assert "retries 0" in text and "inter 1s fall 3 rise 2" in text
    result = subprocess.run(["haproxy", "-c", "-f", str(steering)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    vcl = tmp_path / "edge-a.vcl"
    vcl.write_text(configs.varnish_vcl("edge-a", ports.haproxy))
    result = subprocess.run(["varnishd", "-C", "-j", "none", "-f", str(vcl), "-n", str(tmp_path / "v")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    (tmp_path / "logs").mkdir()
    for d in ("cdn/edge-b",):
        (tmp_path / d).mkdir(parents=True)
    conf = tmp_path / "edge-b.conf"
    conf.write_text(configs.nginx_conf("edge-b", ports.edge["edge-b"], ports.haproxy, tmp_path, "root root"))
    result = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path / "cdn" / "edge-b"),
                             "-e", str(tmp_path / "logs" / "e.log")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_cdn_summary_counts_hits_among_served_fetches_per_edge() -> None:
    from chaosrunner.sandbox.loadgen import summarize_cdn

    rows = [(100.0, "edge-a", "HIT", True, 0.01), (101.0, "edge-a", "MISS", True, 0.02),
            (102.0, "none", "none", False, 1.0), (103.0, "edge-b", "MISS", True, 0.03)]
    s = summarize_cdn(rows, now=104.0, window_s=10.0)
    assert (s["requests"], s["success"], s["hit_ratio"]) == (4, 3, 1 / 3)
    assert s["by_edge"]["edge-a"]["hit_ratio"] == 0.5 and s["by_edge"]["none"]["success_ratio"] == 0.0


def test_recording_rules_are_valid_promql(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(configs.recording_rules()))
    result = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    names = {r["record"] for r in configs.recording_rules()["groups"][0]["rules"]}
    assert "service_region_zone:http_request_errors:ratio_rate10s" in names
    assert "loadgen:requests_errors:ratio_rate10s" in names


def test_supervisord_conf_escapes_percent_and_sets_autorestart(tmp_path: Path) -> None:
    conf = configs.supervisord_conf([configs.Program("a", ["echo", "50%"], 10, autostart=False)], 9001, tmp_path)
    assert "command=echo 50%%" in conf and "autorestart=true" in conf and "autostart=false" in conf
    assert "port=127.0.0.1:9001" in conf


def test_demo_runs_the_weekly_calendar_monday_first_with_its_overrides() -> None:
    plan = plan_from_calendar(load_calendar(REPO / "schedules" / "weekly.yaml"))
    assert [Path(s.experiment).name for s in plan.experiments] == [
        "mon-instance-kill.yaml", "tue-latency.yaml", "wed-resource-starvation.yaml",
        "thu-database-failover.yaml", "fri-regional-failover.yaml"]
    assert plan.keep_going and all(Path(s.experiment).is_file() for s in plan.experiments)
    assert "latency_ms" in plan.experiments[1].vars


def test_loadgen_summary_is_windowed() -> None:
    samples = [(100.0, "read", True, 0.010), (105.0, "write", False, 0.5), (109.0, "read", True, 0.020)]
    s = summarize(samples, now=110.0, window_s=6.0)
    assert (s["requests"], s["errors"], s["by_kind"]["write"]["errors"]) == (2, 1, 1)
    assert s["success_ratio"] == 0.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([], 99) is None


def test_summary_renders_without_experiments() -> None:
    text = render_summary({"root": "/r", "calendar": "schedules/weekly.yaml", "ok": True, "up_s": 20,
                           "total_s": 40, "report": "/j/reports/demo.html",
                           "runs": [{"experiment": "mon-instance-kill.yaml", "verdict": "passed",
                                     "figure": "replacement_time_s=3.1", "journal": "/j/x.json"}]})
    assert "replacement_time_s=3.1" in text and "game-day report: /j/reports/demo.html" in text
    assert "all passed" in text


def test_cli_rejects_bad_options_with_exit_2(tmp_path: Path) -> None:
    import sys

    result = subprocess.run([sys.executable, "-m", "chaosrunner", "sandbox", "up", "--rps", "-1", "--root",
                             str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--rps" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_toxiproxy_server_on_path_replaces_the_builtin_fault_proxy(tmp_path: Path, monkeypatch) -> None:
    from chaosrunner.sandbox import estate

    binary = tmp_path / "toxiproxy-server"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    assert estate._toxiproxy_binary(None) is None
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert estate._toxiproxy_binary("auto") == str(binary)
    opts = estate.SandboxOptions(root=tmp_path)
    ports = allocate_ports(22000)
    programs = estate._programs(opts, ports, {"proxies": tmp_path / "p.json", "haproxy": tmp_path / "h.cfg",
                                              "prometheus": tmp_path / "p.yml", "cdn": tmp_path / "c.cfg"},
                                {"write": "w", "read_full": "r", "read_replica": "rr", "link_write": "lw",
                                 "link_read": "lr"}, str(binary))
    fault = next(p for p in programs if p.name == "faultproxy")
    assert fault.argv == [str(binary), "-host", "127.0.0.1", "-port", str(ports.toxiproxy)]
    names = {p.name for p in programs}
    assert {"haproxy", "prometheus", "loadgen", "edge-a", "edge-b", "cdn-steering"} <= names and len(names) == 17
    eu = next(p for p in programs if p.name == "pinboard-eu-west-b-1")
    assert eu.argv[eu.argv.index("--read-dsn") + 1] == "rr"
