"""The journal store: finding, loading, validating, summarising and listing journals."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chaosrunner.core.validation import InvalidInput
from chaosrunner.journal.index import INDEX_NAME
from chaosrunner.journal.store import (
    Filters,
    find_journal,
    list_journals,
    load_journal,
    load_summary,
    parse_journal,
)
from tests.review import journals as J
from tests.review.conftest import write_json


def test_summaries_of_every_kind() -> None:
    rows = {k: parse_journal(json.dumps(f()), Path(f"{k}.json")).summary for k, f in J.KINDS.items()}
    assert rows["passed"].verdict == "passed" and rows["passed"].complete
    assert rows["passed"].time_to_recover_s == 12.5 and rows["passed"].recovery_deadline_s == 1800
    assert rows["aborted"].verdict == "aborted" and rows["aborted"].aborted
    assert rows["refused"].verdict == "refused" and rows["refused"].targets == 0
    assert rows["incomplete"].verdict == "running" and not rows["incomplete"].complete
    assert rows["incomplete"].ended_at is None and rows["incomplete"].duration_s is None


def test_plain_chaos_toolkit_journal_gets_an_honest_verdict() -> None:
    s = parse_journal(json.dumps(J.ctk(failed_action=True)), Path("journal.json")).summary
    assert s.kind == "chaostoolkit" and s.verdict == "failed" and s.errors == 1
    s = parse_journal(json.dumps(J.ctk(failed_action=False)), Path("journal.json")).summary
    assert s.verdict == "passed"


def test_process_that_exited_non_zero_is_failed_although_chaos_toolkit_says_succeeded() -> None:
    doc = J.ctk(failed_action=False)
    doc["run"][0]["activity"]["provider"] = {"type": "process", "path": "false"}
    doc["run"][0]["output"] = {"status": 1, "stdout": "", "stderr": "boom"}
    loaded = parse_journal(json.dumps(doc), Path("journal.json"))
    assert loaded.summary.verdict == "failed"
    assert load_summary_from(doc).verdict == "failed"


def load_summary_from(doc: dict, tmp: Path | None = None):  # noqa: ANN201
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "journal.json"
        p.write_text(json.dumps(doc))
        return load_summary(p)


def test_summary_fast_path_agrees_with_the_full_load() -> None:
    for kind, f in [*J.KINDS.items(), ("ctk", J.ctk)]:
        doc = f()
        full = parse_journal(json.dumps(doc), Path("journal.json")).summary.to_json()
        fast = load_summary_from(doc).to_json()
        full.pop("path"), fast.pop("path")
        assert fast == full, kind


@pytest.mark.parametrize(
    "text, key, problem",
    [
        ("", "", "empty file"),
        ("{not json", "", "invalid JSON at line 1"),
        ("[1, 2]", "", "a journal is a JSON object, not an array"),
        ('{"hello": 1}', "", "not a journal"),
        ('{"status": "completed", "run": {}}', "run", "valid list"),
        ('{"chaosrunner": {"verdict": "great"}}', "chaosrunner.verdict", "unknown verdict"),
        ('{"chaosrunner": {"started_at": "yesterday"}}', "chaosrunner.started_at", "not an ISO-8601 time"),
        (
            '{"chaosrunner": {"guard": {"samples": [{"elapsed_s": "soon"}]}}}',
            "chaosrunner.guard.samples[0].elapsed_s",
            "valid number",
        ),
        ('{"chaosrunner": {"targets": "all"}}', "chaosrunner.targets", "valid list"),
    ],
)
def test_malformed_journal_names_file_and_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(InvalidInput) as e:
        load_journal(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ")
    if key:
        assert f": {key}: " in msg
    assert problem in msg
    if "samples" in key:
        return  # the listing's fast path does not read guard samples (docs/journal.md); show/report do
    with pytest.raises(InvalidInput) as e2:  # the listing's fast path gives the same kind of message
        load_summary(p)
    assert str(e2.value).startswith(f"{p}: ")


def test_not_utf8_and_missing_files_are_clear(tmp_path: Path) -> None:
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe{")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_journal(p)
    with pytest.raises(InvalidInput, match="no such journal file"):
        load_journal(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "ident",
    [
        "../../etc/passwd",
        "20261116T140000Z-../../x-abcdef",
        "20261116T140000Z-ok-abcdeg",
        "latest/../x",
        "20261116T140000Z-ok-abcdef/../../x",
    ],
)
def test_find_refuses_anything_but_a_strict_run_id(store: Path, ident: str) -> None:
    with pytest.raises(InvalidInput) as e:
        find_journal(ident, store)
    assert "not a run id" in str(e.value) or "no journal" in str(e.value)
    with pytest.raises(InvalidInput):  # the CLI's file mode only takes existing *.json files
        find_journal(ident, store, allow_files=True)


def test_find_by_run_id_latest_and_path(store: Path, tmp_path: Path) -> None:
    older = J.write_journal(store, J.passed(J.BASE - timedelta(days=1), seed=10))
    newer = J.write_journal(store, J.aborted(J.BASE, seed=11))
    rid = json.loads(older.read_text())["chaosrunner"]["run_id"]
    assert find_journal(rid, store) == older
    assert find_journal("latest", store) == newer
    ctk = write_json(tmp_path / "elsewhere" / "journal.json", J.ctk())
    assert find_journal(str(ctk), store, allow_files=True) == ctk
    with pytest.raises(InvalidInput, match="not a run id"):
        find_journal(str(ctk), store)  # the store API itself never takes paths
    with pytest.raises(InvalidInput, match="no journal with run id"):
        find_journal("20200101T000000Z-gone-abcdef", store)


def test_find_latest_in_an_empty_store_is_clear(store: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        find_journal("latest", store)


def test_list_filters(store: Path) -> None:
    J.write_journal(store, J.passed(J.BASE - timedelta(days=8), exp=0, seed=1, trigger="schedule"))
    J.write_journal(store, J.aborted(J.BASE - timedelta(days=1), exp=1, seed=2, trigger="cli"))
    J.write_journal(store, J.refused(J.BASE, exp=3, seed=3))
    J.write_journal(store, J.incomplete(J.BASE - timedelta(hours=1), exp=2, seed=4))
    all_ = list_journals(store).summaries
    assert [s.verdict for s in all_] == ["refused", "running", "aborted", "passed"]  # newest first
    assert [s.verdict for s in list_journals(store, Filters(verdict="aborted")).summaries] == ["aborted"]
    assert [s.verdict for s in list_journals(store, Filters(trigger="schedule")).summaries] == ["refused", "passed"]
    assert [s.verdict for s in list_journals(store, Filters(entry="thursday-db")).summaries] == ["refused"]
    assert [s.verdict for s in list_journals(store, Filters(experiment="LATENCY")).summaries] == ["aborted"]
    week = list_journals(store, Filters(since=J.BASE - timedelta(days=2), until=J.BASE)).summaries
    assert [s.verdict for s in week] == ["running", "aborted"]


def test_list_reports_bad_files_and_keeps_going(store: Path) -> None:
    good = J.write_journal(store, J.passed(seed=1))
    bad = good.parent / "20261116T150000Z-broken-abcdef.json"
    bad.write_text('{"chaosrunner": {"verdict": 7}')
    (good.parent / "notes.json").write_text("ignored: not a run id")
    listing = list_journals(store)
    assert len(listing.summaries) == 1
    assert len(listing.problems) == 1 and str(bad) in str(listing.problems[0])


def test_index_is_reused_and_invalidated_when_a_journal_changes(store: Path) -> None:
    p = J.write_journal(store, J.incomplete(seed=5))
    assert list_journals(store).summaries[0].verdict == "running"
    index = store / INDEX_NAME
    assert index.exists()
    before = index.stat().st_mtime_ns
    assert list_journals(store).summaries[0].verdict == "running"
    assert index.stat().st_mtime_ns == before  # nothing changed: the index is not rewritten
    doc = json.loads(p.read_text())
    doc["chaosrunner"].update(verdict="aborted", complete=True, ended_at=J.iso(J.BASE + timedelta(minutes=1)))
    p.write_text(json.dumps(doc))
    os.utime(p, ns=(before + 10**9, before + 10**9))
    assert list_journals(store).summaries[0].verdict == "aborted"
    p.unlink()
    assert list_journals(store).summaries == []
    assert json.loads(index.read_text())["entries"] == {}


def test_tampered_index_rows_are_reread_not_trusted(store: Path) -> None:
    J.write_journal(store, J.passed(seed=1))
    list_journals(store)
    doc = json.loads((store / INDEX_NAME).read_text())
    for entry in doc["entries"].values():
        entry[2][doc["fields"].index("title")] = {"not": "a string"}
    (store / INDEX_NAME).write_text(json.dumps(doc))
    got = list_journals(store, Filters(experiment="monday")).summaries
    assert [s.title for s in got] == [J.EXPERIMENTS[0][1]]


def test_a_corrupt_index_is_ignored(store: Path) -> None:
    J.write_journal(store, J.passed(seed=1))
    (store / INDEX_NAME).write_text("{garbage")
    assert len(list_journals(store).summaries) == 1


def test_the_index_never_supplies_paths_and_garbage_rows_are_reparsed(store: Path) -> None:
    p = J.write_journal(store, J.passed(seed=1))
    list_journals(store)
    doc = json.loads((store / INDEX_NAME).read_text())
    assert "path" not in doc["fields"]  # paths always come from the directory walk
    for entry in doc["entries"].values():
        entry[2] = ["/etc/passwd"]
    (store / INDEX_NAME).write_text(json.dumps(doc))
    got = list_journals(store).summaries
    assert [s.path for s in got] == [str(p)] and got[0].verdict == "passed"


def test_a_cold_store_is_parsed_in_parallel_with_the_same_result(store: Path) -> None:
    from chaosrunner.journal import store as store_mod

    J.write_store(store, store_mod.PARALLEL_FROM + 20, weeks=2)
    bad = next(store.rglob("*.json")).with_name("20261116T150000Z-broken-abcdef.json")
    bad.write_text("[]")
    parallel = list_journals(store, use_index=False)
    serial = [store_mod._summary_or_problem(s.path)[0] for s in parallel.summaries]
    assert [s.to_json() for s in parallel.summaries] == [s.to_json() for s in serial if s]
    assert len(parallel.summaries) == store_mod.PARALLEL_FROM + 20
    assert [str(b) for b in parallel.problems] == [f"{bad}: a journal is a JSON object, not an array"]


def test_since_until_prune_by_day_directory(store: Path) -> None:
    for d in range(10):
        J.write_journal(store, J.passed(datetime(2026, 10, 1, 12, tzinfo=UTC) + timedelta(days=d), seed=d))
    got = list_journals(
        store, Filters(since=datetime(2026, 10, 3, tzinfo=UTC), until=datetime(2026, 10, 5, tzinfo=UTC))
    )
    assert sorted(s.started_at[:10] for s in got.summaries) == ["2026-10-03", "2026-10-04"]


def test_find_by_a_unique_start_or_end_of_the_run_id(store: Path) -> None:
    first = J.write_journal(store, J.passed(J.BASE - timedelta(days=1), seed=10))
    second = J.write_journal(store, J.aborted(J.BASE, seed=11))
    rid = json.loads(first.read_text())["chaosrunner"]["run_id"]
    assert find_journal(rid[-6:], store) == first  # the random suffix, as a user copies it
    assert find_journal(rid[:13], store) == first  # the start time down to the hour
    assert find_journal(f"{rid[:16]}…{rid[-6:]}", store) == first  # as a narrow `journal list` shows it
    with pytest.raises(InvalidInput, match=r"matches 2 runs: .*; give more of the run id"):
        find_journal(rid[:4], store)  # both runs are from the same year
    with pytest.raises(InvalidInput, match="no journal whose run id starts or ends with zzzzzz"):
        find_journal("zzzzzz", store)
    assert second.exists()
