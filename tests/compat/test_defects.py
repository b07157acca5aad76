"""Issue 14, one test per defect: each failed on the code before the compatibility work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.compat.harness import chaos_run, chaosrunner, chaosrunner_run, env, render, same_record


def _journal(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _mark(name: str, trace: Path, **extra: object) -> dict:
    return {"type": "action", "name": name, **extra,
            "provider": {"type": "python", "module": "ctk_activities", "func": "mark",
                         "arguments": {"trace": str(trace), "text": name}}}


CTK_KEYS = ("chaoslib-version", "platform", "node", "experiment", "status", "start", "end", "duration", "deviated",
            "steady_states", "run", "rollbacks")


# -- ref ------------------------------------------------------------------------------------------------
def test_ref_in_the_rollbacks_plays_the_rollback(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path)
    assert ours.code == 0, ours.stderr
    assert ours.trace == ["inject", "inject", "inject", "undo"]
    assert [r["status"] for r in ours.journal["rollbacks"]] == ["succeeded", "succeeded"]
    assert ours.journal["chaosrunner"]["verdict"] == "passed"


def test_unresolvable_rollback_ref_is_refused_before_anything_runs(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    path = _write(tmp_path / "e.yaml", {"title": "t", "description": "d", "method": [_mark("inject", trace)],
                                        "rollbacks": [{"ref": "nowhere"}]})
    result = chaosrunner("run", str(path), tmp=tmp_path)
    assert result.returncode == 2
    assert "rollbacks[0].ref" in result.stderr and "crash at the rollbacks" in result.stderr
    assert not trace.exists()


# -- controls that edit the journal ---------------------------------------------------------------------
def test_control_appending_to_rollbacks_and_run_keeps_the_journal_readable(tmp_path: Path) -> None:
    experiment, trace = render("controls.yaml", tmp_path)
    ours = chaosrunner_run(experiment, trace, tmp_path, "--json")
    assert ours.code == 0, ours.stderr
    assert ours.journal["chaosrunner"]["verdict"] == "passed"
    assert ours.journal["rollbacks"][-1] == {"control_entry": "top: rollbacks reviewed"}
    from chaosrunner.journal.schema import Journal

    Journal.model_validate(ours.journal)  # what `journal list/show` validate against


# -- journal keys ---------------------------------------------------------------------------------------
def test_refused_run_journal_has_the_chaos_toolkit_keys(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    assert chaosrunner("halt", "--reason", "freeze", tmp=tmp_path).returncode == 0
    ours = chaosrunner_run(experiment, trace, tmp_path)
    assert ours.code == 4, ours.stderr
    for key in CTK_KEYS:
        assert key in ours.journal, key
    assert ours.journal["status"] == "skipped"
    assert ours.journal["experiment"]["title"] == "ref activities"
    assert ours.trace == []


def test_invalid_settings_journal_has_the_chaos_toolkit_keys(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    bad = tmp_path / "settings.yaml"
    bad.write_text("runtime: [not, a, mapping]\n")
    ours = chaosrunner_run(experiment, trace, tmp_path, "--settings", str(bad))
    assert ours.code == 2, ours.stderr
    assert ours.journal["status"] == "skipped" and all(k in ours.journal for k in CTK_KEYS)


def test_run_stopped_before_chaoslib_started_has_status_end_and_duration(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    doc = {
        "title": "slow configuration", "description": "a dynamic configuration probe that blocks",
        "configuration": {"slow": {"type": "probe", "name": "slow-config", "provider": {
            "type": "python", "module": "ctk_activities", "func": "slow_mark",
            "arguments": {"trace": str(trace), "text": "config", "seconds": 30}}}},
        "method": [_mark("inject", trace)],
        "rollbacks": [_mark("undo", trace)],
    }
    path = _write(tmp_path / "e.yaml", doc)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", "--journal-dir", str(store), str(path)],
                            env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, proc.stderr.read() if proc.stderr else ""
    (journal,) = store.rglob("*.json")
    data = _journal(journal)
    assert data["status"] == "interrupted"
    assert data["end"] and isinstance(data["duration"], float)
    assert all(k in data for k in CTK_KEYS)
    assert data["chaosrunner"]["verdict"] == "interrupted"  # an operator's SIGTERM, not a safety abort


# -- vars, var files, secrets ---------------------------------------------------------------------------
def _var_files(tmp: Path) -> list[str]:
    (tmp / "vars.json").write_text(json.dumps({"configuration": {"name": "from-json"},
                                               "secrets": {"svc": {"token": "s3cr3t-from-file"}}}))
    (tmp / "vars.yaml").write_text("configuration:\n  ratio: 0.75\n")
    (tmp / "vars.env").write_text("# comment\nCTK_COMPAT_FROM_ENV=from-dotenv\n")
    return ["--var-file", str(tmp / "vars.json"), "--var-file", str(tmp / "vars.yaml"),
            "--var-file", str(tmp / "vars.env")]


def test_typed_vars_var_files_and_secrets_reach_activities_as_under_chaos_run(tmp_path: Path) -> None:
    experiment, trace = render("vars.yaml", tmp_path)
    args = [*_var_files(tmp_path), "--var", "count:int=7", "--var", "version=1.10"]
    theirs = chaos_run(experiment, trace, tmp_path, *args)
    ours = chaosrunner_run(experiment, trace, tmp_path, *args)
    same_record(ours, theirs)
    seen = {json.loads(line)[0]: json.loads(line)[1:] for line in ours.trace}
    assert seen["config.count"] == ["int", 7]
    assert seen["config.version"] == ["str", "1.10"]
    assert seen["config.name"] == ["str", "from-json"]
    assert seen["config.ratio"] == ["float", 0.75]
    assert seen["config.from_env"] == ["str", "from-dotenv"]
    assert seen["secret.token"] == ["str", "s3cr3t-from-file"]
    assert ours.code == 0, ours.stderr
    assert "s3cr3t-from-file" not in json.dumps(ours.journal)  # still redacted in our journal


def test_typed_var_is_stored_under_its_name_not_name_colon_type(tmp_path: Path) -> None:
    from chaosrunner.experiment.variables import parse_var

    assert parse_var("key:int=7") == ("key", 7)
    assert parse_var("x=1.10") == ("x", "1.10")
    assert parse_var("n=3") == ("n", 3)  # chaosrunner's documented JSON reading, lossless only
    assert parse_var("raw:str=3") == ("raw", "3")
    assert parse_var("url=http://a:b") == ("url", "http://a:b")


# -- settings and global controls -----------------------------------------------------------------------
def test_settings_file_global_controls_run_as_under_chaos_run(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"controls": {"glob": {"provider": {
        "type": "python", "module": "ctk_controls", "arguments": {"trace": str(trace), "label": "glob"}}}}}))
    theirs = chaos_run(experiment, trace, tmp_path, group=("--settings", str(settings)))
    ours = chaosrunner_run(experiment, trace, tmp_path, "--settings", str(settings))
    same_record(ours, theirs)
    assert "glob:before-experiment" in ours.trace and "glob:after-rollback" in ours.trace


def test_default_settings_file_is_read_from_home(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    folder = tmp_path / "home" / ".chaostoolkit"
    folder.mkdir(parents=True)
    (folder / "settings.yaml").write_text(yaml.safe_dump({"controls": {"glob": {"provider": {
        "type": "python", "module": "ctk_controls", "arguments": {"trace": str(trace), "label": "home"}}}}}))
    ours = chaosrunner_run(experiment, trace, tmp_path)
    assert "home:before-experiment" in ours.trace


def test_control_file_option_loads_global_controls(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    controls = tmp_path / "controls.yaml"
    controls.write_text(yaml.safe_dump({"cf": {"provider": {
        "type": "python", "module": "ctk_controls", "arguments": {"trace": str(trace), "label": "cf"}}}}))
    theirs = chaos_run(experiment, trace, tmp_path, "--control-file", str(controls))
    ours = chaosrunner_run(experiment, trace, tmp_path, "--control-file", str(controls))
    same_record(ours, theirs)
    assert "cf:before-method" in ours.trace


# -- background activities ------------------------------------------------------------------------------
def test_background_activity_longer_than_the_activity_timeout_passes(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    doc = {
        "title": "long background", "description": "a background activity outlives the foreground default",
        "method": [{"type": "action", "name": "bg", "background": True, "provider": {
            "type": "python", "module": "ctk_activities", "func": "slow_mark",
            "arguments": {"trace": str(trace), "text": "bg", "seconds": 2.5}}}, _mark("fg", trace)],
        "extensions": [{"name": "chaosrunner", "timeouts": {"activity": "1s"}}],
    }
    ours = chaosrunner_run(_write(tmp_path / "e.yaml", doc), trace, tmp_path)
    assert ours.code == 0, ours.stderr
    assert sorted(ours.trace) == ["bg", "fg"]


def test_background_timeout_still_bounds_a_background_activity(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    doc = {
        "title": "bounded background", "description": "timeouts.background stops a background activity",
        "method": [{"type": "action", "name": "bg", "background": True, "provider": {
            "type": "python", "module": "ctk_activities", "func": "slow_mark",
            "arguments": {"trace": str(trace), "text": "bg", "seconds": 30}}}],
        "extensions": [{"name": "chaosrunner", "timeouts": {"background": "1s"}}],
    }
    t0 = time.monotonic()
    ours = chaosrunner_run(_write(tmp_path / "e.yaml", doc), trace, tmp_path, timeout=60)
    assert ours.code == 1, ours.stderr
    assert "timed out after 1.0s" in ours.journal["chaosrunner"]["reason"]
    assert time.monotonic() - t0 < 20, "the run waited for the 30 s activity instead of stopping it at 1 s"
    assert not trace.exists() or "bg" not in trace.read_text().split()


# -- CLI ------------------------------------------------------------------------------------------------
def test_journal_path_gets_a_copy_of_the_journal(tmp_path: Path) -> None:
    experiment, trace = render("ref.yaml", tmp_path)
    copy = tmp_path / "journal.json"
    ours = chaosrunner_run(experiment, trace, tmp_path, "--journal-path", str(copy))
    assert ours.code == 0, ours.stderr
    assert _journal(copy) == ours.journal


def test_no_validation_is_refused_with_the_reason(tmp_path: Path) -> None:
    experiment, _ = render("ref.yaml", tmp_path)
    result = chaosrunner("run", "--no-validation", str(experiment), tmp=tmp_path)
    assert result.returncode == 2
    assert "always validates" in result.stderr


def test_log_format_json_and_log_file(tmp_path: Path) -> None:
    experiment, _ = render("ref.yaml", tmp_path)
    log = tmp_path / "run.log"
    result = chaosrunner("run", "--log-format", "json", "--log-file", str(log), str(experiment), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any("Running experiment" in r.get("message", "") for r in records)
    assert "Running experiment: ref activities" in log.read_text()


def test_experiment_from_an_http_url(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    experiment, trace = render("ref.yaml", tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(experiment.parent))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ref.yaml"
        ours = chaosrunner_run(url, trace, tmp_path, store=tmp_path / "url-journals")
        missing = chaosrunner("run", url.replace("ref.yaml", "absent.yaml"), tmp=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert ours.code == 0, ours.stderr
    assert ours.trace == ["inject", "inject", "inject", "undo"]
    assert missing.returncode == 2 and "HTTP 404" in missing.stderr


def test_oversized_url_is_refused(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import pytest

    from chaosrunner.core.validation import InvalidInput
    from chaosrunner.experiment import loader

    class Huge(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 2048)

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setattr(loader, "MAX_SOURCE_BYTES", 1024)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(InvalidInput, match="larger than"):
            loader.fetch_source(f"http://127.0.0.1:{server.server_address[1]}/e.yaml")
    finally:
        server.shutdown()
        server.server_close()


def test_env_is_not_leaked_between_tests() -> None:
    assert "CTK_COMPAT_FROM_ENV" not in os.environ
