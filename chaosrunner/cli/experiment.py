"""`validate`, `plan`, `run`: one experiment at a time."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option
from chaosrunner.cli.state import HOME_HELP
from chaosrunner.core.verdict import EXIT_CODES_HELP, ExitCode, Verdict

NO_VALIDATION_REASON = (
    "chaosrunner always validates before it runs: the blast radius, the guard and the rollbacks are "
    "read from the validated experiment (run without this flag; `chaosrunner validate` shows the problems)"
)


def _fail_input(err: Exception, as_json: bool = False) -> click.exceptions.Exit:
    """Bad input: the message on stderr, exit 2; with ``--json`` also the run's result shape on stdout
    (verdict ``invalid``, no run id, no journal), so a script reading stdout always gets one object."""
    click.echo(str(err), err=True)
    if as_json:
        click.echo(json.dumps({"run_id": None, "verdict": Verdict.INVALID.value, "reason": str(err),
                               "exit_code": int(ExitCode.INVALID_INPUT), "journal": None}))
    return exit_with(int(ExitCode.INVALID_INPUT))


def parse_variables(pairs: Sequence[str], files: Sequence[Path]) -> dict[str, Any]:
    """The configuration values of ``--var`` (``k=v``, ``k:type=v``) over ``--var-file`` (YAML/JSON:
    flat, or Chaos Toolkit's ``{configuration, secrets}``; ``.env``: environment), read as
    :mod:`chaosrunner.experiment.variables` reads them. Raises InvalidInput naming the source."""
    from chaosrunner.experiment.variables import load_variables

    return load_variables(pairs, files).configuration


RUN_COMPAT_HELP = (
    "Chaos Toolkit's `chaos run` options are accepted with the same meaning (--journal-path, --dry, "
    "--rollback-strategy, --hypothesis-strategy/--hypothesis-frequency/--fail-fast, --control-file, "
    "--settings, --no-verify-tls, --log-file, --log-format, an http(s) URL as the experiment); "
    "differences are listed in docs/compatibility.md."
)


class _ChaoslibNoise:
    """Drops two chaoslib console lines that mislead under chaosrunner (``--verbose`` and ``--log-file``
    keep them): the warning that rollbacks were "explicitly requested" (chaosrunner always plays them) and
    "Experiment ended with status: …" (chaoslib's status, printed just before chaosrunner's verdict, which
    may differ: a process action that exited 1 is "completed" for chaoslib and "failed" here)."""

    NOISE = ("Rollbacks were explicitly requested to be played", "Experiment ended with status:")

    def filter(self, record: Any) -> bool:
        return not (record.name.startswith("chaostoolkit") and str(record.msg).startswith(self.NOISE))


def _setup_logging(verbose: bool, log_format: str = "string", log_file: Path | None = None) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [handler]
    if log_format == "json":
        from pythonjsonlogger import jsonlogger  # chaoslib's own JSON log formatter

        handler.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    if log_file is not None:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] [%(name)s] %(message)s"))
        handlers.append(to_file)
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        handler.addFilter(_ChaoslibNoise())
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG if verbose or log_file is not None else logging.INFO)
    logging.getLogger("chaostoolkit").setLevel(logging.DEBUG if verbose or log_file is not None else logging.INFO)
    for noisy in ("urllib3", "botocore", "boto3", "kubernetes", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def register(app: Group) -> None:
    @app.command()
    @click.argument("files", type=PATH, nargs=-1, required=True, help="experiment files (YAML or JSON)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable result")
    def validate(files: tuple[Path, ...], as_json: bool) -> None:
        """Validate experiments: Chaos Toolkit's schema plus the chaosrunner extension. Exit 2 on bad input.

        \b
        Example: chaosrunner validate experiments/sandbox/*.yaml --json
        """
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
                    click.echo(e.render(), err=True)
        if as_json:
            click.echo(json.dumps(results, indent=2))
        else:
            for r in results:
                if r["valid"]:
                    click.echo(f"{r['file']}: ok ({r['title']})")
        if not all(r["valid"] for r in results):
            raise exit_with(int(ExitCode.INVALID_INPUT))

    @app.command()
    @click.argument("file", type=PATH, required=True, help="experiment file")
    @option("--var", multiple=True, help="configuration override key=value (repeatable)")
    @option("--var-file", type=PATH, multiple=True, help="YAML/JSON file of configuration values")
    @option("--calendar", type=PATH, help="calendar file, to check the entry's window")
    @option("--entry", help="calendar entry name")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable plan")
    def plan(
        file: Path,
        var: tuple[str, ...],
        var_file: tuple[Path, ...],
        calendar: Path | None,
        entry: str | None,
        as_json: bool,
    ) -> None:
        """Dry run: the activities in order and the preflight verdict (targets, blast radius, budget,
        window). Injects nothing. Exit 0 when a run would be allowed, 4 when it would be refused.

        \b
        Example: chaosrunner plan experiments/sandbox/tue-latency.yaml --var latency_ms:int=50
        """
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
        click.echo(json.dumps(result, indent=2, default=str) if as_json else render_plan(result))
        if not result["preflight"]["allowed"]:
            raise exit_with(int(ExitCode.REFUSED))

    @app.command(epilog=EXIT_CODES_HELP + "\n\n" + RUN_COMPAT_HELP + "\n\n" + HOME_HELP)
    @click.argument("source", required=True, help="experiment file (YAML or JSON) or an http(s) URL")
    @option("--var", multiple=True, help="configuration value key=value or key:type=value (repeatable)")
    @option("--var-file", type=PATH, multiple=True,
        help="YAML/JSON file of configuration/secrets values, or a .env file (repeatable)")
    @option("--journal-dir", type=PATH, help="journal store ($CHAOSRUNNER_JOURNALS, ./journals)")
    @option("--trigger", default="cli", help="what started the run: cli, schedule or gameday")
    @option("--calendar", type=PATH, help="calendar file (scheduled runs): preflight checks the window")
    @option("--entry", help="calendar entry name (with --calendar)")
    @option("--json", "as_json", is_flag=True, default=False, help="print the result as JSON on stdout")
    @option("--verbose", "-v", is_flag=True, default=False, help="debug logging")
    @option("--journal-path", type=PATH,
        help="also write the journal here (chaos run's option; the store keeps its copy)")
    @option("--dry", help="probes, actions, activities or pause")
    @option("--no-validation", is_flag=True, default=False, help="refused: chaosrunner always validates")
    @option("--no-verify-tls", is_flag=True, default=False, help="do not verify TLS for an https SOURCE")
    @option("--rollback-strategy", help="accepted as chaos run does; rollbacks always run")
    @option("--control-file", type=PATH, multiple=True, help="file of global controls (repeatable)")
    @option("--hypothesis-strategy",
        help="default, before-method-only, after-method-only, during-method-only or continuously")
    @option("--hypothesis-frequency", type=float, default=1.0, help="seconds between two runs")
    @option("--fail-fast", is_flag=True, default=False, help="stop at the first deviation (continuous)")
    @option("--settings", type=PATH, help="Chaos Toolkit settings file (default ~/.chaostoolkit/settings.yaml)")
    @option("--log-file", type=PATH, help="also write the debug log to this file")
    @option("--log-format", default="string", help="console log format: string or json")
    def run(
        source: str,
        var: tuple[str, ...],
        var_file: tuple[Path, ...],
        journal_dir: Path | None,
        trigger: str,
        calendar: Path | None,
        entry: str | None,
        as_json: bool,
        verbose: bool,
        journal_path: Path | None,
        dry: str | None,
        no_validation: bool,
        no_verify_tls: bool,
        rollback_strategy: str | None,
        control_file: tuple[Path, ...],
        hypothesis_strategy: str | None,
        hypothesis_frequency: float,
        fail_fast: bool,
        settings: Path | None,
        log_file: Path | None,
        log_format: str,
    ) -> None:
        """Run one experiment: preflight, guarded method, rollbacks always, journal, verdict.

        \b
        Example: chaosrunner run experiments/sandbox/tue-latency.yaml --var latency_ms:int=20 --json
        """
        from chaosrunner.cli.live import LiveView
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.experiment.loader import check_substituted, load_experiment_source
        from chaosrunner.experiment.variables import load_variables
        from chaosrunner.journal.schema import TRIGGERS
        from chaosrunner.run.runner import run_experiment
        from chaosrunner.run.state import RunOptions
        from chaosrunner.run.toolkit import DRY_MODES, ROLLBACK_STRATEGIES, ToolkitOptions

        if trigger not in TRIGGERS:
            raise _fail_input(InvalidInput("--trigger", [("", f"must be one of {', '.join(TRIGGERS)}")]), as_json)
        if (calendar is None) != (entry is None):
            raise _fail_input(InvalidInput("--calendar/--entry", [("", "give both or neither")]), as_json)
        if no_validation:
            raise _fail_input(InvalidInput("--no-validation", [("", NO_VALIDATION_REASON)]), as_json)
        if dry is not None and dry not in DRY_MODES:
            raise _fail_input(InvalidInput("--dry", [("", f"must be one of {', '.join(DRY_MODES)}")]), as_json)
        if rollback_strategy is not None and rollback_strategy not in ROLLBACK_STRATEGIES:
            choices = ", ".join(ROLLBACK_STRATEGIES)
            raise _fail_input(InvalidInput("--rollback-strategy", [("", f"must be one of {choices}")]), as_json)
        if log_format not in ("string", "json"):
            raise _fail_input(InvalidInput("--log-format", [("", "must be string or json")]), as_json)
        for f in control_file:
            if not f.is_file():
                raise _fail_input(InvalidInput(f, [("", "no such control file")]), as_json)
        try:
            exp = load_experiment_source(source, verify_tls=not no_verify_tls)
            variables = load_variables(var, var_file)
            check_substituted(exp.doc, variables.configuration, exp.path)
        except InvalidInput as e:
            raise _fail_input(e, as_json) from None
        _setup_logging(verbose, log_format, log_file)
        view = LiveView(enabled=sys.stderr.isatty() and not as_json)
        options = RunOptions(
            variables=variables.configuration,
            secrets=variables.secrets,
            toolkit=ToolkitOptions(
                settings_path=settings,
                control_files=list(control_file),
                rollback_strategy=rollback_strategy,
                hypothesis_strategy=hypothesis_strategy,
                hypothesis_frequency=hypothesis_frequency,
                fail_fast=fail_fast,
                dry=dry,
            ),
            trigger=trigger,
            calendar=calendar,
            calendar_entry=entry,
            journal_root=journal_dir.absolute() if journal_dir else None,
            journal_copy=journal_path.absolute() if journal_path else None,
            on_update=view.update,
        )
        from chaosrunner.core.storage import state_dir

        with view:
            result = run_experiment(exp, options)
        if as_json:
            click.echo(
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
            click.echo(result.reason, err=True)
        else:
            click.echo(f"{result.verdict.value}: {result.reason}")
            if result.journal_path:
                click.echo(f"journal: {result.journal_path}")
        raise exit_with(result.exit_code)
