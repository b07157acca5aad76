"""One source of truth per contract: verdicts, the journal schema and its listing heads, run ids and times.

Each test pins a defect users hit while a contract was written twice and the copies drifted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from click.testing import CliRunner

from chaosrunner.cli import app
from chaosrunner.core.ids import format_time, is_run_id, new_run_id, now_iso, parse_time
from chaosrunner.core.validation import InvalidInput
from chaosrunner.core.verdict import EXIT_CODES, Verdict, decide
from chaosrunner.journal.layout import journal_path
from chaosrunner.journal.schema import (
    HEADS,
    Journal,
    JournalHead,
    Section,
    final_fields,
    new_section,
    refusal_ctk,
    swap_models,
)
from chaosrunner.journal.store import load_journal, load_summary, parse_journal
from chaosrunner.journal.writer import JournalWriter
from chaosrunner.report.view import run_view

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, ["journal", *args], catch_exceptions=False)


def invalid_run(root: Path) -> Path:
    """What ``run/runner.py`` leaves when preflight finds bad input: the skeleton, then ``finish(INVALID)``
    (chaoslib never started, so there is no Chaos Toolkit part)."""
    writer = JournalWriter(new_run_id("Tuesday: 300 ms latency"), root)
    writer.section.update(
        trigger="cli",
        calendar_entry=None,
        experiment_path="experiments/sandbox/tuesday-latency.yaml",
        experiment_title="Tuesday: 300 ms latency",
    )
    writer.flush(durable=True)
    writer.finish(Verdict.INVALID, "experiments/sandbox/tuesday-latency.yaml: probes: no such file probes/gone.yaml")
    return writer.path


def test_an_invalid_run_is_listed_shown_reported_and_trended_without_unreadable_warnings(store: Path) -> None:
    path = invalid_run(store)
    r = cli("list", "--json")
    assert r.exit_code == 0 and "unreadable" not in r.stderr, r.stderr
    assert [x["verdict"] for x in json.loads(r.stdout)] == ["invalid"]
    r = cli("list", "--verdict", "invalid")
    assert r.exit_code == 0 and path.stem in r.stdout, r.stderr
    r = cli("show", path.stem)
    assert r.exit_code == 0, r.stderr
    assert "verdict: invalid — Invalid" in r.stdout and "probes: no such file" in r.stdout
    r = cli("report", path.stem, "--out", "-")
    assert r.exit_code == 0 and 'data-verdict="invalid"' in r.stdout, r.stderr
    r = cli("trend", "--json")
    assert r.exit_code == 0 and "unreadable" not in r.stderr, r.stderr


@pytest.mark.parametrize("verdict", [v for v in Verdict if v in EXIT_CODES])
def test_every_verdict_the_writer_can_write_is_read_back_and_explained(tmp_path: Path, verdict: Verdict) -> None:
    writer = JournalWriter(new_run_id("any experiment"), tmp_path)
    writer.flush()  # the skeleton every run starts from: verdict "running"
    assert load_summary(writer.path).verdict == "running"
    writer.finish(verdict, "why")
    loaded = load_journal(writer.path)
    assert loaded.summary.verdict == load_summary(writer.path).verdict == verdict
    view = run_view(loaded)
    assert view.verdict_label == verdict
    assert view.verdict_text != verdict.value and view.verdict_text.lower().startswith(verdict.value[:4])


def _ctk_run(name: str, ptype: str, status: str, output: Any = None) -> dict[str, Any]:
    return {
        "activity": {"type": "action", "name": name, "provider": {"type": ptype}},
        "status": status,
        "output": output,
        "start": "2026-11-16T14:00:01.000000+00:00",
        "end": "2026-11-16T14:00:02.000000+00:00",
        "duration": 1.0,
    }


def _ctk_journal(status: str = "completed", run: list | None = None, rollbacks: list | None = None) -> dict:
    """A journal as ``chaos run`` (chaoslib 1.44) writes it."""
    return {
        "experiment": {"title": "same activities"},
        "status": status,
        "start": "2026-11-16T14:00:00.000000+00:00",
        "end": "2026-11-16T14:00:05.000000+00:00",
        "duration": 5.0,
        "deviated": False,
        "steady_states": {"before": {"steady_state_met": True}, "after": None, "during": []},
        "run": run or [_ctk_run("inject", "python", "succeeded")],
        "rollbacks": rollbacks or [_ctk_run("undo", "python", "succeeded")],
    }


SAME_ACTIVITIES = {
    "interrupted": (_ctk_journal(status="interrupted"), Verdict.ABORTED),
    "http 4xx action": (
        _ctk_journal(run=[_ctk_run("call", "http", "succeeded", {"status": 404, "body": "no such route"})]),
        Verdict.FAILED,
    ),
    "failed http rollback": (
        _ctk_journal(rollbacks=[_ctk_run("undo", "http", "succeeded", {"status": 503, "body": ""})]),
        Verdict.ROLLBACK_FAILED,
    ),
    "chaoslib aborted (unexpected error)": (_ctk_journal(status="aborted"), Verdict.FAILED),
}


@pytest.mark.parametrize("case", SAME_ACTIVITIES)
def test_a_plain_journal_and_a_chaosrunner_run_of_the_same_activities_get_the_same_verdict(
    tmp_path: Path, case: str
) -> None:
    doc, expected = SAME_ACTIVITIES[case]
    ours, _ = decide(doc, abort_reason=None)  # what run/runner.py records for these activities
    plain = tmp_path / "journal.json"
    plain.write_text(json.dumps(doc))
    assert load_journal(plain).summary.verdict == load_summary(plain).verdict == ours == expected


@pytest.mark.parametrize(
    "doc, key",
    [
        ({"chaosrunner": {"abort": {"decided_at": "yesterday"}}}, "chaosrunner.abort.decided_at"),
        ({"chaosrunner": {"targets": [1]}}, "chaosrunner.targets[0]"),
    ],
)
def test_listing_refuses_what_show_refuses_in_the_fields_it_reads(tmp_path: Path, doc: dict, key: str) -> None:
    p = tmp_path / "journal.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as shown:
        parse_journal(p.read_text(), p)
    with pytest.raises(InvalidInput) as listed:
        load_summary(p)
    assert [k for k, _ in listed.value.problems] == [k for k, _ in shown.value.problems] == [key]


def test_every_listing_head_field_has_the_full_schemas_type_and_default() -> None:
    pairs = [(full, head) for full, head in HEADS.items() if head is not Any] + [(Journal, JournalHead)]
    assert len(pairs) == 5
    for full, head in pairs:
        full_hints = get_type_hints(full, include_extras=True)
        head_hints = get_type_hints(head, include_extras=True)
        assert head.model_fields, head
        for name, field in head.model_fields.items():
            assert name in full.model_fields, f"{head.__name__}.{name} is not in {full.__name__}"
            assert head_hints[name] == swap_models(full_hints[name], HEADS), f"{head.__name__}.{name}"
            assert field.default == full.model_fields[name].default, f"{head.__name__}.{name}"


def test_writer_skeletons_use_only_fields_the_schema_declares() -> None:
    section = {
        **new_section(new_run_id("x"), "2026-12-01T10:30:00.000000+00:00"),
        **final_fields(Verdict.INVALID, "bad input", "2026-12-01T10:30:01.000000+00:00"),
    }
    assert set(section) <= set(Section.model_fields)
    journal_keys = {f.alias or name for name, f in Journal.model_fields.items()}
    assert set(refusal_ctk("x", "2026-12-01T10:30:00.000000+00:00")) <= journal_keys
    Journal.model_validate({**refusal_ctk("x", section["started_at"]), "chaosrunner": section})


def test_times_have_one_spelling_and_every_old_spelling_still_reads() -> None:
    spelled = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
    whole_second = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert format_time(whole_second) == "2026-12-01T10:30:00.000000+00:00"  # isoformat() would drop .000000
    assert format_time(whole_second.astimezone(timezone(timedelta(hours=1)))) == format_time(whole_second)
    assert spelled.match(now_iso())
    for old in (
        "2026-12-01T10:30:00Z",  # faults/watchdog.py, faults/ledger.py
        "2026-12-01T10:30:00+00:00",  # isoformat(timespec="seconds")
        "2026-12-01T10:30:00.000000+00:00",
        "2026-12-01T11:30:00+01:00",
        "2026-12-01T10:30:00",  # older Chaos Toolkit: naive UTC
    ):
        assert parse_time(old) == whole_second, old


def test_a_run_id_names_its_journal_and_nothing_else() -> None:
    rid = new_run_id("Tue: Latency on ../../pinboard!", datetime(2026, 12, 1, 10, 30, 5, tzinfo=UTC))
    assert is_run_id(rid) and rid.startswith("20261201T103005Z-tue-latency-on-pinboard-")
    assert journal_path(rid, Path("/j")) == Path(f"/j/2026/12/01/{rid}.json")
    for bad in ("../../etc/passwd", "20261201T103005Z--x-abcdef", "adhoc", f"{rid}/x"):
        assert not is_run_id(bad)
        with pytest.raises(ValueError):
            journal_path(bad, Path("/j"))
