"""The SLO catalog: format, validation errors with file and key, scoping of queries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from chaosrunner.core.validation import InvalidInput
from chaosrunner.slo.catalog import Scope, load_catalog, render, scopes_for, selector

REPO = Path(__file__).resolve().parents[2]

GOOD = {
    "name": "pinboard-availability",
    "service": "pinboard",
    "objective": "99.9%",
    "window": "30d",
    "sli": {
        "type": "error_ratio",
        "bad": 'sum(rate(http_requests_total{code=~"5..",{{selector}}}[{{window}}]))',
        "total": "sum(rate(http_requests_total{ {{selector}} }[{{window}}]))",
    },
}


def write(tmp_path: Path, doc: object, name: str = "slos.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


def test_repository_catalog_is_valid() -> None:
    cat = load_catalog([REPO / "probes"])
    assert {"pinboard-availability", "pinboard-latency"} <= set(cat.slos)
    assert cat.get("pinboard-availability").objective == pytest.approx(0.999)
    assert cat.get("pinboard-availability").window == 30 * 86400


def test_objective_accepts_number_and_percent(tmp_path: Path) -> None:
    a = {**GOOD, "objective": 99.9}
    b = {**GOOD, "name": "b", "objective": "99.9%"}
    cat = load_catalog([write(tmp_path, {"slos": [a, b]})])
    assert cat.get("pinboard-availability").objective == pytest.approx(cat.get("b").objective)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"objective": 100}, "slos[0].objective", "below 100%"),
        ({"objective": "abc"}, "slos[0].objective", "percentage"),
        ({"window": "soon"}, "slos[0].window", "duration"),
        ({"name": "Bad Name"}, "slos[0].name", "lower-case"),
        ({"sli": {**GOOD["sli"], "bad": "sum(rate(x[5m]))"}}, "slos[0].sli.error_ratio.bad", "{{selector}}"),
        ({"sli": {"type": "error_ratio", "total": GOOD["sli"]["total"]}}, "slos[0].sli.error_ratio", "exactly one"),
        ({"sli": {"type": "latency", "histogram": "h", "threshold": 0}}, "slos[0].sli.latency.threshold", "positive"),
        ({"sli": {"type": "quantile"}}, "slos[0].sli", "type"),
        ({"surprise": 1}, "slos[0].surprise", "Extra inputs"),
    ],
)
def test_invalid_catalog_names_file_and_key(tmp_path: Path, change: dict, key: str, words: str) -> None:
    path = write(tmp_path, {"slos": [{**GOOD, **change}]})
    with pytest.raises(InvalidInput) as e:
        load_catalog([path])
    text = e.value.render()
    assert f"{path}: {key}" in text and words in text, text


def test_duplicate_names_are_refused_across_files(tmp_path: Path) -> None:
    write(tmp_path, {"slos": [GOOD]}, "a.yaml")
    write(tmp_path, {"slos": [GOOD]}, "b.yaml")
    with pytest.raises(InvalidInput) as e:
        load_catalog([tmp_path])
    assert "b.yaml: slos[0].name" in e.value.render() and "already defined" in e.value.render()


def test_unknown_slo_name_lists_the_known_ones(tmp_path: Path) -> None:
    cat = load_catalog([write(tmp_path, {"slos": [GOOD]})])
    with pytest.raises(KeyError, match="pinboard-availability"):
        cat.get("nope")


def test_scopes_split_targets_zones_from_the_rest_of_the_service(tmp_path: Path) -> None:
    slo = load_catalog([write(tmp_path, {"slos": [{**GOOD, "labels": {"zone": "az"}}]})]).get(
        "pinboard-availability"
    )
    scopes = scopes_for(slo, {"pinboard"}, {"us-east-a"}, {"us-east"})
    assert [s.name for s in scopes] == ["in", "service", "out:zone"]
    assert selector(slo, scopes[0]) == 'service="pinboard",az=~"us-east-a"'
    assert selector(slo, scopes[1]) == 'service="pinboard"'
    assert selector(slo, scopes[2]) == 'service="pinboard",az!~"us-east-a"'
    bad, total = slo.sli.rate_queries()
    assert render(bad, slo, scopes[0], "5s") == (
        'sum(rate(http_requests_total{code=~"5..",service="pinboard",az=~"us-east-a"}[5s]))'
    )
    # A service that is not targeted is watched as a whole, out of scope.
    assert [s.name for s in scopes_for(slo, {"search"}, {"us-east-a"}, set())] == ["out:service"]


def test_a_client_vantage_slo_is_one_in_scope_reading_of_the_whole_service(tmp_path: Path) -> None:
    """The clients' own metrics carry no zone or region of the service: scoping them to the run's zone would
    read nothing ("no data" aborts), and an out-of-scope remainder would be empty."""
    slo = load_catalog([write(tmp_path, {"slos": [{**GOOD, "vantage": "client"}]})]).get("pinboard-availability")
    scopes = scopes_for(slo, {"pinboard"}, {"us-east-a"}, {"us-east"})
    assert [(s.name, s.include) for s in scopes] == [("in", ())]
    assert selector(slo, scopes[0]) == 'service="pinboard"'
    assert [s.name for s in scopes_for(slo, {"search"}, {"us-east-a"}, set())] == ["out:service"]
    with pytest.raises(InvalidInput, match="vantage"):
        load_catalog([write(tmp_path, {"slos": [{**GOOD, "vantage": "edge"}]})])


def test_selector_escapes_regex_and_quotes(tmp_path: Path) -> None:
    slo = load_catalog([write(tmp_path, {"slos": [GOOD]})]).get("pinboard-availability")
    sel = selector(slo, Scope("in", include=(("zone", ("a.b", 'q"z')),)))
    assert sel == 'service="pinboard",zone=~"a\\\\.b|q\\"z"'


def test_latency_sli_is_the_share_of_requests_slower_than_the_threshold(tmp_path: Path) -> None:
    doc = {**GOOD, "name": "lat", "objective": 99,
           "sli": {"type": "latency", "histogram": "h_seconds", "threshold": "200ms", "quantile": 0.99}}
    slo = load_catalog([write(tmp_path, {"slos": [doc]})]).get("lat")
    bad, total = slo.sli.rate_queries()
    assert render(bad, slo, Scope("service"), "5s") == (
        '(sum(rate(h_seconds_count{service="pinboard"}[5s]))) - '
        '(sum(rate(h_seconds_bucket{le="0.2",service="pinboard"}[5s])))'
    )
    assert render(total, slo, Scope("service"), "5s") == 'sum(rate(h_seconds_count{service="pinboard"}[5s]))'


def test_cli_slo_validate_exits_2_with_file_and_key(tmp_path: Path) -> None:
    from chaosrunner.cli import app

    bad = write(tmp_path, {"slos": [{**GOOD, "objective": 101}]})
    result = CliRunner().invoke(app, ["slo", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: slos[0].objective" in result.output
    ok = CliRunner().invoke(app, ["slo", "validate", str(REPO / "probes")])
    assert ok.exit_code == 0, ok.output
    assert "pinboard-availability" in ok.output
