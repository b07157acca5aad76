"""Abort latency: how fast does each tool stop a fault that hurts the SLO, and does it roll back?

One estate for everyone: the guard tests' service (tests/guard/service.py) and a real Prometheus 2.42
scraping it every second. One fault: the experiment's method makes ``pinboard-us-east-a-1`` fail half
of its requests (HTTP POST /control) and then pauses 15 s; its rollback heals the service (POST /reset).
The SLO: pinboard availability, 99.9 %, abort above burn 14.4 in the targeted zone, i.e. an in-zone error
ratio above 1.44 %, over the same PromQL range for every contender (``--window``, default 3 s: with 1 s
scrapes the smallest range that always holds two samples plus one of slack).

Contenders (interleaved round by round so drift hits all alike; >= 10 trials each):

* ``chaosrunner`` — ``chaosrunner run`` with ``slo_guard`` (four configurations: sampling every 1 s
  with one breaching sample — the peers' frequency —, every 250 ms with two consecutive breaching
  samples, every 250 ms with one, and every 1 s with the fast signal beside it: the service's own
  ``/metrics`` read every 100 ms, two breaching readings in a row over a 1 s window);
* ``safeguards`` — ``chaos run`` with chaostoolkit-addons' safeguards control, probe ``frequency: 1``
  and the same PromQL as tolerance;
* ``continuous`` — ``chaos run --hypothesis-strategy continuously --hypothesis-frequency 1 --fail-fast``
  with the same probe as steady-state hypothesis.

Measured from the service's own event log (epoch seconds, one host clock): t0 = the fault call reached
the service; decision = chaosrunner's journal ``abort.decided_at`` / the safeguard's interruption call /
the first failing continuous-hypothesis probe; rollback = the service's reset event (none if the tool
never rolled back — then the bench heals the service itself and says so).

Run: ``.venv/bin/python -m bench.abort_latency [--trials 10]``; writes bench/results/abort_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "abort_latency.json"
BIN = Path(sys.executable).parent
TARGET = "pinboard-us-east-a-1"
PAUSE_S = 15
WINDOW = "3s"  # the live PromQL range, the same for every contender (--window)


def in_zone_ratio(window: str) -> str:
    return (
        f'sum(rate(svc_requests_total{{code=~"5..",service="pinboard",zone=~"us-east-a"}}[{window}])) '
        f'/ sum(rate(svc_requests_total{{service="pinboard",zone=~"us-east-a"}}[{window}]))'
    )


LIMIT_RATIO = 14.4 * 0.001


def _method(url: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "action",
            "name": "make-the-service-fail",
            "provider": {
                "type": "http",
                "url": f"{url}/control",
                "method": "POST",
                "timeout": 3,
                "headers": {"Content-Type": "application/json"},
                "arguments": {"match": {"target": TARGET}, "error_ratio": 0.5},
            },
            "pauses": {"after": PAUSE_S},
        }
    ]


def _rollbacks(url: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "action",
            "name": "heal-the-service",
            "provider": {
                "type": "http",
                "url": f"{url}/reset",
                "method": "POST",
                "timeout": 3,
                "headers": {"Content-Type": "application/json"},
                "arguments": {},
            },
        }
    ]


def _probe(prom: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "probe",
        "name": "in-zone-error-ratio",
        "provider": {
            "type": "python",
            "module": "bench._abort_latency_hooks",
            "func": "error_ratio",
            "arguments": {"prometheus_url": prom, "query": in_zone_ratio(WINDOW)},
        },
        "tolerance": {"type": "range", "range": [0.0, LIMIT_RATIO]},
        **extra,
    }


def chaosrunner_experiment(url: str, prom: str, catalog: Path, interval: str, consecutive: int,
                           fast: dict[str, Any] | None = None) -> dict[str, Any]:
    from tests.guard.estate import static_targets

    return {
        "title": "abort latency: chaosrunner",
        "description": "bench",
        "method": _method(url),
        "rollbacks": _rollbacks(url),
        "extensions": [
            {
                "name": "chaosrunner",
                "targets": {"inventory": "static", "select": {"id": TARGET}, "static": static_targets(url)},
                "blast_radius": {"services": ["pinboard"], "max_targets": 1, "zones": 1},
                "slo_guard": {
                    "slos": ["pinboard-availability"],
                    "interval": interval,
                    "window": WINDOW,
                    "baseline_window": "5s",
                    "catalog": [str(catalog)],
                    "prometheus": prom,
                    "out_of_scope": False,
                    # every trial burns budget on purpose: with the default gate (25 % left) the second
                    # trial onwards was refused at preflight (exit 4) and nothing was measured
                    "budget_gate": False,
                    "abort_on": {"burn_rate": 14.4, "consecutive": consecutive},
                    **({"fast": fast} if fast else {}),
                },
            }
        ],
    }


def safeguards_experiment(url: str, prom: str) -> dict[str, Any]:
    return {
        "title": "abort latency: safeguards",
        "description": "bench",
        "controls": [
            {"name": "bench-hooks", "provider": {"type": "python", "module": "bench._abort_latency_hooks"}},
            {
                "name": "safeguard",
                "provider": {
                    "type": "python",
                    "module": "chaosaddons.controls.safeguards",
                    "arguments": {"probes": [_probe(prom, frequency=1)]},
                },
            },
        ],
        "method": _method(url),
        "rollbacks": _rollbacks(url),
    }


def continuous_experiment(url: str, prom: str) -> dict[str, Any]:
    return {
        "title": "abort latency: continuous hypothesis",
        "description": "bench",
        "steady-state-hypothesis": {"title": "in-zone errors below the burn limit", "probes": [_probe(prom)]},
        "method": _method(url),
        "rollbacks": _rollbacks(url),
    }


def _epoch(iso: str) -> float:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if dt.tzinfo is None:  # Chaos Toolkit journals: naive UTC
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _events(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/control", timeout=3) as r:
        return list(json.loads(r.read())["events"])


def _fault_and_heal(url: str, since: float) -> tuple[float | None, float | None]:
    ev = [e for e in _events(url) if e["at"] >= since]
    fault = next((e["at"] for e in ev if e["kind"] == "control" and e.get("error_ratio")), None)
    heal = next((e["at"] for e in ev if e["kind"] == "reset" and fault is not None and e["at"] > fault), None)
    return fault, heal


def trial(kind: str, exp: Path, workdir: Path, estate: Any, env: dict[str, str]) -> dict[str, Any]:
    from tests.guard.conftest import settle

    settle(estate)
    events = workdir / f"{exp.stem}.events"
    events.unlink(missing_ok=True)
    env = {**env, "BENCH_EVENTS": str(events)}
    start = time.time()
    if kind.startswith("chaosrunner"):
        argv = [str(BIN / "chaosrunner"), "run", str(exp), "--json"]
    else:
        argv = [
            str(BIN / "chaos"),
            "--no-version-check",
            "--log-file",
            str(workdir / "chaos.log"),
            "run",
            "--journal-path",
            str(workdir / "journal.json"),
        ]
        if kind == "continuous":
            argv += ["--hypothesis-strategy", "continuously", "--hypothesis-frequency", "1", "--fail-fast"]
        argv.append(str(exp))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=PAUSE_S + 90)
    ended = time.time()
    fault, heal = _fault_and_heal(estate.service_url, start)
    decision = None
    if kind.startswith("chaosrunner"):
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        journal = json.loads(Path(result.get("journal") or result.get("journal_path")).read_text())
        abort = journal["chaosrunner"].get("abort") or {}
        decision = _epoch(abort["decided_at"]) if abort.get("decided_at") else None
        status = journal["chaosrunner"]["verdict"]
    else:
        logged = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
        if kind == "safeguards":
            decision = next((e["at"] for e in logged if e["kind"] == "decision"), None)
        else:
            decision = next(
                (
                    e["at"]
                    for e in logged
                    if e["kind"] == "probe" and e["at"] > (fault or 0) and e["value"] > LIMIT_RATIO
                ),
                None,
            )
        status = json.loads((workdir / "journal.json").read_text()).get("status")
    healed_by_tool = heal is not None
    if not healed_by_tool:
        estate.reset()
    return {
        "kind": kind,
        "exit": proc.returncode,
        "status": status,
        "decision_s": None if decision is None or fault is None else round(decision - fault, 3),
        "rollback_s": None if heal is None or fault is None else round(heal - fault, 3),
        "rolled_back": healed_by_tool,
        "fault_lasted_s": round(((heal if heal else ended) - fault), 3) if fault else None,
        "process_s": round(ended - start, 3),
    }


def killswitch_trial(exp: Path, estate: Any, env: dict[str, str]) -> dict[str, Any]:
    """`chaosrunner halt` while a guarded run pauses: time from the kill-switch file to the abort decision
    and to the rollback (the fault itself does not hurt the SLO here)."""
    from chaosrunner.safety import killswitch
    from tests.guard.conftest import settle

    settle(estate)
    journals = Path(env["CHAOSRUNNER_JOURNALS"])
    before = set(journals.rglob("*.json")) if journals.exists() else set()
    proc = subprocess.Popen(
        [str(BIN / "chaosrunner"), "run", str(exp), "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    home = Path(env["CHAOSRUNNER_HOME"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = [p for p in journals.rglob("*.json") if p not in before] if journals.exists() else []
            try:
                if new and json.loads(new[0].read_text())["chaosrunner"].get("guard"):
                    break
            except (ValueError, KeyError, OSError):
                pass
            time.sleep(0.05)
        engaged = time.time()
        killswitch.engage("bench", root=home)
        out, _ = proc.communicate(timeout=60)
        ended = time.time()
    finally:
        killswitch.release(root=home)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    result = json.loads(out.strip().splitlines()[-1])
    journal = json.loads(Path(result.get("journal") or result.get("journal_path")).read_text())
    abort = journal["chaosrunner"].get("abort") or {}
    heal = next((e["at"] for e in _events(estate.service_url) if e["kind"] == "reset" and e["at"] > engaged), None)
    return {
        "decision_s": round(_epoch(abort["decided_at"]) - engaged, 3) if abort.get("decided_at") else None,
        "rollback_s": round(heal - engaged, 3) if heal else None,
        "run_ended_s": round(ended - engaged, 3),  # the process gone: the journal written, notifications flushed
        "reason": abort.get("reason"),
    }


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def main() -> int:
    global WINDOW
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--killswitch-trials", type=int, default=10, help="halt-to-abort trials (0: skip)")
    ap.add_argument("--window", default=WINDOW, help="live PromQL range for every contender (default 3s)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still stops its estate (finally)
    WINDOW = args.window
    sys.path.insert(0, str(REPO))
    import yaml

    from tests.guard.estate import start_estate
    from tests.safety.webhook import Receiver

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "CHAOSRUNNER_HOME": str(root / "home"),
            "CHAOSRUNNER_JOURNALS": str(root / "journals"),
            "PYTHONPATH": str(REPO),
        }
        estate = start_estate(root / "estate", min_samples=3)
        try:
            url, prom = estate.service_url, estate.prometheus.url
            docs = {
                "chaosrunner (1s, 1 sample)": chaosrunner_experiment(url, prom, estate.catalog_path, "1s", 1),
                "chaosrunner (250ms, 2 samples)": chaosrunner_experiment(url, prom, estate.catalog_path, "250ms", 2),
                "chaosrunner (250ms, 1 sample)": chaosrunner_experiment(url, prom, estate.catalog_path, "250ms", 1),
                "chaosrunner (1s + fast 100ms)": chaosrunner_experiment(
                    url, prom, estate.catalog_path, "1s", 1, {"interval": "100ms", "window": "1s", "consecutive": 2}),
                "safeguards": safeguards_experiment(url, prom),
                "continuous": continuous_experiment(url, prom),
            }
            files = {}
            for i, (kind, doc) in enumerate(docs.items()):
                files[kind] = root / f"exp{i}.yaml"
                files[kind].write_text(yaml.safe_dump(doc, sort_keys=False))
            rows: list[dict[str, Any]] = []
            for n in range(args.trials):
                for kind in docs:
                    r = trial(kind, files[kind], root, estate, env)
                    r["trial"] = n
                    rows.append(r)
                    print(
                        f"trial {n:2d} {kind:<32} decision {r['decision_s']}s rollback {r['rollback_s']}s "
                        f"exit {r['exit']} {r['status']}",
                        file=sys.stderr,
                        flush=True,
                    )
            halt_doc = chaosrunner_experiment(url, prom, estate.catalog_path, "1s", 1)
            halt_doc["method"][0]["provider"]["arguments"]["error_ratio"] = 0.0
            halt_file = root / "halt.yaml"
            halt_file.write_text(yaml.safe_dump(halt_doc, sort_keys=False))
            halts = []
            hook = Receiver(hang_s=30)  # a chat webhook that answers each notification 30 s late
            try:
                for n in range(args.killswitch_trials):
                    for webhook in ("none", "hanging 30 s"):  # alternating: the same machine state for both
                        h = killswitch_trial(halt_file, estate,
                                             env if webhook == "none" else {**env, "CHAOSRUNNER_WEBHOOK_URL": hook.url})
                        h["webhook"] = webhook
                        halts.append(h)
                        print(f"halt {n:2d} webhook {webhook:<13} decision {h['decision_s']}s rollback "
                              f"{h['rollback_s']}s run ended {h['run_ended_s']}s", file=sys.stderr, flush=True)
            finally:
                hook.close()
        finally:
            estate.stop()

    summary = {}
    for kind in docs:
        rs = [r for r in rows if r["kind"] == kind]
        dec = [r["decision_s"] for r in rs if r["decision_s"] is not None]
        rb = [r["rollback_s"] for r in rs if r["rollback_s"] is not None]
        after = [
            r["rollback_s"] - r["decision_s"] for r in rs if r["rollback_s"] is not None and r["decision_s"] is not None
        ]
        summary[kind] = {
            "trials": len(rs),
            "decided": len(dec),
            "rolled_back": sum(r["rolled_back"] for r in rs),
            "decision_median_s": _median(dec),
            "decision_max_s": max(dec) if dec else None,
            "rollback_median_s": _median(rb),
            "rollback_after_decision_median_s": _median(after),
            "rollback_after_decision_max_s": round(max(after), 3) if after else None,
            "fault_lasted_median_s": _median([r["fault_lasted_s"] for r in rs if r["fault_lasted_s"]]),
        }
    base = summary["safeguards"]["decision_median_s"]
    for s in summary.values():
        s["decision_vs_safeguards"] = (
            round(s["decision_median_s"] / base, 3) if base and s["decision_median_s"] is not None else None
        )

    head = (
        f"{'contender':<32} {'decided':>8} {'decision p50':>13} {'max':>6} {'x safeguards':>13} "
        f"{'rolled back':>12} {'rollback p50':>13} {'after decision p50/max':>23} {'fault lasted p50':>17}"
    )
    print(head)
    print("-" * len(head))
    for kind, s in summary.items():

        def f(v: Any) -> str:
            return "-" if v is None else f"{v:.2f}"

        print(
            f"{kind:<32} {s['decided']:>3}/{s['trials']:<4} {f(s['decision_median_s']):>12}s "
            f"{f(s['decision_max_s']):>5}s {f(s['decision_vs_safeguards']):>13} "
            f"{s['rolled_back']:>5}/{s['trials']:<6} {f(s['rollback_median_s']):>12}s "
            f"{f(s['rollback_after_decision_median_s']):>10}s/{f(s['rollback_after_decision_max_s'])}s "
            f"{f(s['fault_lasted_median_s']):>16}s"
        )
    halt_summary = {}
    for webhook in ("none", "hanging 30 s"):
        hs = [h for h in halts if h["webhook"] == webhook]
        if not hs:
            continue
        hd = [h["decision_s"] for h in hs if h["decision_s"] is not None]
        hr = [h["rollback_s"] for h in hs if h["rollback_s"] is not None]
        he = [h["run_ended_s"] for h in hs if h["run_ended_s"] is not None]
        halt_summary[webhook] = {"trials": len(hs), "aborted": len(hd), "decision_median_s": _median(hd),
                                 "decision_max_s": max(hd) if hd else None, "rollback_median_s": _median(hr),
                                 "rollback_max_s": max(hr) if hr else None, "run_ended_median_s": _median(he)}
    if halt_summary:
        print(f"\n{'kill switch → … (webhook)':<28} {'aborted':>8} {'decision p50/max':>17} {'rollback p50/max':>17} "
              f"{'run ended p50':>14}")
        for webhook, h in halt_summary.items():
            print(f"{webhook:<28} {h['aborted']:>3}/{h['trials']:<4} {h['decision_median_s']}/{h['decision_max_s']}s"
                  f"{'':>4} {h['rollback_median_s']}/{h['rollback_max_s']}s{'':>4} {h['run_ended_median_s']}s")
        base, hung = halt_summary.get("none"), halt_summary.get("hanging 30 s")
        if base and hung and base["rollback_median_s"] and hung["rollback_median_s"]:
            ratio = hung["rollback_median_s"] / base["rollback_median_s"]
            print(f"rollback with a hanging webhook / without: {ratio:.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "pause_s": PAUSE_S,
                "window": WINDOW,
                "limit_ratio": LIMIT_RATIO,
                "summary": summary,
                "killswitch": halts,
                "killswitch_summary": halt_summary,
                "trials": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
