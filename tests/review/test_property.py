"""Property-based: any valid journal renders; any other file gives a clear message, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chaosrunner.core.ids import RUN_ID_RE
from chaosrunner.core.validation import InvalidInput
from chaosrunner.core.verdict import ORDER
from chaosrunner.journal.store import load_journal, load_summary, parse_journal
from chaosrunner.report.html import render_html
from chaosrunner.report.markdown import render_markdown
from tests.review import journals as J

PATH = Path("fuzz/journal.json")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
hostile = st.sampled_from(["<script>alert(1)</script>", "a|b", "```", "\x1b[31mred", "{{ 7*7 }}", "é✓ 中文", ""])
some_text = st.one_of(text, hostile)
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
run_ids = st.from_regex(RUN_ID_RE, fullmatch=True)  # a malformed run id is invalid input (tests/safety)
number = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
ratio = st.floats(min_value=0, max_value=1)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.isoformat()
)


@st.composite
def samples(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 30))
    t0 = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
    names = draw(st.lists(some_text, min_size=0, max_size=3, unique=True))
    step = draw(st.floats(min_value=0.001, max_value=600))
    out = []
    for i in range(n):
        out.append(
            {
                "t": draw(maybe(st.just((t0 + timedelta(seconds=i * step)).replace(tzinfo=UTC).isoformat()))),
                "elapsed_s": draw(maybe(st.just(i * step))),
                "slos": {
                    name: draw(
                        maybe(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "sli": maybe(ratio),
                                    "burn_rate": maybe(number),
                                    "scope": maybe(st.sampled_from(["in", "out"])),
                                },
                            )
                        )
                    )
                    for name in names
                },
                "budget_spent": draw(maybe(number)),
            }
        )
    return out


activity = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(some_text),
        "phase": maybe(st.sampled_from(["steady-state-before", "method", "rollback", "x"])),
        "type": maybe(st.sampled_from(["action", "probe"])),
        "provider": maybe(some_text),
        "status": maybe(st.sampled_from(["succeeded", "failed", "interrupted", "running", "odd"])),
        "start": maybe(times),
        "end": maybe(times),
        "duration": maybe(number),
        "error": maybe(some_text),
    },
)

section = st.fixed_dictionaries(
    {},
    optional={
        "format": maybe(st.integers(0, 3)),
        "run_id": maybe(run_ids),
        "complete": maybe(st.booleans()),
        "trigger": maybe(st.sampled_from(["cli", "schedule", "gameday"])),
        "calendar_entry": maybe(some_text),
        "experiment_path": maybe(some_text),
        "experiment_title": maybe(some_text),
        "started_at": maybe(times),
        "ended_at": maybe(times),
        "verdict": maybe(st.sampled_from(ORDER)),
        "reason": maybe(some_text),
        "exit_code": maybe(st.integers(0, 5)),
        "preflight": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "allowed": maybe(st.booleans()),
                    "checks": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "name": maybe(some_text),
                                "ok": maybe(st.booleans()),
                                "detail": maybe(some_text),
                                "numbers": maybe(st.dictionaries(text, number, max_size=2)),
                            },
                        ),
                        max_size=3,
                    ),
                },
            )
        ),
        "targets": st.lists(
            st.dictionaries(some_text, st.one_of(some_text, number, st.none()), max_size=4), max_size=3
        ),
        "blast_radius": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "declared": maybe(st.dictionaries(some_text, st.one_of(some_text, number), max_size=4)),
                    "touched": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "targets": maybe(st.integers(0, 100)),
                                "zones": st.lists(some_text, max_size=3),
                                "regions": st.lists(some_text, max_size=2),
                                "services": st.lists(some_text, max_size=2),
                            },
                        )
                    ),
                },
            )
        ),
        "activities": st.lists(activity, max_size=6),
        "guard": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "samples": samples(),
                    "decisions": st.lists(
                        st.fixed_dictionaries(
                            {}, optional={"t": maybe(times), "action": maybe(some_text), "reason": maybe(some_text)}
                        ),
                        max_size=2,
                    ),
                    "budget": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "before": maybe(ratio),
                                "after": maybe(number),
                                "spent": maybe(number),
                                "allowance": maybe(ratio),
                            },
                        )
                    ),
                },
            )
        ),
        "abort": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "reason": maybe(some_text),
                    "decided_at": maybe(times),
                    "rollback_completed_at": maybe(times),
                },
            )
        ),
        "ledger": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": maybe(some_text),
                    "fault": maybe(some_text),
                    "target": maybe(some_text),
                    "recorded_at": maybe(times),
                    "outcome": maybe(some_text),
                    "closed_at": maybe(times),
                },
            ),
            max_size=3,
        ),
        "timings": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    k: maybe(number)
                    for k in (
                        "time_to_detect_s",
                        "time_to_abort_s",
                        "time_to_rollback_s",
                        "time_to_recover_s",
                        "data_lost_s",
                    )
                },
            )
        ),
        "figures": maybe(st.dictionaries(some_text, st.one_of(number, some_text, st.none()), max_size=3)),
        "recovered_by": maybe(some_text),
    },
)

ctk_run = st.fixed_dictionaries(
    {},
    optional={
        "activity": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": some_text,
                    "type": st.sampled_from(["action", "probe"]),
                    "provider": st.fixed_dictionaries({"type": some_text}),
                },
            )
        ),
        "status": maybe(st.sampled_from(["succeeded", "failed"])),
        "start": maybe(times),
        "end": maybe(times),
        "duration": maybe(number),
        "output": st.one_of(st.none(), number, some_text, st.fixed_dictionaries({"status": st.integers(-1, 3)})),
        "exception": maybe(st.one_of(some_text, st.lists(some_text, max_size=2))),
    },
)

journal = st.fixed_dictionaries(
    {"experiment": maybe(st.fixed_dictionaries({}, optional={"title": some_text}))},
    optional={
        "status": maybe(st.sampled_from(["completed", "failed", "interrupted", "aborted", "skipped", "odd"])),
        "start": maybe(times),
        "end": maybe(times),
        "duration": maybe(number),
        "deviated": maybe(st.booleans()),
        "steady_states": maybe(
            st.fixed_dictionaries(
                {}, optional={"before": maybe(st.fixed_dictionaries({"steady_state_met": maybe(st.booleans())}))}
            )
        ),
        "run": st.lists(st.one_of(st.none(), ctk_run), max_size=4),
        "rollbacks": st.lists(ctk_run, max_size=2),
        "chaosrunner": maybe(section),
    },
)


def render_all(doc: Any) -> None:
    """Load → (summary, HTML, Markdown) or InvalidInput with the file named. Anything else fails."""
    try:
        loaded = parse_journal(json.dumps(doc), PATH)
    except InvalidInput as e:
        assert str(e).startswith(f"{PATH}: ")
        return
    html = render_html([loaded])
    md = render_markdown([loaded])
    verdict = loaded.summary.verdict
    assert f'data-verdict="{verdict}"' in html
    assert "<script" not in html
    assert md.strip()


@SETTINGS
@given(journal)
@example({"chaosrunner": {  # found in CI: rollback end + an 8,000-year time to recover left the calendar
    "abort": {"rollback_completed_at": "2000-01-01T00:00:00+00:00"},
    "ledger": [{"recorded_at": "2000-01-01T00:00:00+00:00"}],
    "timings": {"time_to_recover_s": 252455616000.0}}})
@example({"chaosrunner": {  # an injection at the calendar's first instant, with a guard sample
    "ledger": [{"recorded_at": "0001-01-01T00:00:00+00:00"}],
    "guard": {"samples": [{"t": "0001-01-01T00:00:00+00:00"}]}}})
def test_any_valid_journal_renders(doc: dict[str, Any]) -> None:
    loaded = parse_journal(json.dumps(doc), PATH)  # valid by construction: must not raise
    html = render_html([loaded, loaded])
    assert html.count('<section class="run"') == 2
    assert "<script" not in html
    assert f'data-verdict="{loaded.summary.verdict}"' in html
    assert render_markdown([loaded]).strip()


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), number, some_text)
any_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


@SETTINGS
@given(any_json)
def test_any_json_document_renders_or_is_refused_clearly(doc: Any) -> None:
    render_all(doc)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:5]):
            out += _paths(v, (*prefix, i))
    return out


BASES = [J.passed(samples=5), J.aborted(samples=20), J.refused(), J.incomplete(samples=5), J.ctk()]


@SETTINGS
@given(st.sampled_from(range(len(BASES))), st.data(), any_json)
def test_a_journal_with_one_value_replaced_renders_or_names_the_key(base: int, data: Any, value: Any) -> None:
    doc = json.loads(json.dumps(BASES[base]))
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    render_all(doc)


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_traceback(tmp_path_factory: Any, data: bytes) -> None:
    p = tmp_path_factory.mktemp("bytes") / "20261116T140000Z-x-abcdef.json"
    p.write_bytes(data)
    for load in (load_summary, load_journal):
        try:
            load(p)
        except InvalidInput as e:
            assert str(e).startswith(f"{p}: ")


@SETTINGS
@given(st.one_of(any_json, journal))
def test_the_listing_fast_path_never_tracebacks(tmp_path_factory: Any, doc: Any) -> None:
    p = tmp_path_factory.mktemp("json") / "20261116T140000Z-x-abcdef.json"
    p.write_text(json.dumps(doc))
    try:
        summary = load_summary(p)
    except InvalidInput as e:
        assert str(e).startswith(f"{p}: ")
        return
    assert summary.verdict in ORDER
    assert json.dumps(summary.to_json())


@pytest.mark.parametrize("where", [("run", 0, "activity", "provider"), ("run", 0, "activity")])
def test_a_plain_chaos_journal_whose_activity_parts_are_not_objects_renders(where: tuple[Any, ...]) -> None:
    """Found by the property above in CI: ``run[0].activity.provider = true`` crashed the report."""
    doc = json.loads(json.dumps(J.ctk()))
    node = doc
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = True
    render_all(doc)
