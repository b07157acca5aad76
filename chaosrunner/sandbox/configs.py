"""Pure renderers for the estate's configuration files: HAProxy (router and CDN steering), the CDN edges
(Varnish VCL, nginx), supervisord, Prometheus, recording rules.

No I/O here: every function takes the topology/ports/paths and returns text or a dict, so the configs
are unit-tested without servers (and ``haproxy -c`` / ``promtool check`` can validate the output).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.sandbox.topology import CDN_EDGES, SERVICE, InstanceSpec, Ports

RULES_WINDOW = "10s"


def haproxy_cfg(specs: Sequence[InstanceSpec], ports: Ports, stats_socket: Path) -> str:
    """HAProxy: Full-region servers active, Read-Only region as backup; 500 ms checks through the proxies.

    ``timeout check 3s`` is generous on purpose: a killed instance fails its check at once (the fault
    proxy closes the connection), while a merely CPU-starved machine should not flap servers down.

    ``retry-on conn-failure empty-response`` + ``option redispatch``: a request that hits a just-killed
    instance (the fault proxy accepts, then closes) is retried on another server instead of failing.
    """
    lines = [
        "global",
        f"    stats socket {stats_socket} mode 600 level admin",
        "    maxconn 4000",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 5s",
        "    timeout check 3s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "frontend pinboard",
        f"    bind 127.0.0.1:{ports.haproxy}",
        f"    default_backend {SERVICE}",
        "frontend monitoring",
        f"    bind 127.0.0.1:{ports.haproxy_metrics}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        f"backend {SERVICE}",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    option allbackups",
        "    default-server inter 500ms fall 2 rise 2",
    ]
    full_regions = {s.region for s in specs if s.region_type == "Full"}
    for s in specs:
        backup = "" if s.region in full_regions else " backup"
        lines.append(f"    server {s.id} 127.0.0.1:{ports.instance_proxy[s.id]} check{backup}")
    return "\n".join(lines) + "\n"


def cdn_steering_cfg(ports: Ports, stats_socket: Path) -> str:
    """The multi-CDN steering layer: the primary edge serves, the secondary takes over when the primary
    fails three 1 s health checks (``backup``), and gives back after two good ones.

    It stands for DNS/traffic-manager steering, so it does not retry a failed request on the other edge
    (``retries 0``): clients see the outage until the switch, as they would until a DNS answer changes.
    """
    edges = [
        f"    server {edge} 127.0.0.1:{ports.edge_proxy[edge]} check{'' if role == 'primary' else ' backup'}"
        for edge, _, role in CDN_EDGES
    ]
    return "\n".join([
        "global",
        f"    stats socket {stats_socket} mode 600 level admin",
        "    maxconn 2000",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 5s",
        "    timeout check 2s",
        "    retries 0",
        "frontend cdn",
        f"    bind 127.0.0.1:{ports.cdn}",
        "    default_backend cdn",
        "frontend cdn-monitoring",
        f"    bind 127.0.0.1:{ports.cdn_metrics}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        "backend cdn",
        "    balance first",
        "    option httpchk GET /healthz",
        "    default-server inter 1s fall 3 rise 2",
        *edges,
    ]) + "\n"


def varnish_vcl(edge: str, origin_port: int) -> str:
    """Edge ``edge`` on Varnish: caches ``/images/`` from the origin as its Cache-Control says, answers
    its own ``/healthz``, and marks every answer with ``X-Edge`` and ``X-Cache: HIT|MISS``."""
    return f"""vcl 4.1;

backend origin {{
    .host = "127.0.0.1";
    .port = "{origin_port}";
    .connect_timeout = 1s;
    .first_byte_timeout = 3s;
    .between_bytes_timeout = 3s;
}}

sub vcl_recv {{
    if (req.url == "/healthz") {{ return (synth(200, "ok")); }}
    if (req.url !~ "^/images/") {{ return (synth(404, "not a CDN path")); }}
    unset req.http.Cookie;
    return (hash);
}}

sub vcl_deliver {{
    set resp.http.X-Edge = "{edge}";
    if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
}}

sub vcl_synth {{
    set resp.http.X-Edge = "{edge}";
}}
"""


def nginx_conf(edge: str, port: int, origin_port: int, root: Path, user: str) -> str:
    """Edge ``edge`` on nginx: the same contract as :func:`varnish_vcl` (``proxy_cache`` honours the
    origin's Cache-Control; ``X-Cache`` is nginx's ``$upstream_cache_status``)."""
    d = root / "cdn" / edge
    return f"""user {user};
daemon off;
master_process on;
worker_processes 1;
pid {d / 'nginx.pid'};
error_log {root / 'logs' / (edge + '-error.log')} warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d / 'body'};
    proxy_temp_path {d / 'proxy'};
    fastcgi_temp_path {d / 'fastcgi'};
    uwsgi_temp_path {d / 'uwsgi'};
    scgi_temp_path {d / 'scgi'};
    proxy_cache_path {d / 'cache'} keys_zone={edge}:4m max_size=64m inactive=10m use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ add_header X-Edge {edge} always; return 200 "ok\n"; }}
        location /images/ {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_cache {edge};
            proxy_connect_timeout 1s;
            proxy_read_timeout 3s;
            add_header X-Edge {edge} always;
            add_header X-Cache $upstream_cache_status always;
        }}
        location / {{ return 404; }}
    }}
}}
"""


@dataclass
class Program:
    """One supervisord program: name, argv, start order (priority: lower starts first)."""

    name: str
    argv: list[str]
    priority: int = 100
    autorestart: bool = True
    autostart: bool = True  # False: started over XML-RPC once what it depends on is ready
    stop_wait_s: int = 5    # SIGKILL after this many seconds (throwaway servers: short)


def supervisord_conf(programs: Sequence[Program], port: int, root: Path) -> str:
    """supervisord with XML-RPC on 127.0.0.1:port (no auth: loopback only), one log per program."""
    logs = root / "logs"
    out = [
        "[supervisord]",
        f"logfile={root / 'supervisor' / 'supervisord.log'}",
        f"pidfile={root / 'supervisor' / 'supervisord.pid'}",
        f"childlogdir={logs}",
        "nodaemon=true",
        "loglevel=info",
        "",
        "[inet_http_server]",
        f"port=127.0.0.1:{port}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=http://127.0.0.1:{port}",
        "",
    ]
    for p in programs:
        out += [
            f"[program:{p.name}]",
            "command=" + " ".join(shlex.quote(a) for a in p.argv).replace("%", "%%"),
            f"priority={p.priority}",
            f"autostart={'true' if p.autostart else 'false'}",
            f"autorestart={'true' if p.autorestart else 'false'}",
            "startsecs=0",
            "startretries=1000",
            "stopasgroup=true",
            "killasgroup=true",
            f"stopwaitsecs={p.stop_wait_s}",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (p.name + '.log')}",
            "stdout_logfile_maxbytes=5MB",
            "stdout_logfile_backups=1",
            "",
        ]
    return "\n".join(out)


def prometheus_jobs(specs: Sequence[InstanceSpec], ports: Ports) -> dict[str, list[dict[str, Any]]]:
    """Scrape targets: instances directly (not through the fault proxy), HAProxy's exporter, the loadgen.

    Instance targets carry service/region/zone/tier and ``instance=<id>`` labels, so ``up`` series are
    selectable with the same labels as the service's own metrics.
    """
    return {
        SERVICE: [
            {"targets": [f"127.0.0.1:{ports.instance[s.id]}"],
             "labels": {"service": SERVICE, "region": s.region, "zone": s.zone, "tier": s.tier,
                        "instance": s.id}}
            for s in specs
        ],
        "haproxy": [{"targets": [f"127.0.0.1:{ports.haproxy_metrics}"], "labels": {"instance": "haproxy"}}],
        "cdn-steering": [{"targets": [f"127.0.0.1:{ports.cdn_metrics}"], "labels": {"instance": "cdn-steering"}}],
        "loadgen": [{"targets": [f"127.0.0.1:{ports.loadgen}"], "labels": {"instance": "loadgen",
                                                                          "service": SERVICE}}],
    }


def finish_prometheus_config(doc: dict[str, Any], rules_file: Path) -> dict[str, Any]:
    """Add our rule file and ``honor_labels`` (the service exports its own ``instance`` label)."""
    doc = dict(doc)
    doc["rule_files"] = [str(rules_file)]
    for job in doc.get("scrape_configs", []):
        if job["job_name"] in (SERVICE, "loadgen"):
            job["honor_labels"] = True
    return doc


def recording_rules(window: str = RULES_WINDOW) -> dict[str, Any]:
    """SLI recording rules (names documented in docs/sandbox.md; probes/sandbox.yaml may use them).

    Error ratio = 5xx / all requests of the service's read and write routes; p99 from the histogram.
    ``healthz`` is not a route we count. NaN when there is no traffic in the window.
    """
    rules: list[dict[str, str]] = []
    for level, by in (("service", "service"), ("service_region", "service, region"),
                      ("service_region_zone", "service, region, zone")):
        rules.append({
            "record": f"{level}:http_request_errors:ratio_rate{window}",
            "expr": f'sum by ({by}) (rate(http_requests_total{{code=~"5.."}}[{window}])) '
                    f"/ sum by ({by}) (rate(http_requests_total[{window}]))",
        })
        rules.append({
            "record": f"{level}:http_requests:rate{window}",
            "expr": f"sum by ({by}) (rate(http_requests_total[{window}]))",
        })
        rules.append({
            "record": f"{level}:http_request_duration_seconds:p99_rate{window}",
            "expr": f"histogram_quantile(0.99, sum by ({by}, le) "
                    f"(rate(http_request_duration_seconds_bucket[{window}])))",
        })
    rules += [
        {"record": f"loadgen:requests_errors:ratio_rate{window}",
         "expr": f'sum(rate(loadgen_requests_total{{outcome="error"}}[{window}])) '
                 f"/ sum(rate(loadgen_requests_total[{window}]))"},
        {"record": f"loadgen:requests:rate{window}",
         "expr": f"sum(rate(loadgen_requests_total[{window}]))"},
        {"record": f"loadgen:request_duration_seconds:p99_rate{window}",
         "expr": f"histogram_quantile(0.99, sum by (le) (rate(loadgen_request_duration_seconds_bucket[{window}])))"},
        {"record": f"loadgen:request_duration_seconds:p50_rate{window}",
         "expr": f"histogram_quantile(0.50, sum by (le) (rate(loadgen_request_duration_seconds_bucket[{window}])))"},
        # the CDN as its clients saw it: cache hit ratio and success, overall and per edge
        {"record": f"loadgen:cdn_hits:ratio_rate{window}",
         "expr": f'sum(rate(loadgen_cdn_requests_total{{cache="HIT"}}[{window}])) '
                 f'/ sum(rate(loadgen_cdn_requests_total{{outcome="success"}}[{window}]))'},
        {"record": f"loadgen:cdn_requests_errors:ratio_rate{window}",
         "expr": f'sum(rate(loadgen_cdn_requests_total{{outcome="error"}}[{window}])) '
                 f"/ sum(rate(loadgen_cdn_requests_total[{window}]))"},
        {"record": f"edge:loadgen_cdn_requests:rate{window}",
         "expr": f"sum by (edge, outcome) (rate(loadgen_cdn_requests_total[{window}]))"},
    ]
    return {"groups": [{"name": "sandbox-slis", "interval": "1s", "rules": rules}]}
