"""Pure pieces of the runner: verdict decisions, units, redaction, run ids, the live view."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rich.console import Console

from chaosrunner.cli.live import render
from chaosrunner.core.units import parse_duration, parse_ratio
from chaosrunner.core.verdict import ExitCode, Verdict, decide, exit_code
from chaosrunner.journal.writer import REDACTED, JournalWriter, journal_path, new_run_id, redact


def run(name: str, status: str | None, kind: str = "action", ptype: str = "python", output: Any = None) -> dict:
    entry: dict[str, Any] = {"activity": {"name": name, "type": kind, "provider": {"type": ptype}}, "output": output}
    if status is not None:
        entry["status"] = status
    return entry


def journal(**kw: Any) -> dict:
    base = {"status": "completed", "deviated": False, "steady_states": {"before": None}, "run": [], "rollbacks": []}
    base.update(kw)
    return base


def test_all_good_is_passed() -> None:
    assert decide(journal(run=[run("a", "succeeded")], rollbacks=[run("u", "succeeded")]), abort_reason=None)[0] \
        == Verdict.PASSED


def test_failed_rollback_outranks_everything() -> None:
    j = journal(run=[run("a", "failed")], rollbacks=[run("u", "failed")], deviated=True)
    verdict, reason = decide(j, abort_reason="guard")
    assert verdict == Verdict.ROLLBACK_FAILED and "'u' failed" in reason
    assert exit_code(verdict) == ExitCode.ROLLBACK_FAILED == 5


def test_interrupted_rollback_is_rollback_failed() -> None:
    assert decide(journal(rollbacks=[run("u", None)]), abort_reason=None)[0] == Verdict.ROLLBACK_FAILED


def test_open_ledger_entries_are_rollback_failed() -> None:
    verdict, reason = decide(journal(), abort_reason=None, open_faults=2)
    assert verdict == Verdict.ROLLBACK_FAILED and "2 fault(s) still open" in reason


def test_abort_is_aborted_exit_3() -> None:
    verdict, reason = decide(journal(status="interrupted"), abort_reason="burn rate 20x > 14.4x")
    assert (verdict, reason) == (Verdict.ABORTED, "burn rate 20x > 14.4x")
    assert exit_code(verdict) == 3


def test_unmet_steady_state_before_is_failed() -> None:
    j = journal(steady_states={"before": {"steady_state_met": False}})
    assert decide(j, abort_reason=None)[0] == Verdict.FAILED


@pytest.mark.parametrize("ptype,output", [("process", {"status": 2}), ("http", {"status": 503})])
def test_failed_process_or_http_actions_are_failed(ptype: str, output: dict) -> None:
    verdict, reason = decide(journal(run=[run("x", "succeeded", ptype=ptype, output=output)]), abort_reason=None)
    assert verdict == Verdict.FAILED and str(output["status"]) in reason


def test_probes_with_error_status_output_are_not_failures() -> None:
    j = journal(run=[run("p", "succeeded", kind="probe", ptype="http", output={"status": 503})])
    assert decide(j, abort_reason=None)[0] == Verdict.PASSED


def test_deviation_and_recovery() -> None:
    assert decide(journal(deviated=True), abort_reason=None)[0] == Verdict.DEVIATED
    verdict, reason = decide(journal(), abort_reason=None, recovery_problem="system did not recover")
    assert verdict == Verdict.FAILED and reason == "system did not recover"


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("30s", 30), ("10m", 600), ("2h", 7200), ("30d", 2592000),
                                          (45, 45), ("1w", 604800)])
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["-1s", "ten", True, None, [], "1y", 10**9])
def test_bad_durations(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("text,ratio", [("1%", 0.01), (0.01, 0.01), (99.9, 0.999), ("99.9", 0.999), ("100%", 1.0)])
def test_ratios(text: Any, ratio: float) -> None:
    assert parse_ratio(text) == pytest.approx(ratio)


@pytest.mark.parametrize("bad", ["150%", -0.5, "x%", True, float("nan")])
def test_bad_ratios(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_ratio(bad)


def test_redaction_reaches_nested_and_embedded_values() -> None:
    doc = {"a": ["token=hunter22 ok", {"k": "hunter22"}], "n": float("nan"), "hunter22": 1}
    out = redact(doc, ["hunter22", "ab"])  # secrets shorter than 3 chars are not redacted (they'd shred text)
    assert out == {"a": [f"token={REDACTED} ok", {"k": REDACTED}], "n": None, REDACTED: 1}


def test_log_filter_redacts_messages_and_tracebacks() -> None:
    writer = JournalWriter(new_run_id("t"))
    writer.add_secrets(["p4ssw0rd!"])
    filt = writer.log_filter()
    try:
        raise RuntimeError("login with p4ssw0rd!")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", ("p4ssw0rd!",), sys.exc_info())
    assert filt.filter(record)
    assert "p4ssw0rd!" not in record.getMessage() and "p4ssw0rd!" not in (record.exc_text or "")
    assert REDACTED in record.exc_text


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "20261122T010203Z-x-zzzzzz", "", "a/b", "20261122T010203Z--abcdef"]
)
def test_journal_paths_refuse_malformed_run_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        journal_path(bad)


def test_run_ids_are_slugged_and_dated() -> None:
    rid = new_run_id("Tue: Latency on ../../pinboard!")
    assert journal_path(rid).name == f"{rid}.json"
    assert "/" not in rid and ".." not in rid


def test_live_view_renders_guard_state() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)
    section = {
        "experiment_title": "latency", "verdict": "running",
        "blast_radius": {"declared": {"max_duration": 120.0}},
        "activities": [{"phase": "method", "name": "add-toxic", "status": "running",
                        "start": (now - timedelta(seconds=30)).isoformat()}],
        "guard": {"samples": [{"slos": {"avail": {"sli": 0.9991, "burn_rate": 0.9, "scope": "in"}},
                               "budget_spent": 0.0012}]},
        "abort": None,
    }
    console = Console(record=True, width=100)
    console.print(render(section, elapsed_s=31, now=now))
    text = console.export_text()
    for needle in ("running · latency", "method · add-toxic (running)", "elapsed 0:31", "max_duration left 1:30",
                   "avail", "0.90x", "0.120 %"):
        assert needle in text, text


def test_live_view_never_outgrows_the_terminal() -> None:
    """A region taller or wider than the terminal is what left stale copies on the screen."""
    slos = {f"slo-{i:02d}-with-a-rather-long-name-for-a-narrow-terminal@out:zone": {"sli": 0.001, "burn_rate": 1.0,
                                                                                  "scope": "out"} for i in range(30)}
    section = {"experiment_title": "t" * 150, "verdict": "running",
               "activities": [{"phase": "method", "name": "a" * 90, "status": "running"}],
               "guard": {"samples": [{"slos": slos}]}, "abort": {"reason": "r" * 200}}
    for width, height in ((80, 24), (200, 50)):
        console = Console(record=True, width=width)
        console.print(render(section, width=width, height=height))
        lines = console.export_text().rstrip("\n").splitlines()
        assert len(lines) <= height and all(len(x) <= width for x in lines), (width, height, len(lines))
        assert ("more (in the journal)" in "\n".join(lines)) == (height < 30)  # 30 readings fit in 50 lines
