"""Hostile input: every content format is fuzzed; the answer is InvalidInput naming the file, never a traceback.

Formats: experiments (``experiment.load_experiment``), SLO catalogs (``slo.load_catalog``), calendars
(``schedule.calendar.load_calendar``), journals (``journal.store.load_journal``). Two kinds of fuzz per
format: arbitrary bytes, and a valid seed document with one value replaced, deleted or retyped at a random
key path (absurd numbers, wrong types, traversal strings). Then the named absurd values one by one.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosrunner.calendar.model import load_calendar
from chaosrunner.core.validation import CONTENT_LIMITS, InvalidInput, load_document
from chaosrunner.experiment.loader import load_experiment
from chaosrunner.faults.ledger import Ledger
from chaosrunner.journal.layout import journal_path
from chaosrunner.journal.store import find_journal, load_journal
from chaosrunner.slo.catalog import load_catalog

EXPERIMENT: dict[str, Any] = {
    "title": "latency on one pinboard instance",
    "description": "fuzz seed",
    "configuration": {"marks": "/tmp/never-written"},
    "method": [
        {
            "type": "action",
            "name": "inject",
            "provider": {
                "type": "python",
                "module": "chaos_undo_marks",
                "func": "append_line",
                "arguments": {"path": "${marks}"},
            },
            "pauses": {"after": 1},
        }
    ],
    "rollbacks": [
        {
            "type": "action",
            "name": "revert",
            "provider": {
                "type": "python",
                "module": "chaos_undo_marks",
                "func": "delete_file",
                "arguments": {"path": "${marks}"},
            },
        }
    ],
    "extensions": [
        {
            "name": "chaosrunner",
            "targets": {"inventory": "sandbox", "select": {"service": "pinboard"}, "pick": 1},
            "blast_radius": {
                "services": ["pinboard"],
                "tiers": ["non-critical"],
                "max_targets": 1,
                "max_percent": "25%",
                "zones": 1,
                "regions": 1,
                "max_duration": "10m",
                "error_budget": "1%",
            },
            "slo_guard": {
                "slos": ["pinboard-availability"],
                "interval": "1s",
                "abort_on": {"burn_rate": 14.4, "consecutive": 2},
                "recovery_deadline": "30m",
            },
            "timeouts": {"activity": "120s"},
        }
    ],
}

CATALOG: dict[str, Any] = {
    "slos": [
        {
            "name": "pinboard-availability",
            "service": "pinboard",
            "objective": 99.9,
            "window": "30d",
            "sli": {
                "type": "error_ratio",
                "bad": 'sum(rate(http_requests_total{code=~"5..", {{selector}}}[{{window}}]))',
                "total": "sum(rate(http_requests_total{ {{selector}} }[{{window}}]))",
            },
            "labels": {"service": "service", "zone": "zone"},
        },
        {
            "name": "pinboard-latency",
            "service": "pinboard",
            "objective": "99%",
            "sli": {"type": "latency", "histogram": "http_request_duration_seconds", "threshold": "200ms"},
        },
    ],
}

CALENDAR: dict[str, Any] = {
    "timezone": "America/Los_Angeles",
    "work_days": ["mon", "tue", "wed", "thu", "fri"],
    "business_hours": {"start": "09:00", "end": "17:00"},
    "entries": [
        {
            "name": "tuesday-latency",
            "experiment": "experiment.yaml",
            "day": "tue",
            "at": "10:00",
            "configuration": {"latency_ms": 200},
        },
        {"name": "hourly", "experiment": "experiment.yaml", "cron": "0 10-16 * * 1-5"},
    ],
}

JOURNAL: dict[str, Any] = {
    "status": "completed",
    "start": "2026-11-22T01:00:00Z",
    "end": "2026-11-22T01:05:00Z",
    "duration": 300.0,
    "deviated": False,
    "experiment": {"title": "t", "description": "d"},
    "run": [],
    "rollbacks": [],
    "chaosrunner": {
        "format": 1,
        "run_id": "20261122T010000Z-latency-abc123",
        "complete": True,
        "trigger": "cli",
        "started_at": "2026-11-22T01:00:00Z",
        "ended_at": "2026-11-22T01:05:00Z",
        "verdict": "aborted",
        "reason": "burn rate",
        "exit_code": 3,
        "activities": [
            {
                "name": "inject",
                "phase": "method",
                "type": "action",
                "provider": "python",
                "status": "succeeded",
                "start": "2026-11-22T01:00:01Z",
                "end": "2026-11-22T01:00:02Z",
                "duration": 1.0,
                "error": None,
            }
        ],
        "guard": {
            "samples": [
                {
                    "t": "2026-11-22T01:00:03Z",
                    "elapsed_s": 1.0,
                    "slos": {"a": {"sli": 0.99, "burn_rate": 10.0, "scope": "in"}},
                    "budget_spent": 0.001,
                }
            ],
            "decisions": [],
            "budget": {"before": 0.8, "after": 0.79, "spent": 0.01, "allowance": 0.01},
        },
        "ledger": [
            {
                "id": "0123456789abcdef",
                "fault": "latency",
                "target": "proxy",
                "outcome": "undone",
                "recorded_at": "2026-11-22T01:00:01Z",
                "closed_at": "2026-11-22T01:04:00Z",
            }
        ],
        "timings": {
            "time_to_detect_s": 2.0,
            "time_to_abort_s": 0.1,
            "time_to_rollback_s": 0.5,
            "time_to_recover_s": None,
        },
        "figures": {},
        "recovered_by": None,
    },
}


def _write(directory: Path, name: str, doc: Any, as_json: bool) -> Path:
    path = directory / name
    path.write_text(json.dumps(doc) if as_json else yaml.safe_dump(doc, sort_keys=False))
    return path


def _experiment(d: Path, doc: Any) -> Any:
    return load_experiment(_write(d, "experiment.yaml", doc, False))


def _catalog(d: Path, doc: Any) -> Any:
    return load_catalog([_write(d, "catalog.yaml", doc, False)])


def _calendar(d: Path, doc: Any) -> Any:
    _write(d, "experiment.yaml", EXPERIMENT, False)
    return load_calendar(_write(d, "calendar.yaml", doc, False))


def _journal(d: Path, doc: Any) -> Any:
    return load_journal(_write(d, "journal.json", doc, True))


FORMATS: dict[str, tuple[dict[str, Any], Callable[[Path, Any], Any], str]] = {
    "experiment": (EXPERIMENT, _experiment, "experiment.yaml"),
    "slo-catalog": (CATALOG, _catalog, "catalog.yaml"),
    "calendar": (CALENDAR, _calendar, "calendar.yaml"),
    "journal": (JOURNAL, _journal, "journal.json"),
}

HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, -(10**9), 10**9, 10**30, 2**63, -0.0, 1e308, -1e308, 0.5, 1.5, 100, 101]),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            " ",
            "-5m",
            "-1s",
            "0s",
            "1e309s",
            "10^9",
            "150%",
            "-1%",
            "NaN",
            "inf",
            "../../etc/passwd",
            "/etc/shadow",
            "a/../../b",
            "${x}",
            "{{selector}}",
            "\x00",
            "🔥",
            "99.9",
            "30d",
            "P1D",
            "mon",
            "25:61",
            "* * * * * *",
            "x" * 300,
        ]
    ),
    st.text(max_size=20),
)
HOSTILE_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def key_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += key_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += key_paths(v, (*prefix, i))
    return out


def mutate(doc: Any, path: tuple, op: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return doc


def assert_clean_refusal(load: Callable[[Path, Any], Any], doc: Any, file_name: str) -> None:
    """Either the document loads, or InvalidInput names the file and every problem has a message."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        try:
            load(d, doc)
        except InvalidInput as e:
            assert Path(e.file).name == file_name, e.render()
            assert e.problems and all(msg for _key, msg in e.problems)
            assert e.render().startswith(e.file)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_seed_documents_are_valid(fmt: str, state: Path) -> None:
    seed, load, _ = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        load(Path(tmp), seed)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_arbitrary_bytes_are_refused_cleanly(fmt: str, raw: bytes, state: Path) -> None:
    _, load, name = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        loader = {
            "experiment": load_experiment,
            "slo-catalog": lambda p: load_catalog([p]),
            "calendar": load_calendar,
            "journal": load_journal,
        }[fmt]
        try:
            loader(path)
        except InvalidInput as e:
            assert Path(e.file).name == name and e.problems


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_hostile_value_anywhere_is_refused_cleanly(fmt: str, data: st.DataObject, state: Path) -> None:
    seed, load, name = FORMATS[fmt]
    path = data.draw(st.sampled_from(key_paths(seed)), label="key path")
    op = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "wrap"]), label="op")
    value = data.draw(HOSTILE_VALUES, label="value") if op == "replace" else None
    assert_clean_refusal(load, mutate(seed, path, op, value), name)


def refusal(fmt: str, path: tuple, value: Any) -> InvalidInput:
    seed, load, name = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(InvalidInput) as info:
        load(Path(tmp), mutate(seed, path, "replace", value))
    assert Path(info.value.file).name == name
    return info.value


EXT = ("extensions", 0)
ABSURD = [
    ("experiment", (*EXT, "blast_radius", "max_duration"), "-5m"),
    ("experiment", (*EXT, "blast_radius", "max_percent"), "150%"),
    ("experiment", (*EXT, "blast_radius", "error_budget"), "-1%"),
    ("experiment", (*EXT, "blast_radius", "zones"), 0),
    ("experiment", (*EXT, "timeouts", "activity"), "-1s"),
    ("experiment", (*EXT, "slo_guard", "interval"), "-1s"),
    ("experiment", ("method", 0, "pauses", "after"), -5),
    ("slo-catalog", ("slos", 0, "objective"), 150),
    ("slo-catalog", ("slos", 0, "window"), "-30d"),
    ("slo-catalog", ("slos", 1, "sli", "threshold"), "-200ms"),
    ("calendar", ("timezone",), "Mars/Olympus_Mons"),
    ("calendar", ("entries", 0, "name"), "../../etc"),
    ("calendar", ("entries", 0, "experiment"), "../../../../etc/passwd-missing"),
    ("calendar", ("entries", 1, "cron"), "61 * * * *"),
    # Found by this suite, then refused by the loaders:
    ("experiment", (*EXT, "targets", "pick"), 10**9),
    ("experiment", (*EXT, "blast_radius", "max_targets"), 10**9),
    ("journal", ("chaosrunner", "run_id"), "../../../etc/passwd"),
]


@pytest.mark.parametrize(
    ("fmt", "path", "value"), ABSURD, ids=[f"{f}:{'.'.join(map(str, p))}={v!r}" for f, p, v in ABSURD]
)
def test_absurd_values_are_refused_with_file_and_key(fmt: str, path: tuple, value: Any, state: Path) -> None:
    err = refusal(fmt, path, value)
    keys = [k for k, _ in err.problems]
    assert any(k for k in keys), err.render()  # the problem is located, not just "invalid"


@pytest.mark.parametrize(
    "ident",
    [
        "../../etc/passwd",
        "..",
        "20261122T010000Z-x-abc123/../../../etc/passwd",
        "20261122T010000Z-../../x-abc123",
        "/etc/passwd",
        "%2e%2e%2f",
        "\x00",
    ],
)
def test_journal_ids_cannot_traverse_the_store(ident: str, state: Path, tmp_path: Path) -> None:
    # An id never becomes a store path; an explicit file path is the user's choice, and what is not a
    # journal (/etc/passwd) is refused by the loader.
    with pytest.raises(InvalidInput):
        load_journal(find_journal(ident, tmp_path / "journals"))
    with pytest.raises(ValueError):
        journal_path(ident, tmp_path / "journals")
    with pytest.raises(ValueError):
        Ledger(state).record(ident, "f", "t", None)


def test_non_finite_numbers_never_reach_a_journal(state: Path) -> None:
    doc = copy.deepcopy(JOURNAL)
    doc["chaosrunner"]["timings"]["time_to_detect_s"] = math.inf
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.json"
        path.write_text(json.dumps(doc))  # Python writes Infinity, which is not JSON
        try:
            load_journal(path)
        except InvalidInput as e:
            assert Path(e.file).name == "journal.json"


REPO = Path(__file__).resolve().parents[2]
SHIPPED = (
    [("experiment", p) for p in sorted((REPO / "experiments").rglob("*.yaml"))]
    + [("slo-catalog", p) for p in sorted((REPO / "probes").glob("*.yaml"))]
    + [("calendar", p) for p in sorted((REPO / "schedules").glob("weekly*.yaml"))]
)
SHIPPED_LOADERS: dict[str, Callable[[Path], Any]] = {
    "experiment": load_experiment,
    "slo-catalog": lambda p: load_catalog([p]),
    "calendar": lambda p: load_calendar(p, check_files=False),  # the copy lives away from its experiments
}


def test_shipped_content_exists() -> None:
    assert {fmt for fmt, _ in SHIPPED} == set(SHIPPED_LOADERS), SHIPPED


@pytest.mark.parametrize(("fmt", "shipped"), SHIPPED, ids=[str(p.relative_to(REPO)) for _, p in SHIPPED])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_shipped_content_with_one_hostile_value_is_refused_cleanly(
    fmt: str, shipped: Path, data: st.DataObject, state: Path
) -> None:
    """The real experiments, catalogs and calendar, each with one value replaced, deleted or retyped."""
    seed = yaml.safe_load(shipped.read_text())
    path = data.draw(st.sampled_from(key_paths(seed)), label="key path")
    op = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "wrap"]), label="op")
    value = data.draw(HOSTILE_VALUES, label="value") if op == "replace" else None
    with tempfile.TemporaryDirectory() as tmp:
        copy_path = Path(tmp) / shipped.name
        copy_path.write_text(yaml.safe_dump(mutate(seed, path, op, value), sort_keys=False))
        try:
            SHIPPED_LOADERS[fmt](copy_path)
        except InvalidInput as e:
            assert Path(e.file).name == shipped.name, e.render()
            assert e.problems and all(msg for _key, msg in e.problems)


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(1, 10), width=st.integers(1, 12))
def test_yaml_aliases_load_within_the_value_budget_or_are_refused(levels: int, width: int) -> None:
    """Anchors of aliases of anchors (the alias-bomb shape, at every size): the document loads exactly when
    its expanded size and its alias count are within the limits, and is never expanded to find out."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    size = 1 + width
    total = 1 + 1 + size  # the top mapping, key a0, the list
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * width)}]")
        size = 1 + width * size
        total += 1 + size
    aliases = width * (levels - 1)
    within = total <= CONTENT_LIMITS.max_nodes and aliases <= CONTENT_LIMITS.max_aliases
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vars.yaml"
        path.write_text("\n".join(lines) + "\n")
        try:
            doc = load_document(path)
        except InvalidInput as e:
            assert not within, e.render()
            assert e.file == str(path) and ("alias" in e.render() or "values" in e.render())
        else:
            assert within, (total, aliases)
            assert len(doc) == levels


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 300), as_json=st.booleans())
def test_nesting_loads_up_to_the_depth_limit_and_is_refused_beyond_it(depth: int, as_json: bool) -> None:
    """One mapping around ``depth`` lists: YAML and JSON agree on where the limit is."""
    nested = "[" * depth + "]" * depth
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("vars.json" if as_json else "vars.yaml")
        path.write_text(f'{{"x": {nested}}}' if as_json else f"x: {nested}\n")
        try:
            load_document(path)
        except InvalidInput as e:
            assert depth + 1 > CONTENT_LIMITS.max_depth, e.render()
            assert e.problems[0][0].startswith("x[0]")
        else:
            assert depth + 1 <= CONTENT_LIMITS.max_depth
