"""Prometheus access: typed errors from a real Prometheus 2.42, and the launcher's config."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chaosrunner.core.ports import free_port
from chaosrunner.sandbox.prometheus import PrometheusServer, render_config
from chaosrunner.slo.prometheus import BadQuery, EmptyResult, NotANumber, PrometheusSource, PrometheusUnreachable


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path_factory.mktemp("prom"), {"self": []}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_scalar_reads_a_number(prom: PrometheusServer) -> None:
    assert PrometheusSource(prom.url).scalar("vector(2) + vector(3)") == 5.0
    assert PrometheusSource(prom.url).scalar("scalar(vector(7))") == 7.0


@pytest.mark.slow
def test_empty_result_is_an_explicit_error(prom: PrometheusServer) -> None:
    with pytest.raises(EmptyResult, match="no data"):
        PrometheusSource(prom.url).scalar('rate(absent_metric_total{job="x"}[5s])')


@pytest.mark.slow
def test_nan_is_an_explicit_error(prom: PrometheusServer) -> None:
    with pytest.raises(NotANumber):
        PrometheusSource(prom.url).scalar("vector(0) / vector(0)")


@pytest.mark.slow
def test_bad_promql_is_an_explicit_error(prom: PrometheusServer) -> None:
    with pytest.raises(BadQuery, match="rejected"):
        PrometheusSource(prom.url).scalar("sum(rate(")


def test_a_batched_read_answers_each_expression_as_its_own_read_would(prom: PrometheusServer) -> None:
    """One request for many expressions (the guard's 50 SLOs are ~325): numbers, sums over several series,
    no data and NaN come back per expression, in order, as ``scalar`` would raise or return them."""
    src = PrometheusSource(prom.url)
    exprs = ["vector(2) + vector(3)", 'rate(absent_metric_total{job="x"}[5s])', "vector(0) / vector(0)",
             'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(4), "a", "y", "", "")',
             "sum(vector(9))"]
    out = src.scalars(exprs)
    assert out[0] == 5.0 and isinstance(out[1], EmptyResult) and isinstance(out[2], NotANumber)
    assert out[3] == 5.0 == src.scalar(exprs[3])  # several series: summed, as scalar() sums them
    assert out[4] == 9.0
    with pytest.raises(BadQuery):  # a scalar-typed expression cannot be tagged: the caller reads it alone
        src.scalars(["scalar(vector(7))", "vector(1)"])
    assert src.scalars(["scalar(vector(7))"]) == [7.0]  # alone it is a plain read


def test_unreachable_server_fails_fast_without_retries() -> None:
    src = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    with pytest.raises(PrometheusUnreachable, match="unreachable"):
        src.scalar("up")
    assert not src.healthy()


def test_launcher_config_is_valid_for_promtool(tmp_path: Path) -> None:
    doc = render_config(
        {"svc": ["127.0.0.1:1"], "pinboard": [{"targets": ["127.0.0.1:2"], "labels": {"zone": "us-east-a"}}]},
        scrape_interval_s=0.5,
    )
    assert doc["global"]["scrape_interval"] == "500ms"
    assert doc["scrape_configs"][1]["static_configs"][0]["labels"] == {"zone": "us-east-a"}
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(doc))
    out = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_launcher_waits_for_the_first_scrape_and_stops_cleanly(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "p", {"self": []})
    server.port = free_port()
    server.jobs = {"self": [f"127.0.0.1:{server.port}"]}
    server.start()
    try:
        server.wait_for_up("self", timeout=30)
        assert server.query('up{job="self"}')[0]["value"][1] == "1"
    finally:
        server.stop()
    assert not server.alive()
    with pytest.raises(PrometheusUnreachable):
        PrometheusSource(server.url, timeout_s=0.5).scalar("up")


@pytest.mark.slow
def test_every_repository_catalog_query_is_valid_promql(prom: PrometheusServer) -> None:
    from chaosrunner.slo.catalog import load_catalog, promql_duration, render, scopes_for

    repo = Path(__file__).resolve().parents[2]
    src = PrometheusSource(prom.url)
    catalog = load_catalog([repo / "probes"])
    checked = 0
    for slo in catalog.slos.values():
        templates = [*slo.sli.rate_queries()]
        if getattr(slo.sli, "quantile_query", None) and slo.sli.quantile_query():
            templates.append(slo.sli.quantile_query())
        for scope in scopes_for(slo, {slo.service}, {"z-a"}, {"r"}) + scopes_for(slo, {"other"}, set(), set()):
            for template in templates:
                for window in ("5s", promql_duration(slo.window)):
                    try:
                        src.scalar(render(template, slo, scope, window))
                    except (EmptyResult, NotANumber):
                        pass  # no such series on this Prometheus: fine, the syntax was accepted
                    checked += 1
    assert checked >= 30
