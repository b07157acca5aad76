"""The fast signal: SLIs read straight from the services' counters every 100 ms, beside Prometheus.

Pure parts (parsing a real exposition page, the increments window, the scope filter), the catalog's
validation, and end to end on the guard tests' service + real Prometheus: a fault that the fast signal sees
first aborts the run with its reason, while Prometheus' guard is set too slow to decide before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from chaosrunner.core.validation import InvalidInput
from chaosrunner.guard.fast import Window, counts, series_filter
from chaosrunner.slo.catalog import Scope, Slo
from tests.guard.conftest import ServiceEstate
from tests.guard.test_run_guarded import TARGET, experiment, healthy, journal, run

SLO = Slo.model_validate({
    "name": "a", "service": "pinboard", "objective": "99.9%", "matchers": {"route": "read"},
    "sli": {"type": "error_ratio", "bad": 'sum(rate(x{code=~"5..",{{selector}}}[{{window}}]))',
            "total": "sum(rate(x{ {{selector}} }[{{window}}]))"},
    "fast": {"metric": "http_requests_total", "bad": {"code": "5.."}},
})


def _page(values: dict[tuple[str, str, str, str], float]) -> str:
    reg = CollectorRegistry()
    c = Counter("http_requests_total", "h", ["service", "zone", "route", "code"], registry=reg)
    for labels, v in values.items():
        c.labels(*labels).inc(v)
    return generate_latest(reg).decode()


def test_counts_keep_the_slos_series_in_scope_and_mark_the_bad_ones() -> None:
    page = _page({("pinboard", "us-east-a", "read", "200"): 90, ("pinboard", "us-east-a", "read", "503"): 10,
                  ("pinboard", "us-east-b", "read", "503"): 7, ("pinboard", "us-east-a", "write", "503"): 5,
                  ("search", "us-east-a", "read", "503"): 3})
    belongs = series_filter(SLO, Scope("in", include=(("zone", ("us-east-a",)),)))
    got = counts(page, "http_requests_total", belongs, {"code": "5.."})
    assert sorted((dict(k)["code"], v) for k, v in got.items()) == [("200", (90.0, False)), ("503", (10.0, True))]
    assert len(counts(page, "http_requests", series_filter(SLO, Scope("in")), {"code": "5.."})) == 3


def test_the_window_adds_increments_restarts_reset_counters_and_forgets_old_ones() -> None:
    w = Window(seconds=1.0)
    key = (("code", "500"),)
    ok = (("code", "200"),)
    w.add(0.0, "u", {key: (0.0, True), ok: (100.0, False)})  # starting point: no increment yet
    assert w.ratio(min_events=1) is None
    w.add(0.5, "u", {key: (5.0, True), ok: (105.0, False)})
    assert w.ratio(min_events=1) == pytest.approx(0.5)
    assert w.ratio(min_events=11) is None  # 10 events: too few to judge
    w.add(0.8, "u", {key: (1.0, True), ok: (2.0, False)})  # the process restarted: counts from zero
    assert w.ratio(min_events=1) == pytest.approx(6 / 13)
    w.add(2.0, "u", {key: (1.0, True), ok: (12.0, False)})  # the earlier increments left the window
    assert w.ratio(min_events=1) == pytest.approx(0.0)


def test_a_fast_block_is_for_error_ratio_slis_with_valid_regexes(tmp_path: Path) -> None:
    from chaosrunner.slo.catalog import load_catalog

    bad = tmp_path / "c.yaml"
    bad.write_text("slos:\n  - name: l\n    service: s\n    objective: 99%\n"
                   "    sli: {type: latency, histogram: h, threshold: 200ms}\n"
                   "    fast: {metric: h_count, bad: {code: '5..'}}\n"
                   "  - name: e\n    service: s\n    objective: 99%\n"
                   "    sli: {type: error_ratio, bad: 'sum(rate(x{ {{selector}} }[{{window}}]))',"
                   " total: 'sum(rate(x{ {{selector}} }[{{window}}]))'}\n"
                   "    fast: {metric: x, bad: {code: '5..('}}\n")
    with pytest.raises(InvalidInput) as e:
        load_catalog([bad])
    text = str(e.value)
    assert "only an error_ratio SLI has a fast reading" in text and "not a regular expression" in text


@pytest.mark.slow
def test_the_fast_signal_aborts_before_prometheus_can_and_says_so(estate: ServiceEstate, tmp_path: Path) -> None:
    # Prometheus' guard: one sample every 2 s, 5 in a row to abort — at least 8 s; the fast one reads every 100 ms
    path = experiment(tmp_path, estate, pause_s=20, fault={"match": {"target": TARGET}, "error_ratio": 0.5},
                      slo_guard={"slos": ["pinboard-availability"], "interval": "2s",
                                 "abort_on": {"burn_rate": 14.4, "consecutive": 5},
                                 "fast": {"interval": "100ms", "window": "1s", "consecutive": 2}})
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 3 and cr["verdict"] == "aborted", cr.get("reason")
    assert cr["abort"]["reason"].startswith("fast signal: burn rate"), cr["abort"]
    assert "pinboard-availability" in cr["abort"]["reason"]
    fast = cr["guard"]["fast"]
    assert fast["endpoints"] == [f"{estate.service_url}/metrics"] and fast["readings"] >= 2
    assert fast["peak_burn"]["pinboard-availability"] > 14.4
    assert cr["timings"]["time_to_abort_s"] < 8  # before Prometheus' guard could have decided
    assert healthy(estate)  # rolled back


@pytest.mark.slow
def test_the_fast_signal_reads_but_does_not_abort_a_healthy_service(estate: ServiceEstate, tmp_path: Path) -> None:
    # only the fast signal is judged here: Prometheus' guard is given no chance to decide in a 2 s run (in CI it
    # once aborted on readings of an earlier test's errors still in its 5 s window); were the service failing,
    # the fast signal reading the same counters would see it and the peak below would say so
    path = experiment(tmp_path, estate, pause_s=2, fault={"match": {"target": TARGET}, "error_ratio": 0.0},
                      slo_guard={"slos": ["pinboard-availability"],
                                 "abort_on": {"burn_rate": 14.4, "consecutive": 100},
                                 "fast": {"interval": "100ms", "window": "1s", "consecutive": 1}})
    code, result = run(path)
    cr = journal(result)["chaosrunner"]
    assert code == 0, cr.get("reason")
    fast = cr["guard"]["fast"]
    assert fast["readings"] >= 10 and fast["peak_burn"]["pinboard-availability"] == 0, fast
    assert fast["endpoint_errors"] == {}
