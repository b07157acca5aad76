"""Issue 16: evidence a facilitator can trust — honest headline, failed activities red, one RTO
definition, targets declared and compared, budgets never invented, operator interruptions not scored."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaosrunner.core.verdict import Verdict, decide
from chaosrunner.journal import resilience
from chaosrunner.journal.store import LoadedJournal, parse_journal
from chaosrunner.journal.summary import activity_errors
from chaosrunner.report.html import render_html
from chaosrunner.report.trend import compute_trend, run_score
from chaosrunner.report.view import run_view
from chaosrunner.slo.budget import ChaosSpend, chaos_spend_month_to_date
from tests.review import journals as J


def load(doc: dict[str, Any], name: str = "x") -> LoadedJournal:
    return parse_journal(json.dumps(doc), Path(f"{name}.json"))


def ext(doc: dict[str, Any]) -> dict[str, Any]:
    exts = doc["experiment"].setdefault("extensions", [{"name": "chaosrunner"}])
    return exts[0]


def failed_process_action() -> dict[str, Any]:
    """A run whose fault action was a process that exited 1: chaoslib wrote "succeeded" for it (and
    chaosrunner's record copied that), the verdict said failed."""
    doc = J.passed()
    run = doc["run"][0]
    run["activity"]["provider"] = {"type": "process", "path": "kill-instance"}
    run["output"] = {"status": 1, "stdout": "", "stderr": "kill: (4242) - No such process\n"}
    doc["chaosrunner"].update(verdict="failed", exit_code=1, reason="activity 'inject-fault' failed with status 1")
    return doc


def test_failed_process_action_is_failed_with_its_error() -> None:
    loaded = load(failed_process_action())
    v = run_view(loaded)
    row = next(r for r in v.timeline.rows if r.name == "inject-fault")  # type: ignore[union-attr]
    assert row.status == "failed"  # drawn with the failed (red) bar, not green
    assert activity_errors(loaded.journal) == [
        ("inject-fault", "process exited with status 1: kill: (4242) - No such process")
    ]
    assert v.failed and v.failed[0][1] == "inject-fault"
    assert v.headline.startswith("Failed · inject-fault (method) failed: process exited with status 1")


def test_failed_activity_is_red_in_the_html() -> None:
    html = render_html([load(failed_process_action())])
    assert 'class="bar-failed"' in html and 'data-status="failed"' in html
    assert 'data-role="failed"' in html and "No such process" in html
    assert 'Errors</h3>\n  <p class="absent">none' not in html


def monday_no_impact() -> dict[str, Any]:
    """Monday as it ran: the estate healed itself inside the method (HAProxy hid the kill), the recovery
    watch's first poll answered 37 ms after the rollbacks."""
    doc = J.passed(ttr=0.037)
    doc["chaosrunner"]["figures"] = {"replacement_time_s": 0.391, "back_in_rotation_s": 0.813}
    return doc


def test_rto_is_not_the_recovery_poll_after_the_rollbacks() -> None:
    s = load(monday_no_impact()).summary
    assert s.rto_status == "no-impact" and s.rto_s == 0.0  # was 0.037: the next guard poll, not a recovery


def test_scenario_rto_figure_does_not_replace_the_client_rto() -> None:
    doc = J.aborted()
    doc["chaosrunner"]["figures"] = {"rto_s": 0.252, "rpo_writes_lost": 0}
    s = load(doc).summary
    assert s.rto_s != 0.252  # the driver's write RTO stays a scenario figure
    inj = datetime.fromisoformat(doc["chaosrunner"]["ledger"][0]["recorded_at"])
    rb = datetime.fromisoformat(doc["chaosrunner"]["abort"]["rollback_completed_at"])
    assert s.rto_s == pytest.approx((rb + timedelta(seconds=6.0) - inj).total_seconds())
    assert s.time_to_recover_s == pytest.approx(6.0)


def with_recovery_samples(doc: dict[str, Any], bad: int, good: int, *, burn_bad: float = 30.0) -> dict[str, Any]:
    """Append ``phase: recovery`` samples (as the guard's recovery watch now records them) after the
    rollbacks: ``bad`` still burning, then ``good`` within objective, one per second."""
    sec = doc["chaosrunner"]
    rb = datetime.fromisoformat(sec["abort"]["rollback_completed_at"])
    for i in range(bad + good):
        burn = burn_bad if i < bad else 0.5
        sec["guard"]["samples"].append(
            {
                "t": (rb + timedelta(seconds=i + 0.2)).isoformat(),
                "elapsed_s": 100 + i,
                "phase": "recovery",
                "slos": {"pinboard-availability": {"sli": burn * 0.001, "burn_rate": burn, "scope": "in"}},
            }
        )
    sec["guard"]["recovery"] = (
        {"recovered": True, "seconds": bad + 0.2, "reason": "SLOs back within objective"}
        if good
        else {
            "recovered": False,
            "seconds": None,
            "reason": "not recovered within 30s: pinboard-availability@in burns 30.0x",
        }
    )
    sec["timings"]["time_to_recover_s"] = bad + 0.2 if good else None
    return doc


def test_recovery_is_measured_after_an_abort() -> None:
    doc = with_recovery_samples(J.aborted(), bad=3, good=5)
    v = run_view(load(doc))
    rec = resilience.client_recovery(load(doc).journal)
    inj = datetime.fromisoformat(doc["chaosrunner"]["ledger"][0]["recorded_at"])
    rb = datetime.fromisoformat(doc["chaosrunner"]["abort"]["rollback_completed_at"])
    assert rec.status == "restored"
    assert rec.rto_s == pytest.approx((rb + timedelta(seconds=3.2) - inj).total_seconds())
    assert rec.after_rollback_s == pytest.approx(3.2)
    assert ("recovery watch after the abort", "SLOs back within objective after 3.2 s") in v.recovery


def test_an_abort_that_never_recovered_says_so() -> None:
    doc = with_recovery_samples(J.aborted(), bad=6, good=0)
    s = load(doc).summary
    assert s.rto_status == "not-restored" and s.rto_s is None
    assert "RTO not restored" in run_view(load(doc)).headline


def declare(doc: dict[str, Any], **objectives: Any) -> dict[str, Any]:
    ext(doc)["objectives"] = objectives
    return doc


def test_declared_targets_are_compared_with_measurements() -> None:
    doc = declare(
        with_recovery_samples(J.aborted(), bad=3, good=5),
        rto="10s",
        rpo=0,
        availability_during="85%",
        users_unaffected="90%",
        monthly_budget_use="20%",
        figures={"rto_s": 5, "rpo_writes_lost": 0},
    )
    doc["chaosrunner"]["figures"] = {"rto_s": 0.252, "rpo_writes_lost": 0}
    v = run_view(load(doc), chaos_spend=ChaosSpend("2026-11", 0.04, 5, 0, 0.2))
    marks = {c.key: c.met for c in v.objectives}
    assert marks == {
        "rto": False,  # ~31 s from injection to restored, target 10 s
        "rpo": True,
        "availability_during": True,
        "users_unaffected": None,  # nobody measured it: never assumed
        "monthly_budget_use": True,
        "figures.rto_s": True,
        "figures.rpo_writes_lost": True,
    }
    assert "targets 5/7 met — missed: RTO" in v.headline
    html = render_html([load(doc)])
    assert 'data-objective="rto" data-met="no"' in html and "✗" in html and "✓" in html


def test_no_targets_is_said_not_assumed() -> None:
    v = run_view(load(J.passed()))
    assert v.objectives == [] and "no targets declared" in v.headline


def test_unknown_budget_is_unknown_and_unobserved_spend_is_a_lower_bound() -> None:
    doc = J.passed()
    sec = doc["chaosrunner"]
    sec["guard"]["budget"].update(before=None, after=None, spent=0.0)
    for smp in sec["guard"]["samples"][5:15]:
        smp["slos"]["pinboard-availability"] = {"sli": None, "burn_rate": None, "scope": "in", "error": "no traffic"}
    v = run_view(load(doc))
    rows = dict(v.budget)
    assert rows["remaining before"] == "unknown" and rows["remaining after"] == "unknown"
    assert rows["spent by this run"] == "≥ 0 %"
    assert any("no data in 10 of 40 samples" in n for n in v.budget_notes)


def test_operator_interruption_is_its_own_verdict_and_is_not_scored() -> None:
    journal = {"status": "interrupted", "end": "x", "run": [], "rollbacks": []}
    verdict, reason = decide(journal, abort_reason="SIGTERM received", by_operator=True)
    assert verdict is Verdict.INTERRUPTED and "operator" in reason
    assert decide(journal, abort_reason="burn rate")[0] is Verdict.ABORTED
    doc = J.aborted()
    doc["chaosrunner"].update(verdict="interrupted", reason="interrupted by an operator (SIGINT received)")
    s = load(doc).summary
    assert s.interrupted and not s.aborted and run_score(s) is None


def test_trend_keys_an_experiment_by_identity_not_path_spelling() -> None:
    a = J.passed(J.BASE, seed=1)
    b = J.passed(J.BASE - timedelta(days=1), seed=2)
    b["chaosrunner"]["experiment_path"] = "/srv/chaos/" + a["chaosrunner"]["experiment_path"]
    t = compute_trend([load(a, "a").summary, load(b, "b").summary], J.BASE + timedelta(hours=1))
    assert len(t.experiments) == 1 and t.experiments[0].runs == 2
    c = J.passed(J.BASE, seed=3)
    ext(c)["id"] = "monday-monkey"
    assert load(c).summary.experiment == "monday-monkey"


def test_month_to_date_chaos_spend_against_the_ceiling() -> None:
    nov = datetime(2026, 11, 20, 12, tzinfo=J.BASE.tzinfo)
    runs = [
        (datetime(2026, 10, 31, 23, tzinfo=J.BASE.tzinfo), 0.5),  # last month: not counted
        (datetime(2026, 11, 2, tzinfo=J.BASE.tzinfo), 0.08),
        (datetime(2026, 11, 10, tzinfo=J.BASE.tzinfo), 0.07),
        (datetime(2026, 11, 25, tzinfo=J.BASE.tzinfo), 0.5),  # after as_of: not yet
    ]
    spend = chaos_spend_month_to_date(runs, nov)
    assert spend.month == "2026-11" and spend.runs == 2 and spend.used == pytest.approx(0.15)
    assert spend.within_ceiling is True
    unknown = chaos_spend_month_to_date([*runs, (datetime(2026, 11, 3, tzinfo=J.BASE.tzinfo), None)], nov)
    assert unknown.lower_bound and unknown.within_ceiling is None  # 15 % known + an unknown: cannot say ✓
    over = chaos_spend_month_to_date([*runs, (datetime(2026, 11, 4, tzinfo=J.BASE.tzinfo), 0.1)], nov)
    assert over.within_ceiling is False


def test_report_reads_the_month_to_date_spend_from_the_store() -> None:
    docs = [declare(J.passed(J.BASE - timedelta(days=d), seed=d), monthly_budget_use="20%") for d in (1, 2)]
    for d in docs:
        d["chaosrunner"]["guard"]["budget"]["spent"] = 0.15
    loaded = [load(d, f"r{i}") for i, d in enumerate(docs)]
    html = render_html([loaded[0]], store=[x.summary for x in loaded])
    assert 'data-objective="monthly_budget_use" data-met="no"' in html  # 2 × 15 % > 20 %
    assert "30 % over 2 run(s) in 2026-11" in html


def test_krkn_weighting_and_the_per_slo_breakdown() -> None:
    held = declare(J.passed(J.BASE, seed=1), critical_slos=["pinboard-availability"])
    broke = declare(J.aborted(J.BASE - timedelta(hours=1), exp=0, seed=2), critical_slos=["pinboard-availability"])
    rows = [load(held, "h").summary, load(broke, "b").summary]
    assert rows[1].slos_breached == "pinboard-availability"
    assert run_score(rows[0], "krkn") == 1.0
    assert run_score(rows[1], "krkn") == pytest.approx(1 / 4)  # latency (1 point) held, availability (3) broke
    t = compute_trend(rows, J.BASE + timedelta(hours=1), weighting="krkn")
    assert t.experiments[0].per_slo == {
        "pinboard-availability": {"runs": 2, "held": 1},
        "pinboard-latency": {"runs": 2, "held": 2},
    }
    assert t.chaos_spend and t.chaos_spend[0]["month"] == "2026-11"


def test_times_are_shown_in_the_calendars_zone() -> None:
    from zoneinfo import ZoneInfo

    v = run_view(load(J.passed()), tz=ZoneInfo("America/Los_Angeles"))
    assert dict(v.facts)["started"] == "2026-11-16 06:00:00 PST"  # 14:00 UTC, no microseconds


def test_the_game_day_plan_reaches_the_report(tmp_path: Path) -> None:
    from chaosrunner.schedule.gameday import GameDayPlan, PlanStep, annotate_journal

    doc = J.passed()
    path = tmp_path / "j.json"
    path.write_text(json.dumps(doc))
    plan = GameDayPlan(name="Q4 game day", facilitator="ana (SRE)", experiments=[PlanStep(experiment="x.yaml")])
    annotate_journal(path, plan, PlanStep(experiment="x.yaml", note="watch the write error rate"))
    v = run_view(parse_journal(path.read_text(), path))
    assert dict(v.context) == {"plan": "Q4 game day", "facilitator": "ana (SRE)", "notes": "watch the write error rate"}


def test_plan_shows_the_months_chaos_spend_and_the_targets(store: Path) -> None:
    from chaosrunner.run.plan import chaos_spend_now, render_plan

    now = datetime.now(J.BASE.tzinfo)
    for i in range(2):
        doc = J.passed(now - timedelta(minutes=10 + i), seed=40 + i)
        doc["chaosrunner"]["guard"]["budget"]["spent"] = 0.12
        J.write_journal(store, doc)
    spend = chaos_spend_now()
    assert spend.runs == 2 and spend.used == pytest.approx(0.24) and spend.within_ceiling is False
    plan = {
        "title": "t",
        "experiment": "e.yaml",
        "activities": [],
        "targets": [],
        "preflight": {"allowed": True, "checks": []},
        "chaos_spend": spend.to_json(),
        "objectives": {"rto": 45.0, "monthly_budget_use": 0.2, "figures": {}},
    }
    text = render_plan(plan)
    assert f"[OVER] chaos budget {spend.month}: 24% of the monthly error budget used by 2 run(s), ceiling 20%" in text
    assert "targets: rto 45.0, monthly_budget_use 0.2" in text


def test_the_rto_is_read_where_the_clients_are_when_the_guard_has_such_an_sli() -> None:
    """Server-side readings stay bad for 8 s (HAProxy retried what the instances failed: clients saw less),
    the client-vantage reading for 3 s: the RTO is the clients' 3 s (it was 8 s), and a sample is
    judged by the client readings alone."""
    doc = J.passed(samples=20)
    for i, smp in enumerate(doc["chaosrunner"]["guard"]["samples"]):
        smp["slos"]["pinboard-availability"].update(burn_rate=30.0 if i < 8 else 0.5)
        smp["slos"]["pinboard-client-availability"] = {
            "sli": 0.03 if i < 3 else 0.0005, "burn_rate": 30.0 if i < 3 else 0.5, "scope": "in", "vantage": "client"}
    s = load(doc).summary
    assert s.rto_status == "restored" and s.rto_s == pytest.approx(3.0)
    assert resilience.breached_slos(load(doc).journal) == ["pinboard-client-availability"]
    for smp in doc["chaosrunner"]["guard"]["samples"]:  # without a client-vantage SLI: the service's view
        del smp["slos"]["pinboard-client-availability"]
    assert load(doc).summary.rto_s == pytest.approx(8.0)


def test_the_fault_window_runs_until_restored_including_the_recovery_watchs_early_polls() -> None:
    """An abort leaves few fault samples; the recovery watch's polls before the restored moment are still
    the fault (the definition: injection → restored). They were dropped: the window ended at the abort."""
    from chaosrunner.guard.statistics import steady_state_verdicts

    doc = with_recovery_samples(J.aborted(), bad=6, good=6)
    sec = doc["chaosrunner"]
    sec["guard"]["baseline_samples"] = {"pinboard-availability": [0.0004, 0.0005, 0.0006] * 5}
    verdict = {v.sli: v for v in steady_state_verdicts(load(doc).journal)}["pinboard-availability"]
    method = [x for x in sec["guard"]["samples"] if x.get("phase") != "recovery"]
    assert verdict.during is not None and verdict.during.n == len(method) + 6, verdict.sentence
    assert verdict.during.significant and verdict.during.difference > 0, verdict.sentence
