"""`validate`, `plan`, `run`: one experiment at a time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from chaosrunner.cli.state import HOME_HELP
from chaosrunner.core.verdict import EXIT_CODES_HELP, ExitCode, Verdict

TRIGGERS = ("cli", "schedule", "gameday")


def _fail_input(err: Exception) -> typer.Exit:
    typer.echo(str(err), err=True)
    return typer.Exit(int(ExitCode.INVALID_INPUT))


def parse_variables(pairs: list[str], files: list[Path]) -> dict[str, Any]:
    """``--var k=v`` (v parsed as JSON when it is JSON, else a string) over ``--var-file`` mappings
    (flat, or Chaos Toolkit's ``{configuration: {...}}``). Raises InvalidInput naming the source.

    Var files are content like any other (bounded by ``load_document``). A ``--var`` value that parses
    as JSON is held to the same limits: too deep, or NaN/Infinity, is refused, not taken as text."""
    from chaosrunner.core.documents import DocumentRefused, join_path, parse_json
    from chaosrunner.core.validation import InvalidInput, load_document

    out: dict[str, Any] = {}
    for f in files:
        doc = load_document(f)
        if isinstance(doc, dict) and isinstance(doc.get("configuration"), dict):
            doc = doc["configuration"]
        if not isinstance(doc, dict):
            raise InvalidInput(f, [("", "a var file must be a mapping of configuration keys to values")])
        out.update({str(k): v for k, v in doc.items()})
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput("--var", [(pair, "expected key=value")])
        try:
            value: Any = parse_json(raw)
        except DocumentRefused as e:
            raise InvalidInput("--var", [(join_path(key, e.key), e.message)]) from None
        except ValueError:  # not JSON: the text itself
            value = raw
        out[key] = value
    return out


def _setup_logging(verbose: bool) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("chaostoolkit").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "botocore", "boto3", "kubernetes", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        files: list[Path] = typer.Argument(..., help="experiment files (YAML or JSON)"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
    ) -> None:
        """Validate experiments: Chaos Toolkit's schema plus the chaosrunner extension. Exit 2 on bad input."""
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.experiment.loader import load_experiment

        results = []
        for f in files:
            try:
                exp = load_experiment(f)
                results.append({"file": str(f), "valid": True, "title": exp.title, "problems": []})
            except InvalidInput as e:
                problems = [f"{k}: {m}" if k else m for k, m in e.problems]
                results.append({"file": str(f), "valid": False, "problems": problems})
                if not as_json:
                    typer.echo(e.render(), err=True)
        if as_json:
            typer.echo(json.dumps(results, indent=2))
        else:
            for r in results:
                if r["valid"]:
                    typer.echo(f"{r['file']}: ok ({r['title']})")
        if not all(r["valid"] for r in results):
            raise typer.Exit(int(ExitCode.INVALID_INPUT))

    @app.command()
    def plan(
        file: Path = typer.Argument(..., help="experiment file"),
        var: list[str] = typer.Option([], "--var", help="configuration override key=value (repeatable)"),
        var_file: list[Path] = typer.Option([], "--var-file", help="YAML/JSON file of configuration values"),
        calendar: Path | None = typer.Option(None, help="calendar file, to check the entry's window"),
        entry: str | None = typer.Option(None, help="calendar entry name"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable plan"),
    ) -> None:
        """Dry run: the activities in order and the preflight verdict (targets, blast radius, budget,
        window). Injects nothing. Exit 0 when a run would be allowed, 4 when it would be refused."""
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.experiment.loader import check_substituted, load_experiment
        from chaosrunner.run.plan import build_plan, render_plan

        try:
            exp = load_experiment(file)
            variables = parse_variables(var, var_file)
            check_substituted(exp.doc, variables, exp.path)
        except InvalidInput as e:
            raise _fail_input(e) from None
        result = build_plan(exp, variables=variables, calendar=calendar, calendar_entry=entry)
        typer.echo(json.dumps(result, indent=2, default=str) if as_json else render_plan(result))
        if not result["preflight"]["allowed"]:
            raise typer.Exit(int(ExitCode.REFUSED))

    @app.command(epilog=EXIT_CODES_HELP + "\n\n" + HOME_HELP)
    def run(
        file: Path = typer.Argument(..., help="experiment file (YAML or JSON)"),
        var: list[str] = typer.Option([], "--var", help="configuration override key=value (repeatable)"),
        var_file: list[Path] = typer.Option([], "--var-file", help="YAML/JSON file of configuration values"),
        journal_dir: Path | None = typer.Option(None, help="journal store ($CHAOSRUNNER_JOURNALS, ./journals)"),
        trigger: str = typer.Option("cli", help="what started the run: cli, schedule or gameday"),
        calendar: Path | None = typer.Option(None, help="calendar file (scheduled runs): preflight checks the window"),
        entry: str | None = typer.Option(None, help="calendar entry name (with --calendar)"),
        as_json: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging"),
    ) -> None:
        """Run one experiment: preflight, guarded method, rollbacks always, journal, verdict."""
        from chaosrunner.cli.live import LiveView
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.experiment.loader import check_substituted, load_experiment
        from chaosrunner.run.runner import RunOptions, run_experiment

        if trigger not in TRIGGERS:
            raise _fail_input(InvalidInput("--trigger", [("", f"must be one of {', '.join(TRIGGERS)}")]))
        if (calendar is None) != (entry is None):
            raise _fail_input(InvalidInput("--calendar/--entry", [("", "give both or neither")]))
        try:
            exp = load_experiment(file)
            variables = parse_variables(var, var_file)
            check_substituted(exp.doc, variables, exp.path)
        except InvalidInput as e:
            raise _fail_input(e) from None
        _setup_logging(verbose)
        view = LiveView(enabled=sys.stderr.isatty() and not as_json)
        options = RunOptions(
            variables=variables,
            trigger=trigger,
            calendar=calendar,
            calendar_entry=entry,
            journal_root=journal_dir.absolute() if journal_dir else None,
            on_update=view.update,
        )
        from chaosrunner.core.storage import state_dir

        with view:
            result = run_experiment(exp, options)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "run_id": result.run_id,
                        "verdict": result.verdict.value,
                        "reason": result.reason,
                        "exit_code": result.exit_code,
                        "journal": str(result.journal_path) if result.journal_path else None,
                        "state_home": str(state_dir()),
                    }
                )
            )
        elif result.verdict == Verdict.INVALID:
            typer.echo(result.reason, err=True)
        else:
            typer.echo(f"{result.verdict.value}: {result.reason}")
            if result.journal_path:
                typer.echo(f"journal: {result.journal_path}")
        raise typer.Exit(result.exit_code)
