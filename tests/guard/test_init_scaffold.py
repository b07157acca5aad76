"""`chaosrunner init` as a new user types it: a first experiment on their own service and Prometheus (the guard's
test estate stands for them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guard.estate import ServiceEstate
from tests.guard.test_run_guarded import healthy, journal

TARGET = "pinboard-us-east-a-1"


def _post(url: str, body: dict[str, object]) -> str:
    """A command line that POSTs JSON, as a user would write with curl (python, so no curl is needed)."""
    code = (f"import json,urllib.request; urllib.request.urlopen(urllib.request.Request({url!r}, "
            f"data=json.dumps({body!r}).encode(), headers={{'Content-Type': 'application/json'}}), timeout=3)")
    return f"{sys.executable} -c \"{code}\""


def chaosrunner(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_init_writes_a_first_experiment_that_the_guard_aborts_on_the_users_own_metrics(
    estate: ServiceEstate, tmp_path: Path
) -> None:
    """The scaffold's fault makes half of one instance's requests fail; its guard reads the user's metric
    names on the user's Prometheus and aborts; the user's undo runs."""
    r = chaosrunner(
        "init", "first-fault", "--service", "pinboard", "--prometheus", estate.prometheus.url,
        "--inject", _post(f"{estate.service_url}/control", {"match": {"target": TARGET}, "error_ratio": 0.5}),
        "--undo", _post(f"{estate.service_url}/reset", {}),
        "--target", TARGET, "--hold", "30s", "--no-budget-gate",  # a young Prometheus holds no 30-day budget
        "--requests-metric", "svc_requests_total", "--histogram", "svc_request_duration_seconds",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    exp = tmp_path / "experiments" / "first-fault.yaml"
    assert f"wrote {Path('experiments') / 'first-fault.yaml'}" in r.stdout
    assert chaosrunner("validate", str(exp), cwd=tmp_path).returncode == 0
    run = chaosrunner("run", str(exp), "--json", cwd=tmp_path)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    cr = journal(result)["chaosrunner"]
    assert run.returncode == 3 and cr["verdict"] == "aborted", result
    assert "pinboard-availability" in cr["abort"]["reason"]
    assert healthy(estate)  # the user's undo ran
    # a second experiment on the same service reuses the SLOs; nothing is ever overwritten
    again = chaosrunner("init", "second", "--service", "pinboard", "--prometheus", estate.prometheus.url,
                        "--inject", "true", "--undo", "true", cwd=tmp_path)
    assert again.returncode == 0 and "probes/pinboard.yaml" in again.stdout, again.stderr
    same = chaosrunner("init", "second", "--service", "pinboard", "--prometheus", estate.prometheus.url,
                       "--inject", "true", "--undo", "true", cwd=tmp_path)
    assert same.returncode == 2 and "second.yaml exists" in same.stderr


def test_bad_answers_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    r = chaosrunner("init", "Bad_Name", "--service", "shop", "--prometheus", "ftp://x", "--inject", "'a",
                    "--undo", "true", "--hold", "3 parsecs", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    for key in ("name: 'Bad_Name'", "--prometheus: 'ftp://x'", "--inject: \"'a\": No closing quotation", "--hold:"):
        assert key in r.stderr, r.stderr
    missing = chaosrunner("init", "x", "--service", "shop", "--prometheus", "http://p:9090",
                          "--inject", "no-such-command-anywhere", "--undo", "true", cwd=tmp_path, timeout=60)
    assert missing.returncode == 2 and "experiments/x.yaml" in missing.stderr and "cannot be found" in missing.stderr
    assert not any(tmp_path.rglob("*.yaml"))
