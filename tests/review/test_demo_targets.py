"""``make demo`` prints measured vs target for the week (cli/demo.py), with the report's own definitions."""

from __future__ import annotations

import json
from pathlib import Path

from chaosrunner.cli.demo import measured_vs_target, render_summary
from tests.review import journals as J
from tests.review.test_evidence import declare, monday_no_impact


def test_demo_prints_measured_vs_target(tmp_path: Path) -> None:
    doc = declare(
        monday_no_impact(),
        rto="30m",
        availability_during="85%",
        users_unaffected="90%",
        figures={"replacement_time_s": 10},
    )
    path = J.write_journal(tmp_path, doc)
    row = measured_vs_target(str(path))
    assert row["figure"] == "RTO 0 s (no client-visible impact)"  # not "p50_ms_before=2.08", not a dict's first key
    text = render_summary(
        {
            "root": "/r",
            "calendar": "schedules/weekly.yaml",
            "ok": True,
            "runs": [{"experiment": "mon-instance-kill.yaml", "verdict": "passed", "journal": str(path), **row}],
        }
    )
    assert "✓ RTO: 0 s (no client-visible impact) (target ≤ 30 min 00 s)" in text
    assert "✓ replacement_time_s: 0.391 (target ≤ 10)" in text
    assert "? users unaffected: not measured" in text
    assert json.dumps(row)  # the --json summary stays JSON
