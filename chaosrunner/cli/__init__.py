"""The ``chaosrunner`` command line: thin — parse, call one engine function, print, exit.

Each command group lives in its own module with a ``register(app)`` function. Modules import only
typer at the top; engine modules (chaoslib, boto3, pandas via prometheus-api-client…) are imported
inside the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

# Rich help rendering costs ~0.5 s per invocation; plain click help keeps `--help` fast. The live
# view of a run still uses rich directly. Set TYPER_USE_RICH=1 to get typer's rich help back.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
import typer.core  # noqa: E402

from chaosrunner import __version__
from chaosrunner.cli.state import HOME_HELP
from chaosrunner.core.verdict import EXIT_CODES_HELP, ExitCode

COMMAND_MODULES = (
    "chaosrunner.cli.journal",
    "chaosrunner.cli.experiment",
    "chaosrunner.cli.schedule",
    "chaosrunner.cli.safety",
    "chaosrunner.cli.recover",
    "chaosrunner.cli.state",
    "chaosrunner.cli.sandbox",
    "chaosrunner.cli.init",
)

app = typer.Typer(
    name="chaosrunner",
    help="Error-budget aware chaos engineering on Chaos Toolkit.\n\n" + EXIT_CODES_HELP,
    epilog=EXIT_CODES_HELP + "\n\n" + HOME_HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chaosrunner {__version__}")
        raise typer.Exit()


@app.callback()
def _every_command(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Before any command: the config file is valid; state an older version left in ./.chaosrunner is
    reported, never forgotten."""
    # imported here, not at the top: `chaosrunner --help` must not pay for pydantic and YAML (start-up)
    from chaosrunner.core.config import LEGACY_STATE, config_file

    config_file()
    if Path(LEGACY_STATE).is_dir():
        from chaosrunner.safety.status import legacy_state  # only when the directory exists (start-up)

        found = legacy_state()
        if found is not None:
            typer.echo(f"warning: {found.describe()}", err=True)


METAVARS = {"var": "KEY[:TYPE]=VALUE", "since": "DATE|AGE", "until": "DATE|AGE", "tz": "ZONE"}


class _PlainArgument(typer.core.TyperArgument):
    """An argument shown as click and man pages show one: ``SOURCE``, ``[RUN_IDS]...`` — not ``{SOURCE}``
    with ``<str>`` beside it."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_values(cmd: Any) -> Any:
    """Help names each value after what it is (``--journal-dir JOURNAL_DIR``, ``--since DATE|AGE``, ``SOURCE``),
    not after its Python type (``<path>``, ``<list[str]>``, typer's default)."""
    import click

    for p in cmd.params:
        if isinstance(p, typer.core.TyperArgument):
            p.__class__ = _PlainArgument
            p.metavar = p.metavar or (p.name or "value").upper()
        elif isinstance(p, typer.core.TyperOption | click.Option) and p.metavar is None and not p.is_flag \
                and not p.count:
            p.metavar = METAVARS.get(p.name or "", (p.name or "value").upper())
    for sub in getattr(cmd, "commands", {}).values():
        _name_values(sub)
    return cmd


def main() -> None:
    try:
        _name_values(typer.main.get_command(app))(prog_name="chaosrunner")
    except Exception as e:
        from chaosrunner.core.validation import InvalidInput  # only on the error path (start-up)

        if not isinstance(e, InvalidInput):
            raise
        typer.echo(e.render(), err=True)  # bad input anywhere (a config file, a state file): file and key, exit 2
        raise SystemExit(int(ExitCode.INVALID_INPUT)) from None
